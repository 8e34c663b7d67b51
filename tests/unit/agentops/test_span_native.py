"""The native span buffer (``agentops/_spanbuf.c``) against the Python columns: the same rows
for the same spans, whatever the attributes hold, and a span it refuses leaves no row."""

from __future__ import annotations

import json
import math
from collections.abc import Iterator, Mapping
from pathlib import Path
from types import MappingProxyType
from typing import Any

import numpy as np
import pyarrow as pa
import pytest
from opentelemetry.sdk.trace import ReadableSpan, SpanProcessor, TracerProvider
from opentelemetry.trace import SpanContext, SpanKind, Status, StatusCode

from auraison.agentops import tracing
from auraison.agentops.span_arrow import SPAN_SCHEMA
from auraison.agentops.tracing import SpanColumns


def test_the_native_buffer_is_built_and_is_the_processors_default() -> None:
    """``make install`` compiles it (setup.py); where no compiler is found the install goes on
    with the Python columns, and this test is the one that says so."""
    assert tracing._spanbuf is not None, "agentops/_spanbuf.c was not built: is a C compiler installed?"
    assert tracing.COLUMNS is tracing.NativeSpanColumns


class Both(SpanProcessor):
    def __init__(self) -> None:
        self.py, self.c = SpanColumns(), tracing.NativeSpanColumns()

    def on_end(self, span: ReadableSpan) -> None:
        assert self.py.add(span) == self.c.add(span)


def _finite(value: Any) -> Any:
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, list):
        return [_finite(v) for v in value]
    return value


def assert_same(py: pa.Table, c: pa.Table) -> None:
    """Every column equal; the attributes as the JSON they parse to (the two encoders may
    spell a float differently: ``1e-05`` against ``0.00001``)."""
    assert py.schema == c.schema == SPAN_SCHEMA and py.num_rows == c.num_rows
    for name in SPAN_SCHEMA.names:
        if name == "attributes":
            got = [json.loads(a) for a in c.column(name).to_pylist()]
            assert [json.loads(a) for a in py.column(name).to_pylist()] == got
        else:
            assert c.column(name).equals(py.column(name)), name


VALUES: list[Any] = [
    "plain",
    'quote " backslash \\ tab \t newline \n nul \x00 unit \x1f del \x7f',
    "ünïcode € \u2028 𝄞",
    "lone \udce9 surrogate",
    "",
    0,
    -1,
    2**63 - 1,
    -(2**63),
    2**63,
    2**70,
    0.1,
    1e-05,
    -0.0,
    1e300,
    float("nan"),
    float("-inf"),
    True,
    False,
    ("a", "b\n"),
    (1, 2, 3),
    (1.5, float("nan")),
    (True, False),
    (),
    np.float64(2.5),  # a float subclass: the whole mapping goes to the Python encoder
]


def test_native_and_python_make_the_same_table_for_every_kind_of_attribute() -> None:
    """Spans of every kind and status, roots and children across several bitmap bytes, each
    attribute type OpenTelemetry lets through, the lifted columns typed and mistyped."""
    both = Both()
    provider = TracerProvider()
    provider.add_span_processor(both)
    tracer = provider.get_tracer("t")
    kinds = list(SpanKind)
    with tracer.start_as_current_span("root \udcff", kind=SpanKind.SERVER) as root:
        root.set_attribute("gen_ai.usage.input_tokens", 3.0)  # mistyped: the per-dict path
        for i, value in enumerate(VALUES):
            attrs = {"v": value, "auraison.tenant": "acme" if i % 3 else 7, "gen_ai.tool.name": f"t{i}"}
            if i % 5 == 0:
                attrs["auraison.cost"] = i / 4
            kind = kinds[i % len(kinds)]
            with tracer.start_as_current_span(f"child {i}", kind=kind, attributes=attrs) as span:
                if i % 4 == 1:
                    span.set_status(Status(StatusCode.ERROR, "no"))
                elif i % 4 == 2:
                    span.set_status(Status(StatusCode.OK))
    for i in range(11):  # more roots: the parent bitmap's later bytes hold nulls too
        with tracer.start_as_current_span(f"root {i}", attributes={"gen_ai.agent.name": "nav"}):
            pass
    py, c = both.py.to_arrow(), both.c.to_arrow()
    assert c.num_rows == len(VALUES) + 12
    assert_same(py, c)
    got = [json.loads(a)["v"] for a in c.column("attributes").to_pylist()[: len(VALUES)]]
    want = [_finite(list(v) if isinstance(v, tuple) else v) for v in VALUES]
    want[3] = "lone \\udce9 surrogate"  # escaped, as the Python path escapes it
    assert got == [float(w) if isinstance(w, np.floating) else w for w in want]
    assert c.column("parent_id").null_count == 12


def _span(i: int, **over: Any) -> ReadableSpan:
    fields: dict[str, Any] = {
        "name": f"hand {i}",
        "context": SpanContext(trace_id=2**127 + i, span_id=2**63 + i, is_remote=False),
        "parent": SpanContext(trace_id=2**127 + i, span_id=i + 1, is_remote=False) if i % 2 else None,
        "attributes": {"n": i},
        "kind": SpanKind.INTERNAL,
        "status": Status(StatusCode.UNSET),
        "start_time": 1_000 + i,
        "end_time": 2_000 + i,
    }
    fields.update(over)
    return ReadableSpan(**fields)


def test_hand_built_spans_no_times_no_attributes_and_other_mappings() -> None:
    """A span built by hand (a replayed record, a test) may hold no times, no attributes, a
    plain dict or another mapping: both buffers make the same row of each."""
    spans = [
        _span(0),
        _span(1, start_time=None, end_time=None),
        _span(2, attributes=None),
        _span(3, attributes=MappingProxyType({"m": "proxy", "auraison.tenant": "acme"})),
        _span(4, attributes={"nested": {"a": 1}}),  # not an OpenTelemetry value: the Python encoder
        _span(5, attributes={1: "an int key"}),
        _span(6, end_time=None),
        _span(7, context=SpanContext(trace_id=1, span_id=1, is_remote=False)),
        _span(8, start_time=-5),
    ]
    both = Both()
    for span in spans:
        both.on_end(span)
    py, c = both.py.to_arrow(), both.c.to_arrow()
    assert_same(py, c)
    assert c.column("start_ns").to_pylist()[:2] == [1_000, None]
    assert c.column("end_ns").null_count == 2
    assert c.column("trace_id")[7].as_py() == "0" * 31 + "1"
    assert json.loads(c.column("attributes")[2].as_py()) == {}


class Unreadable(Mapping[str, Any]):
    def __getitem__(self, key: str) -> Any:
        raise RuntimeError("unreadable")

    def __iter__(self) -> Iterator[str]:
        raise RuntimeError("unreadable")

    def __len__(self) -> int:
        return 1


def test_a_span_the_buffer_refuses_leaves_no_row_behind() -> None:
    """A span that fails half-way (an unknown kind, an id that is not an int, an encoder that
    raises) raises at ``add``, and every column is as it was: the rows around it are intact."""
    c, py = tracing.NativeSpanColumns(), SpanColumns()
    good = [_span(i) for i in range(13)]
    for span in good[:9]:  # into the second byte of each validity bitmap
        c.add(span)
        py.add(span)
    with pytest.raises(ValueError, match="unknown span kind"):
        c.add(_span(20, kind="sideways"))
    with pytest.raises(TypeError, match="span id must be an int"):
        c.add(_span(21, context=(1, "x")))
    with pytest.raises(RuntimeError, match="unreadable"):
        c.add(_span(24, attributes=Unreadable()))
    with pytest.raises(OverflowError):
        c.add(_span(22, start_time=2**64))
    with pytest.raises(TypeError, match="name must be str"):
        c.add(_span(23, name=b"bytes"))
    assert len(c) == 9
    for span in good[9:]:
        c.add(span)
        py.add(span)
    assert_same(py.to_arrow(), c.to_arrow())


def test_to_arrow_takes_the_columns_and_leaves_the_buffer_empty() -> None:
    c = tracing.NativeSpanColumns()
    empty = c.to_arrow()
    assert empty.schema == SPAN_SCHEMA and empty.num_rows == 0
    for i in range(3):
        c.add(_span(i))
    assert len(c) == 3 and c.to_arrow().num_rows == 3
    assert len(c) == 0 and c.to_arrow().num_rows == 0
    c.add(_span(9))  # the buffer is reused from scratch
    (row,) = c.to_arrow().to_pylist()
    assert row["name"] == "hand 9" and row["span_id"] == f"{2**63 + 9:016x}"
    assert row["parent_id"] == f"{10:016x}"
    parts = list(tracing.NativeSpanColumns().batches(10))
    assert parts == []


def test_every_float_reads_back_as_the_same_double() -> None:
    """The buffer writes short decimals itself (m / 10^k) and the rest by Python's repr: either
    way the JSON parses to the very same double, sign of zero included."""
    rng = np.random.default_rng(7)
    values = [0.5, -0.5, 0.1, 0.3, 12.25, 3.0, -0.0, 0.0, 1e15, 2.0**53, 2.0**53 + 2, 1e16, 1e-05, 5e-324]
    values += [float(v) for v in rng.integers(-(10**9), 10**9, 300) / 10.0 ** rng.integers(0, 10, 300)]
    values += [float(v) for v in rng.standard_normal(300) * 10.0 ** rng.integers(-12, 12, 300)]
    c = tracing.NativeSpanColumns()
    for v in values:
        c.add(_span(0, attributes={"v": v}))
    got = [json.loads(a)["v"] for a in c.to_arrow().column("attributes").to_pylist()]
    assert [math.copysign(1, g) for g in got] == [math.copysign(1, v) for v in values]
    assert got == values


def test_batches_are_built_one_at_a_time_and_make_the_same_rows() -> None:
    """The drain asks for one batch while it commits the one before: each batch's attributes
    and lifted columns come from its own stretch of the JSON — a mistyped value in one batch
    (a tenant given as a number) sends that batch alone the per-object way."""
    both = Both()
    for i in range(25):
        tenant: Any = 7 if i == 12 else "acme"
        both.on_end(_span(i, attributes={"auraison.tenant": tenant, "gen_ai.usage.input_tokens": i}))
    parts = list(both.c.batches(10))
    assert [p.num_rows for p in parts] == [10, 10, 5]
    assert_same(both.py.to_arrow(), pa.concat_tables(parts))
    assert parts[1].column("tenant").to_pylist()[2] == "7"
    assert parts[2].column("input_tokens").to_pylist() == [20, 21, 22, 23, 24]


class Keep:
    """A sink that keeps what it is given."""

    def __init__(self) -> None:
        self.tables: list[pa.Table] = []

    def write(self, batch: pa.Table, batch_id: str, replay: bool = True) -> None:
        self.tables.append(batch)


def test_a_refused_span_is_counted_and_the_call_that_ended_it_goes_on(tmp_path: Path) -> None:
    """The SDK does not catch a processor's exception: a span the buffer cannot hold (a time
    past 64 bits, set by hand) must not fail the agent's call. It is counted, and the spans
    around it land."""
    sink = Keep()
    proc = tracing.SinkProcessor(sink, tmp_path / "spool", interval_s=3600)
    proc.on_end(_span(1))
    proc.on_end(_span(2, end_time=2**64))
    proc.on_end(_span(3))
    assert proc.refused == 1 and proc.pending() == 2
    assert proc.force_flush(5_000)
    assert [t.column("name").to_pylist() for t in sink.tables] == [["hand 1", "hand 3"]]
    proc.shutdown()


class Reentrant(Mapping[str, Any]):
    """A mapping whose reading adds a span to the same buffer (the fallback encoder runs it)."""

    def __init__(self, buffer: Any) -> None:
        self.buffer = buffer
        self.error: Exception | None = None

    def __getitem__(self, key: str) -> Any:
        return 1

    def __iter__(self) -> Iterator[str]:
        try:
            self.buffer.add(_span(9))
        except RuntimeError as exc:
            self.error = exc
        try:
            self.buffer.take()
        except RuntimeError as exc:
            self.error = self.error or exc
        return iter(["k"])

    def __len__(self) -> int:
        return 1


def test_an_add_that_runs_python_code_keeps_the_buffer_to_itself() -> None:
    """The fallback encoder runs Python code in the middle of ``add``: another add or a take on
    the same buffer meanwhile is refused (it would see half a row), and the row completes."""
    c = tracing.NativeSpanColumns()
    c.add(_span(0))
    mapping = Reentrant(c)
    c.add(_span(1, attributes=mapping))
    assert isinstance(mapping.error, RuntimeError) and "while another" in str(mapping.error)
    table = c.to_arrow()
    assert table.column("name").to_pylist() == ["hand 0", "hand 1"]
    assert json.loads(table.column("attributes")[1].as_py()) == {"k": 1}
