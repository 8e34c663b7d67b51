"""Span columns to Arrow: the drain side of the trace pipeline (ids formatted, queried
attributes lifted into typed columns, the rest as JSON text). Its own module so that the
producer side (``tracing``), which every process imports at start — the gateway, the hook's
neighbours — loads neither pyarrow nor NumPy until a batch is actually written."""

from __future__ import annotations

import math
import sys
from collections.abc import Iterator
from itertools import repeat
from typing import TYPE_CHECKING, Any

import msgspec
import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.json as pj
from opentelemetry.trace import SpanKind, StatusCode

from .span_json import JSON, encode_text, utf8_clean
from .spool import LIFTED, SPAN_COLUMNS

if TYPE_CHECKING:
    from .tracing import SpanColumns

_INT = {"start_ns", "end_ns", "input_tokens", "output_tokens"}
SPAN_SCHEMA = pa.schema(
    [(c, pa.int64() if c in _INT else pa.float64() if c == "cost" else pa.string()) for c in SPAN_COLUMNS]
)
"""The lake's ``spans`` table as Arrow (``attributes`` is JSON text)."""


def _array(values: list[Any], type_: pa.DataType) -> pa.Array:
    """``values`` as an Arrow array of ``type_``, each value through ``_coerced`` when one does
    not fit it as it is: a lifted column is a queryable copy, the span's attributes JSON keeps
    the value as it was."""
    try:
        arr = pa.array(values, type=type_)
    except (pa.ArrowInvalid, pa.ArrowTypeError, OverflowError):
        return pa.array([_coerced(v, type_) for v in values], type_)
    return _finite(arr)


_DOUBLE_MAX = sys.float_info.max


def _coerced(value: Any, type_: pa.DataType) -> Any:
    """A value in a column of another type: in a text column, its JSON text; in a numeric one, a
    number that the column holds exactly (3.0 in an integer column is 3) — anything else (text,
    a flag, 3.7 or an int beyond 64 bits in an integer column, a NaN or infinity) is null."""
    if value is None or type_ == pa.string():
        return value if value is None or isinstance(value, str) else encode_text(value)
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if type_ == pa.float64():
        return float(value) if abs(value) <= _DOUBLE_MAX else None
    if isinstance(value, float) and not value.is_integer():
        return None
    n = int(value)
    return n if -(2**63) <= n < 2**63 else None


def _finite(arr: pa.Array) -> pa.Array:
    """A float column without NaN or infinity (null instead, as in the JSON: a cost parsed from
    an int beyond a double's range reads as infinity)."""
    if not pa.types.is_floating(arr.type) or pc.all(pc.is_finite(arr)).as_py() is not False:
        return arr
    return pc.if_else(pc.is_finite(arr), arr, pa.scalar(None, arr.type))


def rows_to_arrow(rows: list[dict[str, Any]]) -> pa.Table:
    """``spans`` rows (the spool's, a caller's dicts) as an Arrow table of ``SPAN_SCHEMA``; text
    that is not UTF-8 is escaped (``span_json.utf8_clean``)."""
    try:
        return _rows_to_arrow(rows)
    except UnicodeEncodeError:
        return _rows_to_arrow([utf8_clean(r) for r in rows])


def _rows_to_arrow(rows: list[dict[str, Any]]) -> pa.Table:
    arrays = []
    for field in SPAN_SCHEMA:
        values = [r.get(field.name) for r in rows]
        if field.name == "attributes":
            values = [v if v is None or isinstance(v, str) else encode_text(v) for v in values]
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


_LIFTED_SCHEMA = pa.schema([(attr, SPAN_SCHEMA.field(column).type) for column, attr in LIFTED.items()])


def attributes_json(attrs: list[dict[str, Any]]) -> tuple[pa.Array, bytes]:
    """Each span's attributes as a JSON object (text), and the newline-delimited JSON they were
    cut from. The encoding is one ``msgspec`` call over the batch (the only per-span work that
    holds the GIL: ~0.3 µs a span); the objects are cut out of its buffer by NumPy (an encoded
    newline is escaped, so a raw one ends an object). JSON has no NaN or infinity: such a float
    is ``null``."""
    data = JSON.encode_lines(attrs)
    raw = np.frombuffer(data, np.uint8)
    offsets = np.zeros(len(attrs) + 1, np.int64)
    offsets[1:] = np.flatnonzero(raw == 0x0A) + 1
    lines = pa.Array.from_buffers(
        pa.large_string(), len(attrs), [None, pa.py_buffer(offsets), pa.py_buffer(data)]
    )
    return pc.utf8_slice_codeunits(lines, 0, -1).cast(pa.string()), data


def lifted_columns(
    ndjson: bytes | pa.Buffer, attrs: list[dict[str, Any]] | None = None
) -> dict[str, pa.Array]:
    """The queried attributes (``LIFTED``) as typed columns, parsed out of the batch's
    newline-delimited JSON by Arrow's reader (C++, the GIL released, the other keys skipped);
    when a value does not have its column's type (a tenant given as a number, tokens as a
    float), from the mappings (``attrs``, or the JSON decoded again when the caller holds none)."""
    if ndjson:
        try:
            table = pj.read_json(
                pa.BufferReader(ndjson),
                read_options=pj.ReadOptions(use_threads=False, block_size=min(len(ndjson), 2**31 - 1)),
                parse_options=pj.ParseOptions(
                    explicit_schema=_LIFTED_SCHEMA, unexpected_field_behavior="ignore"
                ),
            )
            return {column: _finite(table.column(attr).combine_chunks()) for column, attr in LIFTED.items()}
        except pa.ArrowException:
            pass
    if attrs is None:
        attrs = _DECODE.decode_lines(ndjson)
    return {
        column: _array([a.get(attr) for a in attrs], SPAN_SCHEMA.field(column).type)
        for column, attr in LIFTED.items()
    }


_DECODE = msgspec.json.Decoder(dict[str, Any])


def _names(values: list[Any], names: dict[Any, str]) -> pa.Array:
    """Enum members (span kinds, status codes) as their names. A batch is mostly one member:
    ``list.count`` checks that in C (identity first), and the column is that name repeated;
    else one dict lookup per span (an enum's hash is Python code)."""
    if values and values.count(values[0]) == len(values):
        return pa.array([names[values[0]]] * len(values), pa.string())
    return pa.array(list(map(names.__getitem__, values)), pa.string())


def columns_to_arrow(cols: SpanColumns) -> pa.Table:
    """Span column buffers as one Arrow table of ``SPAN_SCHEMA``: ids and enums vectorised, the
    attributes encoded once (``attributes_json``) and the lifted columns parsed back out of that
    encoding, so no Python loop runs per span. A batch holding text that is not UTF-8 is built
    again with such text escaped (``span_json.utf8_clean``)."""
    try:
        return _columns_to_arrow(cols.name, cols.attrs, cols)
    except UnicodeEncodeError:
        return _columns_to_arrow(utf8_clean(cols.name), utf8_clean(cols.attrs), cols)


def _columns_to_arrow(names: list[str], attrs: list[dict[str, Any]], cols: SpanColumns) -> pa.Table:
    attributes, ndjson = attributes_json(attrs)
    columns: dict[str, pa.Array] = {
        "trace_id": _hex_ids(cols.trace, 16),
        "span_id": _hex_ids(cols.span, 8),
        "parent_id": _hex_ids(cols.parent, 8),
        "name": pa.array(names, pa.string()),
        "kind": _names(cols.kind, _KIND),
        "start_ns": pa.array(cols.start, pa.int64()),
        "end_ns": pa.array(cols.end, pa.int64()),
        "status": _names(cols.status, _STATUS),
        "attributes": attributes,
        **lifted_columns(ndjson, attrs),
    }
    return pa.Table.from_arrays([columns[f.name] for f in SPAN_SCHEMA], schema=SPAN_SCHEMA)


_KIND_NAMES = pa.array(list(_KIND.values()), pa.string())
_STATUS_NAMES = pa.array(list(_STATUS.values()), pa.string())
"""The names the native buffer's kind and status indices take: its members in enum order, as
``tracing`` hands them to ``_spanbuf.configure``."""


def native_to_arrow(taken: tuple[Any, ...]) -> pa.Table:
    """The native span buffer's columns (``_spanbuf.SpanBuffer.take``) as one Arrow table of
    ``SPAN_SCHEMA``."""
    if taken[0] == 0:
        return SPAN_SCHEMA.empty_table()
    return next(native_batches(taken, taken[0]))


def native_batches(taken: tuple[Any, ...], size: int) -> Iterator[pa.Table]:
    """The native span buffer's columns as Arrow tables of at most ``size`` rows. Every array is
    laid over the buffers ``add`` filled on the producer's thread (no copy, no per-span Python);
    each batch's attributes are cut into one JSON text per span and its lifted columns parsed
    out of its own stretch of the JSON (``lifted_columns``) when the batch is asked for, so the
    drain commits one batch while it builds the next."""
    (n, trace, span, parent, parent_ok, name_off, name, kind, start, start_ok) = taken[:10]
    (end, end_ok, status, attr_off, attrs) = taken[10:]
    buf = pa.py_buffer

    def hex_ids(data: bytes, width: int, validity: bytes | None = None) -> pa.Array:
        offsets = np.arange(0, (n + 1) * width, width, dtype=np.int32)
        return pa.Array.from_buffers(
            pa.string(), n, [None if validity is None else buf(validity), buf(offsets), buf(data)]
        )

    def text(offsets: bytes, data: bytes) -> pa.Array:
        return pa.Array.from_buffers(pa.large_string(), n, [None, buf(offsets), buf(data)])

    def int64(data: bytes, validity: bytes) -> pa.Array:
        return pa.Array.from_buffers(pa.int64(), n, [buf(validity), buf(data)])

    def names(indices: bytes, dictionary: pa.Array) -> pa.Array:
        return dictionary.take(pa.Array.from_buffers(pa.uint8(), n, [None, buf(indices)]))

    whole: dict[str, pa.Array] = {
        "trace_id": hex_ids(trace, 32),
        "span_id": hex_ids(span, 16),
        "parent_id": hex_ids(parent, 16, parent_ok),
        "name": text(name_off, name).cast(pa.string()),
        "kind": names(kind, _KIND_NAMES),
        "start_ns": int64(start, start_ok),
        "end_ns": int64(end, end_ok),
        "status": names(status, _STATUS_NAMES),
    }
    objects, json_at, ndjson = text(attr_off, attrs), np.frombuffer(attr_off, np.int64), buf(attrs)
    for lo in range(0, n, size):
        rows = min(size, n - lo)
        columns = {column: array.slice(lo, rows) for column, array in whole.items()}
        columns["attributes"] = pc.utf8_slice_codeunits(objects.slice(lo, rows), 0, -1).cast(pa.string())
        first, last = int(json_at[lo]), int(json_at[lo + rows])
        columns |= lifted_columns(ndjson.slice(first, last - first))
        yield pa.Table.from_arrays([columns[f.name] for f in SPAN_SCHEMA], schema=SPAN_SCHEMA)
