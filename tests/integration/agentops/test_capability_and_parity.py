"""Pydantic AI agents under AgentOps, and the same decisions at all three enforcement points."""

from __future__ import annotations

from typing import Any

import pytest
from fastmcp import Client
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from pydantic_ai import Agent, DeferredToolRequests, DeferredToolResults, models
from pydantic_ai.messages import (
    ModelMessage,
    ModelResponse,
    RetryPromptPart,
    TextPart,
    ToolCallPart,
    ToolReturnPart,
)
from pydantic_ai.models.function import AgentInfo, FunctionModel

from auraison.agentops import AgentOps, Identity
from auraison.agentops.capability import AgentOpsCapability
from auraison.agentops.hook import pre_tool_use
from auraison.mcp_servers.gateway import build_gateway
from auraison.settings import Settings
from tests.planes import lake_plane, robot_plane

models.ALLOW_MODEL_REQUESTS = False  # no network model, ever

CALLS: list[tuple[str, dict[str, Any], str]] = [
    ("robot_get_state", {}, "operator"),
    ("robot_navigate_to", {"x": 3.0, "y": 1.0}, "operator"),
    ("robot_navigate_to", {"x": 99.0, "y": 1.0}, "operator"),  # outside the geofence
    ("robot_drive", {"linear": 0.1, "duration": 1.0}, "operator"),  # needs approval
    ("robot_drive", {"linear": 0.5, "duration": 1.0}, "operator"),  # over the guardrail
    ("robot_drive", {"linear": 0.1, "duration": 1.0}, "viewer"),  # role denied
    ("robot_stop", {}, "viewer"),  # the e-stop is everyone's
    ("lake_query", {"sql": "select 1"}, "viewer"),
    ("lake_query", {"sql": "drop table spans"}, "operator"),  # guardrail pattern
    ("billing_invoice", {}, "operator"),  # default deny
]


def script(tool: str, args: dict[str, Any]):
    """A model that calls one tool, then reports what it saw."""

    def fn(messages: list[ModelMessage], info: AgentInfo) -> ModelResponse:
        last = messages[-1].parts
        for p in last:
            if isinstance(p, ToolReturnPart | RetryPromptPart):  # a denial reaches the model as
                return ModelResponse(parts=[TextPart(f"saw: {p.content}")])  # the tool's answer
        return ModelResponse(parts=[ToolCallPart(tool, args, tool_call_id="call-1")])

    return FunctionModel(fn)


def agent_for(
    engine: AgentOps, identity: Identity, tool: str, args: dict[str, Any], ran: list[str] | None = None
) -> Agent:
    agent = Agent(
        script(tool, args),
        output_type=[str, DeferredToolRequests],
        capabilities=[AgentOpsCapability(engine, identity, "test-agent")],
    )
    ran = ran if ran is not None else []

    def make(name: str):
        def tool_fn(**kwargs: Any) -> str:
            ran.append(name)
            return f"{name} ok"

        return tool_fn

    for name, params in (
        ("robot_get_state", {}),
        ("robot_stop", {}),
        ("robot_navigate_to", {"x": float, "y": float}),
        ("robot_drive", {"linear": float, "duration": float}),
        ("lake_query", {"sql": str}),
        ("billing_invoice", {}),
    ):
        fn = make(name)
        fn.__annotations__ = {**params, "return": str}
        import inspect

        fn.__signature__ = inspect.Signature(
            [inspect.Parameter(k, inspect.Parameter.KEYWORD_ONLY, annotation=v) for k, v in params.items()]
        )
        agent.tool_plain(name=name)(fn)
    return agent


async def test_denial_becomes_model_retry_with_the_hint() -> None:
    engine, ran = AgentOps(), []
    agent = agent_for(engine, Identity(role="operator"), "robot_navigate_to", {"x": 99.0, "y": 1.0}, ran)
    result = await agent.run("go far")
    assert result.output.startswith("saw: Denied: goal (99.0, 1.0) is outside the geofence")
    assert "polygon" in result.output and ran == []


async def test_approval_defers_then_resumes_and_runs_once() -> None:
    engine, ran = AgentOps(), []
    agent = agent_for(engine, Identity(role="operator"), "robot_drive", {"linear": 0.1, "duration": 1.0}, ran)
    first = await agent.run("drive a bit")
    assert isinstance(first.output, DeferredToolRequests) and ran == []
    (req,) = first.output.approvals
    approval_id = first.output.metadata[req.tool_call_id]["approval_id"]
    assert (await engine.approvals.get(approval_id)).status == "pending"
    resumed = await agent.run(
        message_history=first.all_messages(),
        deferred_tool_results=DeferredToolResults(approvals={req.tool_call_id: True}),
    )
    assert resumed.output == "saw: robot_drive ok" and ran == ["robot_drive"]
    assert (await engine.approvals.get(approval_id)).status == "used"


async def test_model_request_span_has_usage() -> None:
    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    engine = AgentOps(tracer_provider=provider)
    await agent_for(engine, Identity(), "robot_get_state", {}).run("state?")
    names = [s.name for s in exporter.get_finished_spans()]
    assert "execute_tool robot_get_state" in names
    chat = [s for s in exporter.get_finished_spans() if s.name.startswith("chat ")]
    assert len(chat) == 2 and chat[0].attributes["gen_ai.operation.name"] == "chat"
    assert chat[0].attributes["gen_ai.usage.input_tokens"] > 0
    assert chat[0].attributes["gen_ai.agent.name"] == "test-agent"


@pytest.mark.parametrize(("tool", "args", "role"), CALLS)
async def test_parity_gateway_agent_hook(tmp_path, tool: str, args: dict[str, Any], role: str) -> None:
    """The same call gets the same decision from the gateway, the capability and the hook."""
    identity = Identity(tenant="acme", role=role)
    # gateway
    g_engine = AgentOps()
    gw = build_gateway(
        Settings(home=tmp_path, agentops={"tenant": "acme", "role": role}),
        g_engine,
        servers={"robot": robot_plane(), "lake": lake_plane()},
    )
    async with Client(gw) as c:
        res = await c.call_tool(tool, args, raise_on_error=False)
    listed = await _listed(gw, tool)
    gateway_kind = g_engine.decisions[-1].kind if g_engine.decisions else ("deny" if not listed else "?")
    # agent capability
    a_engine, ran = AgentOps(), []
    await agent_for(a_engine, identity, tool, args, ran).run("do it")
    agent_kind = a_engine.decisions[-1].kind if a_engine.decisions else "deny"  # hidden tool
    # Claude Code hook
    h_engine = AgentOps()
    out = await pre_tool_use(h_engine, {"tool_name": f"mcp__auraison__{tool}", "tool_input": args}, identity)
    hook_kind = h_engine.decisions[-1].kind
    assert gateway_kind == agent_kind == hook_kind, (gateway_kind, agent_kind, hook_kind)
    wire = out["hookSpecificOutput"]["permissionDecision"]
    assert wire == {"allow": "allow"}.get(hook_kind, "deny")
    assert (tool in ran) == (agent_kind == "allow") and res.is_error == (gateway_kind != "allow")


async def _listed(gw, tool: str) -> bool:
    async with Client(gw) as c:
        return tool in {t.name for t in await c.list_tools()}
