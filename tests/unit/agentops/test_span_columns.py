"""The columnar span pipeline: column buffers → Arrow equal the span's own row, attributes'
JSON built column-wise equals json.dumps, and batches keep their ids through the spool."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pyarrow as pa
from opentelemetry.sdk.trace import ReadableSpan, SpanProcessor, TracerProvider
from opentelemetry.trace import SpanKind, Status, StatusCode

from auraison.agentops.span_arrow import SPAN_SCHEMA, attrs_struct, json_column, struct_json
from auraison.agentops.spool import Spool
from auraison.agentops.tracing import SinkProcessor, SpanColumns, span_to_row


class Keep(SpanProcessor):
    def __init__(self) -> None:
        self.cols = SpanColumns()
        self.spans: list[ReadableSpan] = []

    def on_end(self, span: ReadableSpan) -> None:
        self.cols.add(span)
        self.spans.append(span)


def test_column_buffers_make_the_rows_the_span_makes() -> None:
    keep = Keep()
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


def test_attributes_json_column_wise_equals_json_dumps() -> None:
    attrs = [
        {"a": "x", "n": 1, "b": True, "f": 0.25},
        {"a": 'q"uo\\te', "n": -7, "b": False, "f": 1e20},
        {},
        {"n": 2, "a": "other key order"},
        {"a": "tab\tand newline\n"},  # control characters: encoded value by value
        {"seq": ("x", "y"), "ints": (1, 2)},
        {"mixed": 1},
        {"mixed": "one"},
        {"big": 2**70},
    ]
    out = json_column(attrs).to_pylist()
    assert [json.loads(o) for o in out] == [json.loads(json.dumps(a)) for a in attrs]


def test_attributes_json_through_one_struct_equals_json_dumps_batch_after_batch() -> None:
    """The drain's path: the dicts become one Arrow struct (the last batch's type tried first),
    the JSON is built from it by Arrow compute. A later batch that does not fit the cached type
    exactly (a new key, a float where ints were, a bool where floats were, a string where a
    sequence was) must not be coerced into it; a key absent from some spans stays absent."""
    batches = [
        [{"a": "x", "n": 1, "f": 0.25, "s": ("p", "q")}, {"n": 2}, {}],
        [{"a": 'q"uo\\te', "n": 3, "f": 1.5, "s": ("r",)}, {"a": "ünï", "f": 2.0}],
        [{"a": "y", "n": 0.5, "f": True, "s": "not a list"}],  # each value of another type
        [{"a": "z", "n": 4, "f": 0.5, "new": "key"}, {"n": 5, "b": False}],
        [{"n": 6, "a": "tab\there"}, {"f": float("nan")}],
        [{"a": "back\\slash only"}, {"a": "plain"}],
        [{"a": 'a "quote" only'}, {"a": "ünï €"}],
        [{"id": 3}, {"id": 0.5}],  # ints beside floats: 3 stays an int in the JSON
        [{"a": "x", "none": None}],  # a None value stays in the JSON (a null field reads absent)
        [{"a": "x", "n": 1, "f": 0.25}],
    ]
    for attrs in batches:
        struct = attrs_struct(attrs)
        out = (struct_json(struct) if struct is not None else json_column(attrs)).to_pylist()
        assert [json.loads(o) for o in out] == [json.loads(json.dumps(a)) for a in attrs], attrs
        if "id" in attrs[0]:
            assert [type(json.loads(o)["id"]) for o in out] == [int, float]
        if attrs[0].get("f") is True:  # not coerced into the cached int64/double/list fields
            assert json.loads(out[0]) == {"a": "y", "n": 0.5, "f": True, "s": "not a list"}
            assert json.loads(out[0])["f"] is True


class BatchSink:
    """Idempotent by batch id, like the lake; fails while ``down``."""

    def __init__(self) -> None:
        self.down = False
        self.batches: dict[str, pa.Table] = {}
        self.writes: list[tuple[str, bool]] = []

    def write(self, batch: pa.Table, batch_id: str, replay: bool = True) -> None:
        self.writes.append((batch_id, replay))
        if self.down:
            raise ConnectionError("down")
        self.batches.setdefault(batch_id, batch)


def test_a_failed_batch_keeps_its_id_in_the_spool_and_replays_as_a_replay(tmp_path: Path) -> None:
    sink = BatchSink()
    proc = SinkProcessor(sink, tmp_path / "spool", batch=10, interval_s=3600)
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
