"""Span columns to Arrow: the drain side of the trace pipeline (ids formatted, queried
attributes lifted into typed columns, the rest as JSON text). Its own module so that the
producer side (``tracing``), which every process imports at start — the gateway, the hook's
neighbours — loads neither pyarrow nor NumPy until a batch is actually written."""

from __future__ import annotations

import json
from itertools import repeat
from operator import methodcaller
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
    """Ids as lowercase hex text, vectorised: the ints become one byte string (64-bit ids
    through Arrow and NumPy, 128-bit ones through ``int.to_bytes`` mapped in C), hex-encoded in
    one call, and the Arrow string array is laid over it (fixed offsets; ``None`` is null)."""
    n = len(ids)
    validity = None
    if size == 8:
        arr = pa.array(ids, pa.uint64())
        if arr.null_count:
            validity = arr.buffers()[0]
            arr = arr.fill_null(0)
        raw = arr.to_numpy().astype(">u8").tobytes()
    else:
        if None in ids:
            nulls = np.array([i is None for i in ids])
            validity = pa.py_buffer(np.packbits(~nulls, bitorder="little").tobytes())
            ids = [i or 0 for i in ids]
        raw = b"".join(map(int.to_bytes, ids, repeat(size), repeat("big")))
    data = pa.py_buffer(raw.hex().encode())
    offsets = pa.py_buffer(np.arange(0, (n + 1) * 2 * size, 2 * size, dtype=np.int32).tobytes())
    return pa.Array.from_buffers(pa.string(), n, [validity, offsets, data])


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
        quoted = _escaped(pa.array(values, pa.string()))
        return None if quoted is None else pc.binary_join_element_wise('"', quoted, '"', "")
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


def _field_piece(prefix: str, values: pa.Array) -> pa.Array:
    """``prefix`` + one attribute's JSON text (a struct field: one key, many spans; null where
    a span lacks the key), by Arrow compute where the type allows (the GIL is released
    meanwhile); other types (sequences, non-finite floats, strings holding control characters)
    are encoded value by value."""
    t = values.type
    try:
        if pa.types.is_string(t) and (quoted := _escaped(values)) is not None:
            return pc.binary_join_element_wise(prefix + '"', quoted, '"', "")
        if pa.types.is_boolean(t) or pa.types.is_integer(t):
            return pc.binary_join_element_wise(prefix, pc.cast(values, pa.string()), "")
        if pa.types.is_floating(t) and pc.all(pc.is_finite(values)).as_py() is not False:
            return pc.binary_join_element_wise(prefix, pc.cast(values, pa.string()), "")
    except pa.ArrowException:
        pass
    encoded = pa.array([None if v is None else _encode(v) for v in values.to_pylist()], pa.string())
    return pc.binary_join_element_wise(prefix, encoded, "")


def _escaped(arr: pa.Array) -> pa.Array | None:
    """Strings escaped for JSON by Arrow compute (backslash, quote); ``None`` when one holds a
    control character (those need ``json``'s escapes). The checks read the UTF-8 bytes in place
    with NumPy (a byte below 0x20 is a control character: no multi-byte sequence holds one); an
    array sliced from a larger buffer is checked whole, which can only send it the slow way."""
    data = arr.buffers()[2]
    if data is None:
        return arr
    raw = np.frombuffer(data, np.uint8)
    if (raw < 0x20).any():
        return None
    if (raw == 0x5C).any():
        arr = pc.replace_substring(arr, "\\", "\\\\")
    if (raw == 0x22).any():
        arr = pc.replace_substring(arr, '"', '\\"')
    return arr


def struct_json(attrs: pa.StructArray) -> pa.Array:
    """Each row of a struct array (the spans' attributes, one field per key) as a JSON object
    of its non-null fields, all in Arrow compute: per key a ``,"key":value`` piece (null where
    the span lacks the key), the pieces joined with nulls as empty text, braces around (the
    first piece opens with the brace when every span has that key, else the leading comma is
    cut)."""
    n = len(attrs)
    if attrs.type.num_fields == 0:
        return pa.array(["{}"] * n, pa.string())
    opens = attrs.field(0).null_count == 0
    pieces = [
        _field_piece(("{" if i == 0 and opens else ",") + _encode(field.name) + ":", attrs.field(i))
        for i, field in enumerate(attrs.type)
    ]
    if opens:
        return pc.binary_join_element_wise(*pieces, "}", "", null_handling="replace", null_replacement="")
    body = pc.binary_join_element_wise(*pieces, "", null_handling="replace", null_replacement="")
    return pc.binary_join_element_wise("{", pc.utf8_slice_codeunits(body, 1), "}", "")


_PY_TYPE = {pa.int64(): int, pa.float64(): float, pa.bool_(): bool}
_known: dict[str, pa.StructType] = {}
"""The last batch's attribute struct type (``"type"``): the next batch converts against it
(half the cost of inferring one) when it fits exactly."""


def attrs_struct(attrs: list[dict[str, Any]]) -> pa.StructArray | None:
    """The attribute dicts as one struct array (one field per key; Arrow converts in C), or
    ``None`` when a key's values do not share a type (then per-key-set JSON). The last batch's
    type is tried first; either way the struct is kept only if it holds the values exactly
    (``_exact``)."""
    known = _known.get("type")
    if known is not None:
        try:
            arr = pa.array(attrs, type=known)
        except (pa.ArrowException, OverflowError, TypeError, ValueError):
            pass
        else:
            if _exact(arr, attrs, inferred=False):
                return arr
    try:
        arr = pa.array(attrs)
    except (pa.ArrowException, OverflowError, TypeError, ValueError):
        return None
    if not pa.types.is_struct(arr.type) or not _exact(arr, attrs, inferred=True):
        return None
    _known["type"] = arr.type
    return arr


def _exact(arr: pa.StructArray, attrs: list[dict[str, Any]], inferred: bool) -> bool:
    """Whether the struct holds the dicts' values as they are: no key dropped and no ``None``
    (as many values as the dicts hold: a null field reads as an absent key), and, against a
    cached type, every non-string field's values of the field's own Python type (Arrow converts
    silently otherwise: 0.5 into 0 in an int64 field, ``True`` into 1.0; a sequence field is
    never reused). An inferred type is the values' own: Arrow refuses what it cannot hold, and
    ints beside floats become doubles that cast back to the same JSON text (3, not 3.0)."""
    n = len(arr)
    held = sum(n - arr.field(i).null_count for i in range(arr.type.num_fields))
    if held != sum(map(len, attrs)):
        return False
    if inferred:
        return True
    for field in arr.type:
        if pa.types.is_string(field.type):
            continue  # a non-string value in a string field fails the conversion
        want = _PY_TYPE.get(field.type)
        if want is None:
            return False
        got = set(map(type, map(methodcaller("get", field.name), attrs)))
        got.discard(type(None))
        if got - {want}:
            return False
    return True


def _lifted(attrs: pa.StructArray, attr: str, type_: pa.DataType) -> pa.Array:
    idx = attrs.type.get_field_index(attr)
    if idx < 0:
        return pa.nulls(len(attrs), type_)
    values = attrs.field(idx)
    if values.type == type_:
        return values
    try:
        return pc.cast(values, type_)
    except pa.ArrowException:
        return _array(values.to_pylist(), type_)


def _names(values: list[Any], names: dict[Any, str]) -> pa.Array:
    """Enum members (span kinds, status codes) as their names. A batch is mostly one member:
    ``list.count`` checks that in C (identity first), and the column is that name repeated;
    else one dict lookup per span (an enum's hash is Python code)."""
    if values and values.count(values[0]) == len(values):
        return pa.array([names[values[0]]] * len(values), pa.string())
    return pa.array(list(map(names.__getitem__, values)), pa.string())


def columns_to_arrow(cols: SpanColumns) -> pa.Table:
    """Span column buffers as one Arrow table of ``SPAN_SCHEMA``. The attributes go through
    Arrow once (``attrs_struct``): the lifted columns are its fields and the JSON text is built
    from it by Arrow compute, so no Python loop runs per span beyond that conversion."""
    attrs = cols.attrs
    columns: dict[str, pa.Array] = {
        "trace_id": _hex_ids(cols.trace, 16),
        "span_id": _hex_ids(cols.span, 8),
        "parent_id": _hex_ids(cols.parent, 8),
        "name": pa.array(cols.name, pa.string()),
        "kind": _names(cols.kind, _KIND),
        "start_ns": pa.array(cols.start, pa.int64()),
        "end_ns": pa.array(cols.end, pa.int64()),
        "status": _names(cols.status, _STATUS),
    }
    struct = attrs_struct(attrs)
    if struct is not None:
        for column, attr in LIFTED.items():
            columns[column] = _lifted(struct, attr, SPAN_SCHEMA.field(column).type)
        columns["attributes"] = struct_json(struct)
    else:
        for column, attr in LIFTED.items():
            columns[column] = _array([a.get(attr) for a in attrs], SPAN_SCHEMA.field(column).type)
        try:
            columns["attributes"] = json_column(attrs)
        except (pa.ArrowException, OverflowError):  # e.g. an int beyond 64 bits
            columns["attributes"] = pa.array([_encode(a) for a in attrs], pa.string())
    return pa.Table.from_arrays([columns[f.name] for f in SPAN_SCHEMA], schema=SPAN_SCHEMA)
