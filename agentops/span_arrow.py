"""Span columns to Arrow: the drain side of the trace pipeline (ids formatted, queried
attributes lifted into typed columns, the rest as JSON text). Its own module so that the
producer side (``tracing``), which every process imports at start — the gateway, the hook's
neighbours — loads neither pyarrow nor NumPy until a batch is actually written."""

from __future__ import annotations

import json
import re
from typing import TYPE_CHECKING, Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
from opentelemetry.trace import SpanKind, StatusCode

from .spool import LIFTED, SPAN_COLUMNS

if TYPE_CHECKING:
    from .tracing import SpanColumns

_INT = {"start_ns", "end_ns", "input_tokens", "output_tokens"}
SPAN_SCHEMA = pa.schema(
    [(c, pa.int64() if c in _INT else pa.float64() if c == "cost" else pa.string()) for c in SPAN_COLUMNS]
)
"""The lake's ``spans`` table as Arrow (``attributes`` is JSON text)."""

_encode = json.JSONEncoder(separators=(",", ":"), default=str).encode


def _array(values: list[Any], type_: pa.DataType) -> pa.Array:
    try:
        return pa.array(values, type=type_)
    except (pa.ArrowInvalid, pa.ArrowTypeError):  # an attribute of an unexpected type
        if type_ == pa.string():
            return pa.array([v if v is None or isinstance(v, str) else _encode(v) for v in values], type_)
        if type_ == pa.float64():
            return pa.array([None if v is None else float(v) for v in values], type_)
        return pa.array([None if v is None else int(v) for v in values], type_)


def rows_to_arrow(rows: list[dict[str, Any]]) -> pa.Table:
    """``spans`` rows (the spool's, a caller's dicts) as an Arrow table of ``SPAN_SCHEMA``."""
    arrays = []
    for field in SPAN_SCHEMA:
        values = [r.get(field.name) for r in rows]
        if field.name == "attributes":
            values = [v if v is None or isinstance(v, str) else _encode(v) for v in values]
        arrays.append(_array(values, field.type))
    return pa.Table.from_arrays(arrays, schema=SPAN_SCHEMA)


_KIND = {k: k.name.lower() for k in SpanKind}
_STATUS = {s: s.name.lower() for s in StatusCode}


def _hex_ids(ids: list[int | None], size: int) -> pa.Array:
    """Ids as lowercase hex text, vectorised: the ints become one byte string, hex-encoded in
    one call, and the Arrow string array is laid over it (fixed offsets; ``None`` is null)."""
    n = len(ids)
    nulls = [i is None for i in ids]
    raw = b"".join((i or 0).to_bytes(size, "big") for i in ids)
    data = pa.py_buffer(raw.hex().encode())
    offsets = pa.py_buffer(np.arange(0, (n + 1) * 2 * size, 2 * size, dtype=np.int32).tobytes())
    validity = None
    if any(nulls):
        validity = pa.py_buffer(np.packbits(~np.array(nulls), bitorder="little").tobytes())
    return pa.Array.from_buffers(pa.string(), n, [validity, offsets, data])


_CONTROL = re.compile(rb"[\x00-\x1f]")


def _json_values(values: list[Any]) -> pa.Array:
    """One attribute's values (one key, many spans) as JSON text, vectorised where the type
    allows: strings are escaped by Arrow compute, numbers and booleans cast; anything else
    (sequences, a string holding control characters, mixed types, an int beyond 64 bits) is
    encoded value by value."""
    first = type(values[0])
    if all(type(v) is first for v in values):
        try:
            if (out := _json_typed(first, values)) is not None:
                return out
        except (pa.ArrowException, OverflowError):
            pass
    return pa.array([_encode(v) for v in values], pa.string())


def _json_typed(first: type, values: list[Any]) -> pa.Array | None:
    if first is str:
        arr = pa.array(values, pa.string())
        data = arr.buffers()[2]
        raw = data.to_pybytes() if data is not None else b""
        if _CONTROL.search(raw):
            return None
        if b"\\" in raw:
            arr = pc.replace_substring(arr, "\\", "\\\\")
        if b'"' in raw:
            arr = pc.replace_substring(arr, '"', '\\"')
        return pc.binary_join_element_wise('"', arr, '"', "")
    if first is bool:
        return pc.cast(pa.array(values, pa.bool_()), pa.string())
    if first is int:
        return pc.cast(pa.array(values, pa.int64()), pa.string())
    if first is float:
        arr = pa.array(values, pa.float64())
        if pc.all(pc.is_finite(arr)).as_py():
            return pc.cast(arr, pa.string())
    return None


def json_column(attrs: list[dict[str, Any]]) -> pa.Array:
    """Each span's attributes as a JSON object, built column-wise: spans with the same keys
    (in the same order) are encoded together, one Arrow compute pass per key — the per-span
    ``json.dumps`` this replaces cost more than the lake's insert of the whole row."""
    groups: dict[tuple[str, ...], list[int]] = {}
    for i, a in enumerate(attrs):
        groups.setdefault(tuple(a), []).append(i)
    parts: list[pa.Array] = []
    order: list[int] = []
    for keys, idx in groups.items():
        order.extend(idx)
        if not keys:
            parts.append(pa.array(["{}"] * len(idx), pa.string()))
            continue
        columns = zip(*[tuple(attrs[i].values()) for i in idx], strict=True)
        pieces: list[Any] = []
        for n, (key, values) in enumerate(zip(keys, columns, strict=True)):
            pieces.append(("{" if n == 0 else ",") + _encode(key) + ":")
            pieces.append(_json_values(list(values)))
        pieces.append("}")
        parts.append(pc.binary_join_element_wise(*pieces, ""))
    if len(parts) == 1:
        return parts[0]
    joined = pa.concat_arrays(parts)
    return joined.take(np.argsort(np.array(order, dtype=np.int64), kind="stable"))


def columns_to_arrow(cols: SpanColumns) -> pa.Table:
    """Span column buffers as one Arrow table of ``SPAN_SCHEMA``."""
    attrs = cols.attrs
    columns: dict[str, pa.Array] = {
        "trace_id": _hex_ids(cols.trace, 16),
        "span_id": _hex_ids(cols.span, 8),
        "parent_id": _hex_ids(cols.parent, 8),
        "name": pa.array(cols.name, pa.string()),
        "kind": pa.array([_KIND[k] for k in cols.kind], pa.string()),
        "start_ns": pa.array(cols.start, pa.int64()),
        "end_ns": pa.array(cols.end, pa.int64()),
        "status": pa.array([_STATUS[s] for s in cols.status], pa.string()),
    }
    for column, attr in LIFTED.items():
        columns[column] = _array([a.get(attr) for a in attrs], SPAN_SCHEMA.field(column).type)
    try:
        columns["attributes"] = json_column(attrs)
    except (pa.ArrowException, OverflowError):  # e.g. an int beyond 64 bits
        columns["attributes"] = pa.array([_encode(a) for a in attrs], pa.string())
    return pa.Table.from_arrays([columns[f.name] for f in SPAN_SCHEMA], schema=SPAN_SCHEMA)
