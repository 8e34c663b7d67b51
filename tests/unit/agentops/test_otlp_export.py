"""Spans and metrics leave the process over OTLP/HTTP when ``agentops.otlp_endpoint`` is set.

The collector is a real OTLP/HTTP receiver in the test's process (a small HTTP server decoding
the requests with ``opentelemetry-proto``, as a collector does). A runtime configured with it
runs an agent (Pydantic AI with the engine's capability, a scripted model, one tool) and one
call the policy denies, then closes; the collector must hold the run's spans and the engine's
decision and queue metrics and Pydantic AI's token usage, with the counts of this test's calls
(its tool names and model occur in no other test, since the process's meters are cumulative).
"""

from __future__ import annotations

import gzip
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from opentelemetry.proto.collector.metrics.v1.metrics_service_pb2 import (
    ExportMetricsServiceRequest,
    ExportMetricsServiceResponse,
)
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
    ExportTraceServiceRequest,
    ExportTraceServiceResponse,
)
from opentelemetry.proto.common.v1.common_pb2 import KeyValue
from pydantic_ai import Agent
from pydantic_ai.messages import ModelMessage, ModelResponse, TextPart, ToolCallPart, ToolReturnPart
from pydantic_ai.models.function import AgentInfo, FunctionModel

from auraison.agentops import Identity
from auraison.agentops.capability import agentops_capabilities
from auraison.agentops.decision import ToolCall
from auraison.agentops.errors import ToolDenied
from auraison.agentops.tracing import otlp_url
from auraison.runtime import Runtime
from auraison.settings import Settings

TOOL, DENIED, MODEL = "world_otlp_probe", "otlp_probe_nobody_allows", "otlp-probe-model"


class Collector:
    """An OTLP/HTTP receiver on a free local port: ``/v1/traces`` and ``/v1/metrics``."""

    def __init__(self) -> None:
        self.traces: list[ExportTraceServiceRequest] = []
        self.metrics: list[ExportMetricsServiceRequest] = []
        self.lock = threading.Lock()
        kinds = {
            "/v1/traces": (ExportTraceServiceRequest, ExportTraceServiceResponse, self.traces),
            "/v1/metrics": (ExportMetricsServiceRequest, ExportMetricsServiceResponse, self.metrics),
        }
        collector = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                if self.path not in kinds:
                    self.send_error(404)
                    return
                request, response, into = kinds[self.path]
                body = self.rfile.read(int(self.headers["Content-Length"]))
                if self.headers.get("Content-Encoding") == "gzip":
                    body = gzip.decompress(body)
                with collector.lock:
                    into.append(request.FromString(body))
                out = response().SerializeToString()
                self.send_response(200)
                self.send_header("Content-Type", "application/x-protobuf")
                self.send_header("Content-Length", str(len(out)))
                self.end_headers()
                self.wfile.write(out)

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def __enter__(self) -> Collector:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.shutdown()
        self.server.server_close()
        self.thread.join()

    def spans(self) -> list[Any]:
        with self.lock:
            return [
                s
                for req in self.traces
                for rs in req.resource_spans
                for ss in rs.scope_spans
                for s in ss.spans
            ]

    def points(self, name: str) -> list[tuple[dict[str, Any], Any]]:
        """The data points of metric ``name`` in the latest export that has it (cumulative)."""
        with self.lock:
            exports = [
                m
                for req in self.metrics
                for rm in req.resource_metrics
                for sm in rm.scope_metrics
                for m in sm.metrics
                if m.name == name
            ]
        assert exports, f"no metric {name} reached the collector"
        metric = exports[-1]
        data = getattr(metric, metric.WhichOneof("data"))
        return [(attrs(p.attributes), p) for p in data.data_points]


def attrs(kvs: list[KeyValue]) -> dict[str, Any]:
    return {kv.key: getattr(kv.value, kv.value.WhichOneof("value")) for kv in kvs}


@pytest.fixture
def collector() -> Iterator[Collector]:
    with Collector() as c:
        yield c


def script(messages: list[ModelMessage], info: AgentInfo) -> ModelResponse:
    """Call the probe tool once, then answer with what it returned."""
    for part in messages[-1].parts:
        if isinstance(part, ToolReturnPart):
            return ModelResponse(parts=[TextPart(f"probe says {part.content}")])
    return ModelResponse(parts=[ToolCallPart(TOOL, {"n": 1}, tool_call_id="probe-1")])


async def test_spans_and_metrics_reach_the_configured_otlp_collector(
    tmp_path: Path, collector: Collector
) -> None:
    settings = Settings(
        home=tmp_path / "home",
        agentops={
            "approvals": "memory",
            "lake_sink": False,
            "tenant": "acme",
            "otlp_endpoint": collector.url,
        },
    )
    rt = Runtime(settings)
    identity = Identity(tenant="acme", role="operator")
    agent = Agent(
        FunctionModel(script, model_name=MODEL),
        capabilities=agentops_capabilities(rt.engine, identity, "otlp-probe"),
        name="otlp-probe",
    )

    @agent.tool_plain(name=TOOL)
    def probe(n: int) -> str:
        return f"ok {n}"

    result = await agent.run("probe once")
    assert result.output == "probe says ok 1"
    with pytest.raises(ToolDenied):
        await rt.engine.execute(ToolCall(identity=identity, tool=DENIED, args={}, point="agent"), _never)
    assert not collector.spans() and not collector.metrics  # batched: nothing left yet
    await rt.aclose()  # the runtime's exporters flush as it closes

    # Spans: the agent's (Pydantic AI's), the engine's decisions, the denial with its error type
    spans = {s.name: s for s in collector.spans()}
    run = spans["invoke_agent otlp-probe"]
    assert attrs(run.attributes)["gen_ai.provider.name"] == "function"
    assert spans[f"chat {MODEL}"].parent_span_id == run.span_id
    decisions = [s for s in collector.spans() if s.name == f"execute_tool {TOOL}"]
    assert len(decisions) == 2  # the tool as the agent saw it, and the engine's decision in it
    engine_side = next(s for s in decisions if "auraison.decision" in attrs(s.attributes))
    assert attrs(engine_side.attributes)["auraison.decision"] == "allow"
    assert {s.trace_id for s in collector.spans() if s.name != f"execute_tool {DENIED}"} == {run.trace_id}
    denied = attrs(spans[f"execute_tool {DENIED}"].attributes)
    assert denied["auraison.decision"] == "deny" and denied["error.type"] == "ToolDenied"

    # Metrics: decisions by kind, the queue's wait and depth, Pydantic AI's token usage
    calls = {
        (a["tool"], a["decision"]): p.as_int
        for a, p in collector.points("auraison.agentops.calls")
        if a["tool"] in (TOOL, DENIED)
    }
    assert calls == {(TOOL, "allow"): 1, (DENIED, "deny"): 1}
    for name in ("auraison.agentops.queue.wait", "auraison.agentops.queue.depth"):
        (ours,) = [p for a, p in collector.points(name) if a == {"tool": TOOL, "tenant": "acme"}]
        assert ours.count == 1, name
    tokens = [
        (a, p) for a, p in collector.points("gen_ai.client.token.usage") if a["gen_ai.request.model"] == MODEL
    ]
    by_type = {a["gen_ai.token.type"]: p for a, p in tokens}
    assert by_type["input"].count == 2 and by_type["input"].sum == result.usage.input_tokens
    assert by_type["output"].sum == result.usage.output_tokens


async def _never() -> str:
    raise AssertionError("a denied call must not run")


def test_the_endpoint_is_the_collector_or_its_traces_url() -> None:
    for endpoint in ("http://otel:4318", "http://otel:4318/", "http://otel:4318/v1/traces"):
        assert otlp_url(endpoint, "traces") == "http://otel:4318/v1/traces"
        assert otlp_url(endpoint, "metrics") == "http://otel:4318/v1/metrics"
