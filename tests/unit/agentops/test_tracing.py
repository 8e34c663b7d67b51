"""Spans carry the GenAI/MCP semantic-convention names; the sink never blocks nor loses."""

from __future__ import annotations

import json
import threading
from pathlib import Path
from typing import Any

import pyarrow as pa
import pytest
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from auraison.agentops import AgentOps, Identity, ToolCall, ToolDenied
from auraison.agentops.policy import parse_policy
from auraison.agentops.tracing import JsonlExporter, SinkProcessor, build_provider

POLICY = parse_policy("""\
version: 1
redact: ["*password*", "api_key"]
rules:
  - name: r
    allow: ["robot_*"]
    deny: ["robot_drive"]
""")


@pytest.fixture
def spans() -> tuple[AgentOps, InMemorySpanExporter]:
    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    return AgentOps(POLICY, tracer_provider=provider), exporter


async def test_execute_tool_span_names_and_attributes(
    spans: tuple[AgentOps, InMemorySpanExporter],
) -> None:
    eng, exp = spans
    eng.record_arguments = True  # opt-in (agentops.record_tool_arguments)
    call = ToolCall(
        identity=Identity(tenant="acme", role="agent"),
        tool="robot_get_state",
        args={"verbose": True, "api_key": "k-123", "note": "token sk-abcdefghijklmnopqrstu"},
        call_id="call_1",
    )

    async def tool() -> str:
        return "ok"

    parent = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"
    assert await eng.execute(call, tool, meta={"traceparent": parent}) == "ok"
    (span,) = exp.get_finished_spans()
    a = span.attributes
    assert span.name == "execute_tool robot_get_state"
    assert a["gen_ai.operation.name"] == "execute_tool"
    assert a["gen_ai.tool.name"] == "robot_get_state" and a["gen_ai.tool.call.id"] == "call_1"
    assert a["auraison.decision"] == "allow" and a["auraison.tenant"] == "acme"
    assert "auraison.queue.wait_ms" in a
    args = json.loads(a["gen_ai.tool.call.arguments"])
    assert args["api_key"] == "[REDACTED]" and "sk-abc" not in args["note"] and args["verbose"] is True
    # W3C trace context from MCP _meta continues the caller's trace
    assert f"{span.context.trace_id:032x}" == "0af7651916cd43dd8448eb211c80319c"
    assert f"{span.parent.span_id:016x}" == "b7ad6b7169203331"


async def test_denied_call_span_records_the_decision(
    spans: tuple[AgentOps, InMemorySpanExporter],
) -> None:
    eng, exp = spans

    async def never() -> None:
        raise AssertionError("a denied tool must not run")

    with pytest.raises(ToolDenied):
        await eng.execute(ToolCall(tool="robot_drive"), never)
    (span,) = exp.get_finished_spans()
    assert span.attributes["auraison.decision"] == "deny"
    assert "denied" in span.attributes["auraison.decision.reason"]
    assert span.attributes["error.type"] == "ToolDenied"
    assert "gen_ai.tool.call.arguments" not in span.attributes  # opt-in, off by default
    assert span.status.status_code.name == "ERROR"


class FlakySink:
    def __init__(self) -> None:
        self.up = True
        self.rows: dict[str, dict[str, Any]] = {}
        self.calls = 0

    def write(self, batch: pa.Table, batch_id: str, replay: bool = True) -> None:
        self.calls += 1
        if not self.up:
            raise ConnectionError("lake is down")
        for r in batch.to_pylist():
            self.rows[r["span_id"]] = r  # idempotent by span id


def test_sink_down_spools_then_replays_everything(tmp_path: Path) -> None:
    sink = FlakySink()
    # Drains only when asked (force_flush): a background drain replaying the spool while the
    # test counts it would race the count.
    proc = SinkProcessor(sink, tmp_path / "spool", batch=2000, interval_s=3600)
    provider = TracerProvider()
    provider.add_span_processor(proc)
    tracer = provider.get_tracer("t")
    sink.up = False
    for i in range(1000):
        with tracer.start_as_current_span(f"s{i}"):
            pass
    assert not proc.force_flush(2000)  # the sink is down: rows wait in the spool
    assert proc.spool.rows() == 1000 and not sink.rows
    sink.up = True
    for i in range(1000, 1500):
        with tracer.start_as_current_span(f"s{i}"):
            pass
    assert proc.force_flush(5000)
    assert len(sink.rows) == 1500 and proc.spool.rows() == 0
    provider.shutdown()


def test_producer_never_blocks_on_a_slow_sink(tmp_path: Path) -> None:
    """The sink is stuck inside ``write`` until the gate opens: every span is produced while it
    is stuck (had ``on_end`` waited for it, the gate's timeout would have passed first and rows
    landed), the overflow goes to the spool, and nothing is dropped once it opens."""
    entered, gate = threading.Event(), threading.Event()

    class SlowSink:
        rows = 0

        def write(self, batch: pa.Table, batch_id: str, replay: bool = True) -> None:
            entered.set()
            gate.wait(30)
            SlowSink.rows += batch.num_rows

    proc = SinkProcessor(SlowSink(), tmp_path / "spool", batch=50, max_buffer=200, interval_s=0.01)
    provider = TracerProvider()
    provider.add_span_processor(proc)
    tracer = provider.get_tracer("t")
    for i in range(2000):
        with tracer.start_as_current_span(f"s{i}"):
            pass
        if i == 49:
            assert entered.wait(30)  # the drain is now stuck in the sink
    assert SlowSink.rows == 0 and not gate.is_set()  # produced all 2000 while the sink was stuck
    gate.set()
    assert proc.force_flush(10_000)
    assert SlowSink.rows == 2000  # overflow went to the spool and was replayed, nothing dropped
    provider.shutdown()


def test_jsonl_exporter_writes_lake_rows(tmp_path: Path) -> None:
    provider = build_provider(jsonl=tmp_path / "spans.jsonl")
    with provider.get_tracer("t").start_as_current_span("execute_tool x") as s:
        s.set_attribute("gen_ai.tool.name", "x")
    row = json.loads((tmp_path / "spans.jsonl").read_text().splitlines()[0])
    assert row["name"] == "execute_tool x" and row["tool"] == "x" and len(row["trace_id"]) == 32
    assert JsonlExporter  # the exporter class is public for custom providers
