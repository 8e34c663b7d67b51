"""The JSON of span attributes: one encoder for the drain (``span_arrow``) and for the native
span buffer's rare mappings (``_spanbuf``). Its own module, with msgspec its only import: the
native buffer reaches it from the producer's thread, which must not pay for pyarrow."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import msgspec


def _json_value(value: Any) -> Any:
    """What msgspec cannot encode as it is: a float or int subclass (a NumPy float passes as an
    OpenTelemetry attribute) as the number, any other mapping as a dict, the rest as its text."""
    if isinstance(value, float):
        return float(value)
    if isinstance(value, int):
        return int(value)
    if isinstance(value, Mapping):
        return dict(value)
    return str(value)


JSON = msgspec.json.Encoder(enc_hook=_json_value)
"""The one JSON encoder of the lake's span rows (compact; a NaN or infinity, which JSON lacks,
as ``null``)."""


def encode_text(value: Any) -> str:
    return JSON.encode(value).decode()


def utf8_clean(value: Any) -> Any:
    """``value`` with every string in it valid UTF-8: a lone surrogate (a file name read with
    ``surrogateescape``, say) becomes its ``\\udXXX`` escape — Arrow and msgspec refuse such text,
    and one span holding it must not cost its batch."""
    if isinstance(value, str):
        return value.encode("utf-8", "backslashreplace").decode("utf-8")
    if isinstance(value, tuple | list):
        return type(value)(map(utf8_clean, value))
    if isinstance(value, Mapping):
        return {utf8_clean(k): utf8_clean(v) for k, v in value.items()}
    return value


def encode_attributes(attrs: Mapping[str, Any]) -> bytes:
    """One span's attributes as one JSON object (the native buffer's fallback: a mapping whose
    values its own encoder does not write)."""
    attrs = attrs if isinstance(attrs, dict) else dict(attrs)
    try:
        return JSON.encode(attrs)
    except UnicodeEncodeError:
        return JSON.encode(utf8_clean(attrs))
