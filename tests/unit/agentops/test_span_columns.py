"""The columnar span pipeline: column buffers → Arrow equal the span's own row (the Python
columns and the native buffer alike), attributes' JSON equals json.dumps, and batches keep
their ids through the spool."""

from __future__ import annotations

import json
import math
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path

import pyarrow as pa
import pytest
from opentelemetry.sdk.trace import ReadableSpan, SpanProcessor, TracerProvider
from opentelemetry.trace import SpanKind, Status, StatusCode

from auraison.agentops import tracing
from auraison.agentops.span_arrow import SPAN_SCHEMA, attributes_json, lifted_columns, rows_to_arrow
from auraison.agentops.spool import Spool
from auraison.agentops.tracing import SinkProcessor, SpanColumns, span_to_row

Columns = type[SpanColumns] | type["tracing.NativeSpanColumns"]


@pytest.fixture(params=["python", "native"])
def columns(request: pytest.FixtureRequest) -> Columns:
    """Both span buffers: the Python columns and the C one (built by ``make install``)."""
    if request.param == "python":
        return SpanColumns
    if tracing._spanbuf is None:
        pytest.fail("agentops/_spanbuf.c was not built (is a C compiler installed?): run make install")
    return tracing.NativeSpanColumns


class Keep(SpanProcessor):
    def __init__(self, columns: Columns = SpanColumns) -> None:
        self.cols = columns()
        self.spans: list[ReadableSpan] = []

    def on_end(self, span: ReadableSpan) -> None:
        self.cols.add(span)
        self.spans.append(span)


def test_column_buffers_make_the_rows_the_span_makes(columns: Columns) -> None:
    keep = Keep(columns)
    provider = TracerProvider()
    provider.add_span_processor(keep)
    tracer = provider.get_tracer("t")
    with tracer.start_as_current_span("invoke_agent nav", attributes={"gen_ai.agent.name": "nav"}):
        with tracer.start_as_current_span("chat m", kind=SpanKind.CLIENT) as chat:
            chat.set_attributes({"gen_ai.usage.input_tokens": 12, "gen_ai.usage.output_tokens": 3})
        with tracer.start_as_current_span("execute_tool robot_stop") as tool:
            tool.set_attributes(
                {
                    "gen_ai.tool.name": "robot_stop",
                    "auraison.tenant": "acme",
                    "auraison.decision": "deny",
                    "auraison.cost": 0.5,
                    "note": 'quote " and \\ and ünïcode',
                    "flags": (True, False),
                }
            )
            tool.set_status(Status(StatusCode.ERROR, "deny"))
    table = keep.cols.to_arrow()
    assert table.schema == SPAN_SCHEMA and table.num_rows == 3
    for got, span in zip(table.to_pylist(), keep.spans, strict=True):
        want = span_to_row(span)
        assert json.loads(got.pop("attributes")) == json.loads(json.dumps(want.pop("attributes")))
        assert got == want


def _finite(value: object) -> object:
    """What JSON can hold of a value: a NaN or infinity is null."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


def test_attributes_json_equals_json_dumps_and_the_lifted_columns_keep_their_types() -> None:
    """The drain's path: one encoding of the batch, cut into one JSON object per span, with the
    queried attributes parsed back out of it. Keys absent from some spans stay absent, a None
    stays as null, ints stay ints beside floats, strings keep quotes, backslashes, control
    characters and newlines (escaped: a raw newline would cut an object in two)."""
    attrs: list[dict[str, object]] = [
        {"a": "x", "n": 1, "b": True, "f": 0.25, "auraison.tenant": "acme", "gen_ai.usage.input_tokens": 7},
        {"a": 'q"uo\\te', "n": -7, "b": False, "f": 1e20, "auraison.cost": 0.5},
        {},
        {"n": 2, "a": "other key order", "auraison.cost": 3},
        {"a": "tab\tand newline\n and ünïcode €", "gen_ai.agent.name": "nav"},
        {"seq": ("x", "y"), "ints": (1, 2), "id": 3},
        {"id": 0.5, "none": None, "auraison.tenant": None},
        {"big": 2**70, "nan": float("nan"), "inf": float("-inf")},
    ]
    text, ndjson = attributes_json(attrs)
    assert text.type == pa.string() and len(text) == len(attrs)
    assert all(t.startswith("{") and t.endswith("}") for t in text.to_pylist())  # one object each
    want = [json.loads(json.dumps({k: _finite(v) for k, v in a.items()})) for a in attrs]
    assert [json.loads(t) for t in text.to_pylist()] == want
    assert [type(json.loads(t).get("id")) for t in text.to_pylist()][5:7] == [int, float]
    lifted = lifted_columns(ndjson, attrs)
    assert lifted["tenant"].to_pylist() == ["acme", None, None, None, None, None, None, None]
    assert lifted["cost"].type == pa.float64()
    assert lifted["cost"].to_pylist() == [None, 0.5, None, 3.0, None, None, None, None]
    assert lifted["input_tokens"].type == pa.int64() and lifted["input_tokens"][0].as_py() == 7
    assert lifted["agent"].to_pylist()[4] == "nav"


def test_a_lifted_attribute_of_another_type_is_converted_or_null_and_kept_in_the_json() -> None:
    """A tenant given as a number, tokens as a float, as text or beyond 64 bits, a cost given as
    a flag: the typed parse refuses the batch and the columns come from the dicts — converted
    where the column holds the value exactly, else null; the attributes JSON keeps each value
    as it was."""
    attrs: list[dict[str, object]] = [
        {"auraison.tenant": 42, "gen_ai.usage.input_tokens": 3.0, "auraison.cost": "free"},
        {"auraison.tenant": ("a", "b"), "gen_ai.usage.input_tokens": 2**70, "auraison.cost": True},
        {"auraison.tenant": "acme", "gen_ai.usage.input_tokens": 3.7, "auraison.cost": 1.5},
        {"gen_ai.usage.input_tokens": "7", "auraison.cost": float("nan")},
        {"gen_ai.usage.input_tokens": 5, "auraison.cost": 10**400},
    ]
    text, ndjson = attributes_json(attrs)
    lifted = lifted_columns(ndjson, attrs)
    assert lifted["tenant"].to_pylist() == ["42", '["a","b"]', "acme", None, None]
    assert lifted["input_tokens"].to_pylist() == [3, None, None, None, 5]
    assert lifted["cost"].to_pylist() == [None, None, 1.5, None, None]
    want = [json.loads(json.dumps({k: _finite(v) for k, v in a.items()})) for a in attrs]
    assert [json.loads(t) for t in text.to_pylist()] == want


def test_the_typed_parse_serves_a_well_typed_batch_and_reads_what_json_reads(monkeypatch) -> None:
    """The ordinary batch never reaches the per-dict path; a NumPy float (an OpenTelemetry
    attribute may be one) is a number in the JSON and the cost column; a NaN or infinity is
    null in the column as in the JSON, by either path."""
    import numpy as np

    from auraison.agentops import span_arrow

    def refuse(values: object, type_: object) -> None:
        raise AssertionError("the per-dict path ran")

    attrs: list[dict[str, object]] = [
        {"auraison.tenant": "acme", "auraison.cost": np.float64(0.25), "v": (np.float64(1.5), 2.0)},
        {"auraison.cost": float("nan"), "gen_ai.usage.output_tokens": 4},
        {"auraison.cost": 10**400},  # an int JSON holds, beyond a double: infinity once parsed
    ]
    with monkeypatch.context() as m:
        m.setattr(span_arrow, "_array", refuse)
        text, ndjson = attributes_json(attrs)
        lifted = lifted_columns(ndjson, attrs)
    assert json.loads(text[0].as_py()) == {"auraison.tenant": "acme", "auraison.cost": 0.25, "v": [1.5, 2.0]}
    assert lifted["cost"].to_pylist() == [0.25, None, None]
    assert lifted["output_tokens"].to_pylist() == [None, 4, None]


def test_text_that_is_not_utf8_is_escaped_and_its_batch_still_lands(tmp_path: Path, columns: Columns) -> None:
    """A lone surrogate (a file name read with ``surrogateescape``) in a span's name or an
    attribute: Arrow and msgspec refuse it, so the batch is built again with it escaped —
    the drain goes on, nothing is spooled, and a spooled row holding one replays too."""
    sink = BatchSink()
    proc = SinkProcessor(sink, tmp_path / "spool", interval_s=3600, columns=columns)
    provider = TracerProvider()
    provider.add_span_processor(proc)
    tracer = provider.get_tracer("t")
    for name in ("ok", "bad \udce9 name"):
        with tracer.start_as_current_span(name, attributes={"path": "/data/\udce9.bag", "n": 1}):
            pass
    assert proc.force_flush(5_000)
    (table,) = sink.batches.values()
    assert table.column("name").to_pylist() == ["ok", "bad \\udce9 name"]
    paths = [json.loads(a)["path"] for a in table.column("attributes").to_pylist()]
    assert paths == ["/data/\\udce9.bag"] * 2
    assert not proc.spool.segments()
    replayed = rows_to_arrow([{"span_id": "s", "name": "\udce9", "attributes": {"p": "\udce9"}}])
    assert replayed.column("name").to_pylist() == ["\\udce9"]
    provider.shutdown()


def test_an_empty_batch_makes_empty_columns() -> None:
    text, ndjson = attributes_json([])
    assert len(text) == 0 and ndjson == b""
    assert all(len(col) == 0 for col in lifted_columns(ndjson, []).values())


class BatchSink:
    """Idempotent by batch id, like the lake; fails while ``down``."""

    def __init__(self) -> None:
        self.down = False
        self.batches: dict[str, pa.Table] = {}
        self.writes: list[tuple[str, bool]] = []
        self.wrote = threading.Event()

    def write(self, batch: pa.Table, batch_id: str, replay: bool = True) -> None:
        self.writes.append((batch_id, replay))
        if self.down:
            raise ConnectionError("down")
        self.batches.setdefault(batch_id, batch)
        self.wrote.set()


def test_a_failed_batch_keeps_its_id_in_the_spool_and_replays_as_a_replay(
    tmp_path: Path, columns: Columns
) -> None:
    sink = BatchSink()
    proc = SinkProcessor(sink, tmp_path / "spool", batch=10, interval_s=3600, columns=columns)
    provider = TracerProvider()
    provider.add_span_processor(proc)
    tracer = provider.get_tracer("t")
    sink.down = True
    proc.batch = 10**9  # no full batch wakes the drain thread: this test drains, alone
    for i in range(25):
        with tracer.start_as_current_span(f"s{i}"):
            pass
    proc.batch = 10
    assert not proc.force_flush(5_000)
    first_id = sink.writes[0][0]
    assert sink.writes == [(first_id, False)]  # first try; the rest went to the spool untried
    segments = proc.spool.segments()
    assert Spool.batch_id(segments[0]) == first_id  # oldest first
    assert sum(len(Spool.read(s)) for s in segments) == 25
    sink.down = False
    assert proc.force_flush(5_000)
    assert sink.writes[1] == (first_id, True)  # replayed under the same id, looked up
    assert sum(t.num_rows for t in sink.batches.values()) == 25 and not proc.spool.segments()
    provider.shutdown()


def test_the_drain_thread_outlives_a_failure_that_is_not_the_sink_s(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, columns: Columns
) -> None:
    """A bug in a batch's build must not stop tracing for the rest of the process: the thread
    logs it and drains the next spans."""
    sink = BatchSink()
    proc = SinkProcessor(sink, tmp_path / "spool", batch=1, interval_s=3600, columns=columns)
    provider = TracerProvider()
    provider.add_span_processor(proc)
    tracer = provider.get_tracer("t")
    real = columns.batches
    broken = threading.Event()

    def once(self: SpanColumns, size: int) -> Iterator[pa.Table]:
        if not broken.is_set():
            broken.set()
            raise RuntimeError("a bug in the build")
        return real(self, size)

    monkeypatch.setattr(columns, "batches", once)
    with tracer.start_as_current_span("lost to the bug"):
        pass
    assert broken.wait(5)  # the full batch woke the thread, and its build raised
    with tracer.start_as_current_span("after"):
        pass  # a full batch again: only a live thread drains it
    assert sink.wrote.wait(10)
    assert [t.column("name").to_pylist() for t in sink.batches.values()] == [["after"]]
    provider.shutdown()


def test_one_process_of_many_replays_a_segment_and_a_dead_ones_claim_comes_back(tmp_path: Path) -> None:
    spool = Spool(tmp_path / "spool")
    seg = spool.append([{"span_id": "a"}], "b-1")
    claimed = spool.claim(seg)
    assert claimed is not None and spool.claim(seg) is None  # the second replayer skips it
    assert spool.segments() == [] and Spool.batch_id(claimed) == "b-1"  # in hand, same id
    Spool.release(claimed)
    assert spool.segments() == [seg]
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True)
    orphan = seg.rename(seg.with_name(f"{seg.name}.{int(dead.stdout)}.claimed"))
    (back,) = spool.segments()  # a claim whose process died is replayed by the next one
    assert back == orphan and Spool.batch_id(back) == "b-1" and Spool.read(back) == [{"span_id": "a"}]
