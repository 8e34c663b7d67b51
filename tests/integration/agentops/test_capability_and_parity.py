"""Pydantic AI agents under AgentOps, and the same decisions at every enforcement point: the
gateway, the Pydantic AI capability, the Claude Code hook and the control plane's HTTP API."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import httpx
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
from auraison.agentops.capability import agentops_capabilities
from auraison.agentops.engine import HUMAN_ONLY
from auraison.agentops.hook import pre_tool_use
from auraison.identity import PrincipalKind
from auraison.mcp_servers.cluster.http_api import TOOL, build_app
from auraison.mcp_servers.cluster.server import build_server as cluster_server
from auraison.runtime import Runtime
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


JOB = {"entrypoint": "true", "submission_id": "j-2"}
EXP = {"name": "e1"}
# The cluster tools that have an HTTP route too: (tool, args, role, HTTP method, path, JSON body).
HTTP_CALLS: list[tuple[str, dict[str, Any], str, str, str, Any]] = [
    ("cluster_job_list", {}, "viewer", "GET", "/jobs", None),
    ("cluster_job_list", {"limit": 5}, "agent", "GET", "/jobs?limit=5", None),
    ("cluster_job_stop", {"submission_id": "j-1"}, "agent", "POST", "/jobs/j-1/stop", None),  # approval
    ("cluster_job_stop", {"submission_id": "j-1"}, "viewer", "POST", "/jobs/j-1/stop", None),  # role denied
    ("cluster_job_submit", {"job": JOB}, "viewer", "POST", "/jobs", JOB),  # role denied
    ("cluster_stop", {"cluster": "local"}, "operator", "POST", "/clusters/local/stop", None),  # approval
    ("cluster_experiment_create", EXP, "viewer", "POST", "/experiments", EXP),  # allowed by no rule
    ("cluster_agent_list", {}, "agent", "GET", "/agents", None),
]
CLUSTER_TOOLS: dict[str, dict[str, type]] = {
    "cluster_job_list": {"limit": int},
    "cluster_job_stop": {"submission_id": str},
    "cluster_job_submit": {"job": dict},
    "cluster_stop": {"cluster": str},
    "cluster_experiment_create": {"name": str},
    "cluster_agent_list": {},
}
OPTIONAL = {"limit": 50}  # as in the cluster server: job_list's limit has a default


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
    engine: AgentOps,
    identity: Identity,
    tool: str,
    args: dict[str, Any],
    ran: list[str] | None = None,
    content: bool = False,
) -> Agent:
    agent = Agent(
        script(tool, args),
        output_type=[str, DeferredToolRequests],
        capabilities=agentops_capabilities(engine, identity, "test-agent", content=content),
        name="test-agent",
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
        *((name, params) for name, params in CLUSTER_TOOLS.items()),
    ):
        fn = make(name)
        fn.__annotations__ = {**params, "return": str}
        import inspect

        KW = inspect.Parameter.KEYWORD_ONLY
        fn.__signature__ = inspect.Signature(
            [
                inspect.Parameter(k, KW, annotation=v, default=OPTIONAL.get(k, inspect.Parameter.empty))
                for k, v in params.items()
            ]
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
    nobody = await agent.run(  # a resume that names no person decides nothing
        message_history=first.all_messages(),
        deferred_tool_results=DeferredToolResults(approvals={req.tool_call_id: True}),
    )
    assert ran == [] and (await engine.approvals.get(approval_id)).status == "pending"
    assert "Needs human approval" in str(nobody.output)  # the model is told to wait for a person
    person = Identity(subject="alice", kind=PrincipalKind.human)
    resumed = await agent.run(
        message_history=first.all_messages(),
        deferred_tool_results=DeferredToolResults(
            approvals={req.tool_call_id: True},
            metadata={req.tool_call_id: {"approved_by": person.model_dump(mode="json")}},
        ),
    )
    assert resumed.output == "saw: robot_drive ok" and ran == ["robot_drive"]
    got = await engine.approvals.get(approval_id)
    assert got.status == "used" and got.decided_by == "human:alice@default"


async def test_model_request_span_has_usage() -> None:
    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    engine = AgentOps(tracer_provider=provider)
    await agent_for(engine, Identity(), "robot_get_state", {}).run("state?")
    spans = exporter.get_finished_spans()
    by_id = {s.context.span_id: s for s in spans}
    # Pydantic AI's own spans, through the engine's provider: one run, its model requests with
    # usage, the tool as the agent saw it and, inside it, the engine's decision
    (run,) = [s for s in spans if s.name == "invoke_agent test-agent"]
    assert run.parent is None and run.attributes["gen_ai.provider.name"] == "function"
    assert run.attributes["auraison.tenant"] == "default"
    chat = [s for s in spans if s.name.startswith("chat ")]
    assert len(chat) == 2 and all(c.parent.span_id == run.context.span_id for c in chat)
    assert chat[0].attributes["gen_ai.operation.name"] == "chat"
    assert chat[0].attributes["gen_ai.usage.input_tokens"] > 0
    assert chat[0].attributes["gen_ai.agent.name"] == "test-agent"
    assert chat[0].attributes["auraison.tenant"] == "default"
    tools = [s for s in spans if s.name == "execute_tool robot_get_state"]
    (decision,) = [s for s in tools if "auraison.decision" in s.attributes]
    agent_side = by_id[decision.parent.span_id]
    assert agent_side.name == "execute_tool robot_get_state"
    assert agent_side.parent.span_id == run.context.span_id
    assert "state?" not in chat[0].attributes["gen_ai.input.messages"]  # structure, not content:
    assert "gen_ai.tool.call.arguments" not in agent_side.attributes  # content is opt-in


async def test_content_goes_on_the_spans_only_when_asked() -> None:
    """Asked (agentops.record_content): arguments, results and prompts on Pydantic AI's spans;
    not asked, the structure only (test_model_request_span_has_usage)."""
    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    engine = AgentOps(tracer_provider=provider)
    args = {"x": 1.0, "y": 2.0}
    await agent_for(engine, Identity(role="operator"), "robot_navigate_to", args, content=True).run("go near")
    spans = exporter.get_finished_spans()
    (agent_side,) = [
        s
        for s in spans
        if s.name == "execute_tool robot_navigate_to"
        and s.parent.span_id in {r.context.span_id for r in spans if r.name.startswith("invoke_agent")}
    ]
    assert json.loads(agent_side.attributes["gen_ai.tool.call.arguments"]) == args
    assert agent_side.attributes["gen_ai.tool.call.result"] == "robot_navigate_to ok"
    chat = next(s for s in spans if s.name.startswith("chat "))
    assert "go near" in chat.attributes["gen_ai.input.messages"]


def gateway_over_cluster(settings: Settings, engine: AgentOps):
    """The gateway with only the real cluster plane, over one runtime and ``engine``."""
    rt = Runtime(settings, engine=engine)
    return rt.gateway(servers={"cluster": cluster_server(rt)})


@pytest.mark.parametrize(("tool", "args", "role"), CALLS)
async def test_parity_gateway_agent_hook(tmp_path, tool: str, args: dict[str, Any], role: str) -> None:
    """The same call gets the same decision from the gateway, the capability and the hook."""
    identity = Identity(tenant="acme", role=role)
    # gateway
    g_engine = AgentOps()
    gw = Runtime(Settings(home=tmp_path, agentops={"tenant": "acme", "role": role}), engine=g_engine).gateway(
        servers={"robot": robot_plane(), "lake": lake_plane()}
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
    wire = out["hookSpecificOutput"]["permissionDecision"] if out else None
    assert wire == {"allow": None, "needs_approval": "ask"}.get(hook_kind, "deny")  # allow: no opinion
    assert (tool in ran) == (agent_kind == "allow") and res.is_error == (gateway_kind != "allow")


async def _listed(gw, tool: str) -> bool:
    async with Client(gw) as c:
        return tool in {t.name for t in await c.list_tools()}


def http_settings(home: Path, role: str) -> Settings:
    """The control API with a static token per role, Ray nowhere (no decision here needs it)."""
    tokens = [{"token": f"tok-{r}", "tenant": "acme", "role": r} for r in ("operator", "viewer", "agent")]
    return Settings(
        home=home,
        ray={"dashboard_url": "http://127.0.0.1:9"},
        robot={"rosbridge_url": "ws://127.0.0.1:9"},  # no robot: its routes answer 503 at once
        agentops={"approvals": "memory", "tenant": "acme", "role": role, "tokens": tokens},
    )


async def http_call(
    app, role: str, method: str, path: str, body: Any = None, headers: dict[str, str] | None = None
) -> httpx.Response:
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app), base_url="http://control") as http:
        return await http.request(
            method, path, json=body, headers={"Authorization": f"Bearer tok-{role}", **(headers or {})}
        )


@pytest.mark.parametrize(("tool", "args", "role", "method", "path", "body"), HTTP_CALLS)
async def test_parity_with_the_http_api(
    tmp_path: Path, tool: str, args: dict[str, Any], role: str, method: str, path: str, body: Any
) -> None:
    """A cluster tool gets the same decision — and, when one is kept, the same arguments hash,
    so an approval binds across faces — from the gateway, the capability, the hook and the
    control plane's HTTP route for it."""
    identity = Identity(tenant="acme", role=role)
    settings = http_settings(tmp_path, role)
    g_engine = AgentOps()
    gw = gateway_over_cluster(settings, g_engine)
    async with Client(gw) as c:
        await c.call_tool(tool, args, raise_on_error=False)
    gateway = g_engine.decisions[-1] if g_engine.decisions else None
    a_engine = AgentOps()
    await agent_for(a_engine, identity, tool, args).run("do it")
    agent = a_engine.decisions[-1] if a_engine.decisions else None  # None: hidden from the model
    h_engine = AgentOps()
    await pre_tool_use(h_engine, {"tool_name": f"mcp__auraison__{tool}", "tool_input": args}, identity)
    hook = h_engine.decisions[-1]
    x_engine = AgentOps()
    res = await http_call(build_app(Runtime(settings, engine=x_engine)), role, method, path, body)
    (http,) = x_engine.decisions
    assert gateway is not None and http.point == "http" and http.tool == tool
    agent_kind = agent.kind if agent else "deny"
    assert gateway.kind == agent_kind == hook.kind == http.kind, (gateway, agent, hook, http)
    kept = {r.args_hash for r in (gateway, agent, hook, http) if r is not None}
    assert len(kept) == 1 and (http.kind == "allow") == (kept == {""})
    expected = {"deny": 403, "needs_approval": 409}.get(http.kind)
    assert res.status_code == expected if expected else res.status_code not in (403, 409), res.text
    if http.kind != "allow":
        assert res.json()["decision"]["kind"] == http.kind and http.reason in res.json()["detail"]


async def test_an_approval_asked_over_mcp_binds_the_identical_http_request(tmp_path: Path) -> None:
    """One engine, two faces: an agent's MCP call opens the approval, a human approves it, and
    the same call over HTTP is the one it lets through — once."""
    settings = http_settings(tmp_path, "agent")
    engine = AgentOps()
    gw = gateway_over_cluster(settings, engine)
    async with Client(gw) as c:
        asked = await c.call_tool("cluster_job_stop", {"submission_id": "j-9"}, raise_on_error=False)
    assert asked.is_error
    (approval,) = await engine.approvals.list("acme")
    assert approval.status == "pending" and approval.tool == "cluster_job_stop"
    alice = Identity(tenant="acme", role="owner", subject="alice", kind="human")
    await engine.approvals.decide(approval.id, True, by=alice)
    app = build_app(Runtime(settings, engine=engine))
    ran = await http_call(app, "agent", "POST", "/jobs/j-9/stop")
    assert ran.status_code == 404, ran.text  # it ran: the domain looked for the job (there is none)
    assert (await engine.approvals.get(approval.id)).status == "used"
    again = await http_call(app, "agent", "POST", "/jobs/j-9/stop")
    assert again.status_code == 409 and again.json()["approval_id"] not in (None, approval.id)


# One request per route; the identity chosen so that nothing outside the sandbox happens
# (a viewer may not start or stop clusters: denied before anything runs).
ROUTES: list[tuple[str, str, str, Any]] = [
    ("viewer", "GET", "/clusters", None),
    ("viewer", "GET", "/clusters/local", None),
    ("viewer", "POST", "/clusters/local/start", None),
    ("viewer", "POST", "/clusters/local/stop", None),
    ("viewer", "GET", "/manifests/ros-dev-gpu", None),
    ("viewer", "POST", "/jobs", {"entrypoint": "true", "submission_id": "r-1"}),
    ("agent", "GET", "/jobs?limit=3", None),
    ("agent", "GET", "/jobs/r-1", None),
    ("agent", "GET", "/jobs/r-1/logs?tail_bytes=2048", None),
    ("agent", "POST", "/jobs/r-1/stop", None),
    ("viewer", "POST", "/experiments", {"name": "e", "tags": {"k": "v"}}),
    ("viewer", "POST", "/experiments/exp_000000000000/runs", {"params": {"lr": 0.1}}),
    ("viewer", "POST", "/runs/run_000000000000/params", {"lr": 0.1}),
    ("viewer", "POST", "/runs/run_000000000000/metrics", {"metrics": [{"key": "loss", "value": 1.0}]}),
    ("viewer", "POST", "/runs/run_000000000000/end", {"status": "failed"}),
    ("agent", "GET", "/experiments/exp_000000000000/compare?metric=loss", None),
    ("viewer", "POST", "/agents", {"spec": {"name": "nav"}}),
    ("agent", "GET", "/agents", None),
    ("agent", "GET", "/agents/agt_0000000000000000", None),
    ("viewer", "POST", "/agents/agt_0000000000000000/start", {"quota_tool_calls": 5}),
    ("viewer", "POST", "/agents/agt_0000000000000000/heartbeat", None),
    ("viewer", "POST", "/agents/agt_0000000000000000/stop", {"used_tool_calls": 1}),
    ("agent", "POST", "/agents/agt_0000000000000000/runs", {"prompt": "go to the kitchen"}),
    ("agent", "GET", "/agents/agt_0000000000000000/runs?limit=5", None),
    ("agent", "GET", "/runs/arun_0000000000000000", None),
    ("viewer", "POST", "/runs/arun_0000000000000000/stop", None),
    # the console's routes: the other planes' tools, decided the same way
    ("agent", "GET", "/robot/state", None),
    ("agent", "GET", "/robot/map", None),
    ("agent", "POST", "/robot/stop", None),
    ("agent", "GET", "/approvals", None),
    ("operator", "POST", "/approvals/apr_0000000000000000/decide", {"approve": True, "reason": "ok"}),
    ("agent", "GET", "/usage/quotas", None),
    ("agent", "GET", "/usage/invoice", None),
    ("agent", "GET", "/traces", None),
    ("agent", "GET", "/traces/0af7651916cd43dd8448eb211c80319c", None),
    ("agent", "GET", "/experiments", None),
    ("agent", "GET", "/experiments/exp_000000000000/plot.png?metric=loss", None),
]
UNDECIDED = {("GET", "/whoami")}  # says only who the bearer token proves: no tool, nothing acts


async def test_every_route_is_decided_as_its_mcp_tool(tmp_path: Path) -> None:
    """Reads too: every route leaves a decision (point "http") and an execute_tool span, under
    the name of a real cluster MCP tool, with arguments that tool takes, and the caller's trace
    context (traceparent) as the span's parent."""
    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    engine = AgentOps(tracer_provider=provider, record_arguments=True)  # opted in: checked below
    settings = http_settings(tmp_path, "agent")
    app = build_app(Runtime(settings, engine=engine))
    operations = {
        (method.upper(), path): op.get(TOOL)
        for path, item in app.openapi()["paths"].items()
        for method, op in item.items()
    }
    assert {route for route, tool in operations.items() if tool is None} == UNDECIDED
    operations = {route: tool for route, tool in operations.items() if tool is not None}
    async with Runtime(settings) as rt, Client(rt.gateway()) as c:
        schemas = {t.name: t.input_schema for t in await c.list_tools()}
    parent = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"
    for role, method, path, body in ROUTES:
        res = await http_call(app, role, method, path, body, {"traceparent": parent})
        assert res.status_code < 500 or res.status_code == 503, (path, res.text)
    tools = [d.tool for d in engine.decisions]
    assert {d.point for d in engine.decisions} == {"http"} and len(tools) == len(ROUTES)
    assert sorted(tools) == sorted(operations.values())  # each route once, none left out
    # every route is an MCP tool of that name; an agent's listing hides the people-only ones
    assert set(tools) - set(schemas) == set(tools) & HUMAN_ONLY
    schemas["approvals_decide"] = {"properties": {"approval_id": {}, "approve": {}, "reason": {}}}
    spans = [s for s in exporter.get_finished_spans() if s.name.startswith("execute_tool ")]
    assert len(spans) == len(ROUTES)
    import json

    for span in spans:
        tool = span.attributes["gen_ai.tool.name"]
        assert span.attributes["auraison.enforcement_point"] == "http"
        assert f"{span.parent.trace_id:032x}" == parent.split("-")[1]
        sent = json.loads(span.attributes["gen_ai.tool.call.arguments"])
        assert set(sent) <= set(schemas[tool]["properties"]), (tool, sent)


async def test_unknown_bearer_tokens_never_reach_the_engine(tmp_path: Path) -> None:
    engine = AgentOps()
    app = build_app(Runtime(http_settings(tmp_path, "agent"), engine=engine))
    assert (await http_call(app, "nobody", "GET", "/jobs")).status_code == 401
    assert not engine.decisions
