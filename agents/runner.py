"""Programmatic agent runs: one function for the CLI, the chat, the demo and tests.

Every tool goes through the in-process gateway (AgentOps enforces, traces, limits); the
model is Claude when ``ANTHROPIC_API_KEY`` is set, else the offline stand-in. A run can be
recorded, and a recording replayed (see ``recording.py``).
"""

from __future__ import annotations

import asyncio
import contextlib
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

import structlog
from fastmcp import FastMCP
from pydantic_ai import Agent, DeferredToolRequests
from pydantic_ai.mcp import MCPToolset
from pydantic_ai.messages import ModelMessagesTypeAdapter
from pydantic_ai.usage import UsageLimits

from auraison.agentops.capability import agentops_capabilities
from auraison.agentops.decision import Identity
from auraison.agentops.engine import AgentOps
from auraison.errors import AuraisonError, UserError
from auraison.settings import Settings, load_settings

from .offline import offline_model
from .recording import (
    ComparingToolset,
    DeferringToolset,
    Recording,
    RecordingToolset,
    ReplayMismatch,
    ReplayToolset,
    replay_model,
    schema_drift,
)

if TYPE_CHECKING:
    from auraison.runtime import Runtime

log = structlog.get_logger(__name__)

AGENTS = {
    "navigator": ("navigator.md", ("robot_*", "world_*", "approvals_list")),
    "operator": ("operator.md", ("*",)),
    "analyst": ("analyst.md", ("lake_*", "approvals_list")),
}
INSTRUCTIONS = Path(__file__).parent / "instructions"


def instructions_for(agent: str) -> str:
    """The agent's instructions: its definition file without the YAML frontmatter.

    Each file in ``instructions/`` is also a Claude Code subagent (frontmatter: name,
    description, tools), so one definition serves both runtimes; the frontmatter is Claude
    Code's metadata, not something the model should read as instructions."""
    text = (INSTRUCTIONS / AGENTS[agent][0]).read_text()
    if text.startswith("---\n") and (end := text.find("\n---\n", 4)) != -1:
        text = text[end + 5 :]
    return text.lstrip("\n")


OnCall = Callable[[str, dict[str, Any], bool, Any], None]
OnProgress = Callable[[float, float | None, str], None]


@dataclass
class RunResult:
    output: str
    model: str
    usage: dict[str, int]
    trace_id: str | None
    tool_calls: list[dict[str, Any]] = field(default_factory=list)
    recording: Path | None = None
    wall_time_s: float = 0.0
    pending: Any | None = None
    """``DeferredToolRequests`` when the run stopped for human approvals (ids in ``metadata``)."""
    messages: list[Any] = field(default_factory=list)
    """The whole conversation so far (pass it back as ``history`` to continue it)."""
    bag: dict[str, Any] | None = None
    """With ``bag=``: the ROS 2 bag's summary and, when the lake took it, its dataset and twin run."""


def model_for(settings: Settings) -> tuple[Any, str]:
    if settings.model.provider == "anthropic" and settings.anthropic_api_key is not None:
        return f"anthropic:{settings.model.name}", f"anthropic:{settings.model.name}"
    return offline_model(), "offline stand-in"


def _toolset(gateway: FastMCP, agent: str, on_progress: OnProgress | None = None) -> Any:
    import fnmatch

    from fastmcp import Client

    async def progress(done: float, total: float | None, message: str | None) -> None:
        if on_progress is not None:
            on_progress(done, total, message or "")

    globs = AGENTS[agent][1]
    client = Client(gateway, progress_handler=progress)  # e.g. Nav2 feedback while navigating
    return MCPToolset(client).filtered(lambda ctx, t: any(fnmatch.fnmatchcase(t.name, g) for g in globs))


async def run(
    agent: str,
    prompt: str,
    *,
    settings: Settings | None = None,
    tenant: str | None = None,
    record: Path | None = None,
    replay: Recording | None = None,
    mode: Literal["full", "live-tools"] = "full",
    engine: AgentOps | None = None,
    runtime: Runtime | None = None,
    servers: dict[str, FastMCP] | None = None,
    on_call: OnCall | None = None,
    model: Any | None = None,
    history: list[Any] | None = None,
    image_dir: Path | None = None,
    deferred: Any | None = None,
    on_progress: OnProgress | None = None,
    bag: Path | None = None,
) -> RunResult:
    """Run ``agent`` on ``prompt`` through the gateway; optionally record, or replay a recording.

    ``deferred``: a ``DeferredToolResults`` answering the approvals a previous run returned
    (pass that run's ``messages`` as ``history``); then the approved calls run.
    ``runtime``: the process's runtime to run in (kept open, e.g. across chat turns); without
    one the run builds its own (``engine`` and ``servers`` may replace parts of it) and closes it
    however the run ends.
    ``bag``: record the robot session as a ROS 2 bag (MCAP) there — the robot's topics, the tool
    calls and the world plane's rollouts — and register it in the lake (dataset + digital twin)."""
    if agent not in AGENTS:
        raise UserError(f"unknown agent {agent!r}", f"choose from {', '.join(AGENTS)}")
    from auraison.runtime import Runtime

    if runtime is not None and (tenant or engine is not None or settings is not None):
        raise UserError(
            "a run takes a runtime, or settings (with a tenant or an engine), not both",
            "build the runtime from those settings: Runtime(settings, engine=…)",
        )
    if runtime is not None:
        settings = runtime.settings
    settings = settings or load_settings()
    if tenant:
        settings = settings.model_copy(
            update={"agentops": settings.agentops.model_copy(update={"tenant": tenant})}
        )
    rt = runtime if runtime is not None else Runtime(settings, engine=engine)
    engine = rt.engine
    redact = engine.redactor()
    instructions = instructions_for(agent)
    identity = Identity(
        tenant=settings.agentops.tenant, role=settings.agentops.role, subject=f"agent:{agent}"
    )
    # The runtime's planes hold connections (rosbridge, the lake) and its ledger holds quota
    # grants: a runtime the run built is closed and settled however the run ends — a model
    # error, a replay mismatch or a cancelled task included.
    async with contextlib.AsyncExitStack() as held:
        if rt is not runtime:
            held.push_async_callback(rt.aclose)
        if replay is not None and mode == "full":
            model, model_name = replay_model(replay), f"replay of {replay.model}"
            toolset: Any = ReplayToolset(replay)
        else:
            gateway = rt.gateway(servers=servers)
            inner = _toolset(gateway, agent, on_progress)
            if replay is not None:
                current = await _schemas(gateway)
                if (drift := schema_drift(replay, current)) is not None:
                    raise ReplayMismatch(f"the servers' tools drifted from the recording:\n{drift}")
                model, model_name = replay_model(replay), f"replay of {replay.model} (live tools)"
                toolset = ComparingToolset(inner, rec=replay, redact=redact)
            else:
                model, model_name = (
                    (model, getattr(model, "model_name", str(model))) if model else model_for(settings)
                )
                toolset = inner
        deferring = DeferringToolset(toolset, approvals=engine.approvals, tenant=settings.agentops.tenant)
        if bag is not None:
            bag_rec = await _start_bag(rt, bag, held)
            on_call = _both(bag_rec.tool_call, on_call)
        recorder = RecordingToolset(deferring, redact=redact, image_dir=image_dir, on_call=on_call)
        # Pydantic AI's instrumentation makes the run's spans (invoke_agent → chat, execute_tool →
        # the MCP call → the gateway's decision → the plane); the capability adds the tenant.
        instrumentation, cap = agentops_capabilities(
            engine, identity, agent, enforce_tools=False, content=settings.agentops.record_content
        )
        the_agent = Agent(
            model,
            instructions=instructions,
            toolsets=[recorder],
            capabilities=[instrumentation, cap],
            name=agent,
            output_type=[str, DeferredToolRequests],
        )
        t0 = time.perf_counter()
        result = await the_agent.run(
            None if deferred is not None else (replay.prompt if replay is not None else prompt),
            usage_limits=UsageLimits(request_limit=2000),
            message_history=history,
            deferred_tool_results=deferred,
        )
        trace_id = cap.trace_id
        wall = time.perf_counter() - t0
        # Still inside: usage is metered while the runtime's management store is open.
        if isinstance(toolset, ReplayToolset | ComparingToolset) and toolset.position != len(
            replay.tool_calls
        ):  # type: ignore[union-attr]
            raise ReplayMismatch(
                f"the replay made {toolset.position} tool calls; the recording has {len(replay.tool_calls)}"
            )  # type: ignore[union-attr]
        pending = result.output if isinstance(result.output, DeferredToolRequests) else None
        usage = result.usage
        out = RunResult(
            output=_describe_pending(pending) if pending else str(result.output),
            pending=pending,
            model=model_name,
            trace_id=trace_id,
            wall_time_s=round(wall, 3),
            usage={
                "requests": usage.requests,
                "input_tokens": usage.input_tokens or 0,
                "output_tokens": usage.output_tokens or 0,
                "tool_calls": len(recorder.calls),
            },
            tool_calls=[c.model_dump() for c in recorder.calls],
            messages=result.all_messages(),
        )
        if replay is None and settings.agentops.quotas == "management":
            await _meter_model_usage(rt, agent, model_name, out, trace_id)
        if bag is not None:
            out.bag = await _finish_bag(rt, bag_rec, identity.tenant)
    if record is not None and replay is None:
        rec = Recording(
            agent=agent,
            prompt=prompt,
            model=model_name,
            tenant=identity.tenant,
            wall_time_s=wall,
            tool_schemas=recorder.schemas,
            tool_calls=recorder.calls,
            messages=ModelMessagesTypeAdapter.dump_python(result.all_messages(), mode="json"),
        )
        out.recording = rec.save(record)
    return out


async def _start_bag(rt: Runtime, out: Path, held: contextlib.AsyncExitStack) -> Any:
    """A bag recorder on the run's robot, hearing the world plane's rollouts until the run ends."""
    from auraison.mcp_servers.robot.recording import BagRecorder

    s = rt.settings.robot
    rec = await BagRecorder(s.rosbridge_url, out, world=s.world, places=rt.places).start()
    rt.world.observers.append(rec.observe)
    held.callback(rt.world.observers.remove, rec.observe)
    held.push_async_callback(rec.stop)  # closed however the run ends (a second stop is a no-op)
    return rec


async def _finish_bag(rt: Runtime, rec: Any, tenant: str) -> dict[str, Any]:
    """Close the bag and register it; a lake that is down keeps the bag and says so."""
    from auraison.lakehouse.twin import register_recording

    summary = await rec.stop()
    out: dict[str, Any] = {"summary": summary.model_dump(mode="json")}
    try:
        out["lake"] = await asyncio.to_thread(
            register_recording, rt.lake, rt.settings, tenant, Path(summary.path)
        )
    except AuraisonError as exc:
        log.warning("recording not registered in the lake", bag=summary.path, error=str(exc))
        out["lake_error"] = str(exc)
    return out


def _both(first: OnCall, second: OnCall | None) -> OnCall:
    def call(name: str, args: dict[str, Any], ok: bool, result: Any) -> None:
        first(name, args, ok, result)
        if second is not None:
            second(name, args, ok, result)

    return call


async def _meter_model_usage(
    rt: Runtime, agent: str, model: str, out: RunResult, run_key: str | None
) -> None:
    """Count the run's model tokens (and, for models genai-prices knows, their cost) against the
    tenant in the management plane — once per run (the trace id is the idempotency key).
    Metering never fails a run: a management outage is logged and the usage is not counted."""
    from auraison.identity import Identity

    tenant = rt.settings.agentops.tenant
    try:
        billing = await asyncio.to_thread(lambda: rt.billing)  # the runtime's one store
        await asyncio.to_thread(
            billing.record_model_usage,
            Identity(tenant=tenant, role="agent", user_id=agent),
            tenant,
            f"run:{run_key or uuid.uuid4().hex}",
            model.removeprefix("anthropic:"),
            out.usage["input_tokens"],
            out.usage["output_tokens"],
            agent,
        )
    except AuraisonError as exc:
        log.warning("model usage not metered", agent=agent, error=str(exc))


async def _schemas(gateway: FastMCP) -> dict[str, dict[str, Any]]:
    from fastmcp import Client

    async with Client(gateway) as c:
        return {t.name: t.input_schema for t in await c.list_tools()}


def _describe_pending(pending: DeferredToolRequests) -> str:
    items = []
    for c in pending.approvals:
        approval = pending.metadata.get(c.tool_call_id, {}).get("approval_id")
        items.append(f"{c.tool_name}({c.args_as_json_str()}) needs approval {approval}")
    return "Waiting for a human: " + "; ".join(items)


def run_sync(agent: str, prompt: str, **kwargs: Any) -> RunResult:
    return asyncio.run(run(agent, prompt, **kwargs))
