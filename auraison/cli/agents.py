"""``auraison run | chat | demo | replay``: the agents, for people, showing every tool call as it
happens (the agents themselves live in ``auraison.agents``)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from auraison.errors import UserError

from .output import JsonOpt, console, err_console, print_json, show, show_one
from .state import get_settings

if TYPE_CHECKING:  # the control plane loads with the agents commands that use it
    from auraison.mcp_servers.cluster.models import AgentRunInfo

_last_progress = [-100.0]


def _print_progress(done: float, total: float | None, message: str) -> None:
    """Navigation feedback, every 10 % (the robot server reports several times a second)."""
    pct = 100 * done / total if total else 0.0
    if total and abs(pct - _last_progress[0]) < 10:
        return
    _last_progress[0] = pct
    console().print(f"    … {pct:3.0f}% {message}", highlight=False, markup=False, style="dim")


def _print_call(name: str, args: dict, ok: bool, result: object) -> None:
    mark = "[green]✓[/]" if ok else "[yellow]✗[/]"
    text = json.dumps(result, default=str) if ok else str(result).splitlines()[0]
    console().print(f"  {mark} ", end="")
    console().print(f"{name}({json.dumps(args)}) → {text[:160]}", highlight=False, markup=False)
    images = result.get("images") if ok and isinstance(result, dict) else None
    for path in images or ():
        console().print(f"    image saved: {path}", highlight=False, markup=False, style="dim")


AgentArg = Annotated[str, typer.Argument(help="navigator, operator or analyst")]


def run_agent(
    agent: AgentArg,
    prompt: Annotated[str, typer.Argument(help="what to do")],
    tenant: Annotated[str | None, typer.Option(help="run as this tenant")] = None,
    record: Annotated[Path | None, typer.Option(help="write a replayable recording here")] = None,
    bag: Annotated[
        Path | None, typer.Option(help="record the robot as a ROS 2 bag (.mcap) here, into the lake")
    ] = None,
) -> None:
    """Run an agent once (programmatic run), showing its tool calls as they happen."""
    from auraison.agents import run_sync

    res = run_sync(
        agent,
        prompt,
        settings=get_settings(),
        tenant=tenant,
        record=record,
        on_call=_print_call,
        on_progress=_print_progress,
        bag=bag,
    )
    console().print(res.output, highlight=False, markup=False)
    if res.bag is not None:
        lake = res.bag.get("lake")
        where = f"twin run {lake['run_id']}" if lake else f"not in the lake: {res.bag.get('lake_error')}"
        console().print(f"[dim]bag {res.bag['summary']['path']} ({where})[/]", highlight=False)
    console().print(
        f"[dim]model {res.model}; {res.usage['tool_calls']} tool calls; trace {res.trace_id}"
        + (f"; recording {res.recording}" if res.recording else "")
        + "[/]"
    )


def chat(
    agent: Annotated[str, typer.Option(help="navigator, operator or analyst")] = "operator",
    images: Annotated[Path, typer.Option(help="where images from tools are saved")] = Path("out/chat"),
) -> None:
    """Chat with an agent: tool calls shown as they happen, images saved, approvals inline."""
    import asyncio

    from pydantic_ai import DeferredToolResults

    from auraison.agents import run
    from auraison.principals import local_person
    from auraison.runtime import Runtime

    console().print(f"[bold]auraison chat[/] with the {agent} (empty line or Ctrl-D to leave)")

    async def ask(text: str) -> str:
        return await asyncio.to_thread(console().input, text)

    async def session() -> None:
        # One event loop and one runtime for the whole chat: the robot connection and the quota
        # grants live across turns, and everything is closed (grants settled) when it ends.
        async with Runtime(get_settings()) as rt:
            history: list = []

            async def turn(prompt: str, deferred: DeferredToolResults | None = None):
                nonlocal history
                res = await run(
                    agent,
                    prompt,
                    runtime=rt,
                    history=history or None,
                    on_call=_print_call,
                    image_dir=images,
                    deferred=deferred,
                )
                history = res.messages
                return res

            while True:
                try:
                    prompt = (await ask("[bold cyan]you>[/] ")).strip()
                except (EOFError, KeyboardInterrupt):
                    break
                if not prompt:
                    break
                res = await turn(prompt)
                while res.pending is not None:  # the agent stopped for a person: decide inline, resume
                    console().print(res.output, highlight=False, markup=False)
                    person = local_person(rt.settings)  # the person typing the answers
                    answers, metadata = {}, {}
                    for call in res.pending.approvals:
                        approval_id = res.pending.metadata.get(call.tool_call_id, {}).get("approval_id")
                        answer = await ask(
                            f"approve {call.tool_name} {call.args_as_json_str()} ({approval_id})? [y/N] "
                        )
                        answers[call.tool_call_id] = answer.strip().lower() in ("y", "yes")
                        if not answers[call.tool_call_id] and approval_id:
                            await rt.engine.approvals.decide(approval_id, False, by=person)
                        metadata[call.tool_call_id] = {"approved_by": person.model_dump(mode="json")}
                        verdict = "approved" if answers[call.tool_call_id] else "denied"
                        console().print(f"{approval_id} {verdict}")
                    res = await turn("", DeferredToolResults(approvals=answers, metadata=metadata))
                console().print(res.output, highlight=False, markup=False)

    asyncio.run(session())


def demo(
    place: Annotated[str, typer.Option("--to", help="named place to drive to")] = "kitchen",
    world: Annotated[str, typer.Option(help="maze_small, maze_medium, maze_large or a file")] = "maze_small",
    out: Annotated[Path, typer.Option(help="folder for the PNG")] = Path("out"),
) -> None:
    """An agent drives the simulated TurtleBot to a place, safely and traced; writes a PNG."""
    import asyncio

    from auraison.agents.demo import demo as run_demo

    console().print(
        f"[bold]auraison demo[/]: the navigator agent drives the TurtleBot in {world} to the {place}"
    )
    res = asyncio.run(
        run_demo(get_settings(), place, world, out_dir=out, on_call=_print_call, on_progress=_print_progress)
    )
    console().print(res.run.output, highlight=False, markup=False)
    console().print(f"model: {res.run.model}; {res.distance_m} m driven; trace id {res.run.trace_id}")
    console().print(f"map with the driven path: {res.png}")
    where = f"`auraison traces show {res.run.trace_id}`" if res.run.trace_id else str(res.trace_file)
    console().print(f"trace spans: {res.trace_file if not get_settings().agentops.lake_sink else where}")


def replay(
    file: Annotated[Path, typer.Argument(help="a recording made with --record")],
    mode: Annotated[str, typer.Option(help="full (model+tools from the file) or live-tools")] = "full",
) -> None:
    """Replay a recording; any divergence fails with a diff against it."""
    from auraison.agents import run_sync
    from auraison.agents.recording import Recording, ReplayMismatch

    if mode not in ("full", "live-tools"):
        raise UserError(f"unknown mode {mode!r}", "use full or live-tools")
    rec = Recording.load(file)
    try:
        res = run_sync(rec.agent, rec.prompt, settings=get_settings(), replay=rec, mode=mode)  # type: ignore[arg-type]
    except ReplayMismatch as exc:
        err_console().print(f"[red]replay diverged:[/] {exc}", highlight=False)
        raise typer.Exit(1) from None
    speed = rec.wall_time_s / max(res.wall_time_s, 1e-6)
    console().print(
        f"replay ok ({mode}): {len(rec.tool_calls)} tool calls matched in {res.wall_time_s:.3f} s "
        f"(recorded {rec.wall_time_s:.1f} s, {speed:.0f}× faster)"
    )
    console().print(res.output, highlight=False, markup=False)


# ------------------------------------------------------------------------------------------
# `auraison agents …`: registered agents and their runs (the control plane starts them as
# supervised jobs; see mcp_servers/cluster/runs.py). Acting commands run as the MCP tool of the
# same name, under the one engine (point "cli"); reads ask the control plane directly.

agents_app = typer.Typer(
    help="Registered agents and their runs: register, list, run, runs, status, stop.", no_args_is_help=True
)
AgentRef = Annotated[str, typer.Argument(help="an agent id (agt_…) or the name it was registered under")]
RunArg = Annotated[str, typer.Argument(help="a run id (arun_…)")]
RUN_COLUMNS = ["run_id", "agent", "kind", "where", "status", "tool_calls", "trace_id"]


def _agent_id(ref: str) -> str:
    """An agent id, from an id or a registered name (ids are per tenant and name)."""
    from auraison.mcp_servers.cluster.agents import agent_id_for

    if ref.startswith("agt_"):
        return ref
    return agent_id_for(get_settings().agentops.tenant, ref)


@agents_app.command("register")
def agents_register(
    name: Annotated[str, typer.Argument(help="the agent's name (lower case, digits, . _ -)")],
    kind: Annotated[str, typer.Option(help="pydantic-ai or claude-code")] = "pydantic-ai",
    definition: Annotated[
        str | None, typer.Option(help="navigator, operator or analyst (Pydantic AI agents)")
    ] = None,
    cluster: Annotated[str | None, typer.Option(help="run on this Ray cluster (default: locally)")] = None,
    quota: Annotated[float, typer.Option(help="tool calls granted to each run")] = 50,
    as_json: JsonOpt = False,
) -> None:
    """Register (or update) an agent in the settings' tenant."""
    from auraison.mcp_servers.cluster.models import AgentSpec

    from .control import _act

    fields = {
        "name": name,
        "kind": kind,
        "definition": definition,
        "cluster": cluster,
        "quota_tool_calls": quota,
    }
    spec = AgentSpec.model_validate({k: v for k, v in fields.items() if v is not None})
    args = {"spec": spec.model_dump(mode="json", exclude_defaults=True) | {"name": name}}
    info = _act("cluster_agent_register", args, lambda p, w: p.agent_register(w, spec))
    show_one(info, as_json, f"agent {info.name}")


@agents_app.command("list")
def agents_list(as_json: JsonOpt = False) -> None:
    """The tenant's registered agents."""
    from .control import _plane

    plane, who = _plane()
    show(plane.agent_list(who), ["agent_id", "name", "version", "state"], as_json, "agents")


@agents_app.command("run")
def agents_run(
    agent: AgentRef,
    prompt: Annotated[str, typer.Option(help="what the agent is asked to do")] = "Report your status.",
    quota: Annotated[float | None, typer.Option(help="tool calls granted (default: the agent's)")] = None,
    wait: Annotated[bool, typer.Option("--wait", help="follow the run until it ends")] = False,
    timeout: Annotated[float, typer.Option(min=1, help="with --wait: give up after this many seconds")] = 600,
    as_json: JsonOpt = False,
) -> None:
    """Start a run of a registered agent as a supervised job (a local subprocess, or a Ray job
    when its spec names a cluster); with --wait, follow it to its end (exit 1 unless it
    succeeded). The run goes on if this command ends first."""
    from auraison.mcp_servers.cluster.models import AgentRunRequest, RunStatus

    from .control import _act, _plane

    agent_id = _agent_id(agent)
    req = AgentRunRequest(prompt=prompt, quota_tool_calls=quota)
    args = {"agent_id": agent_id, "run": req.model_dump(mode="json", exclude_none=True)}
    info = _act("cluster_agent_run", args, lambda p, w: p.agent_run(w, agent_id, req))
    if wait:
        if not as_json:
            console().print(f"{info.run_id}: {info.status} ({info.where})", highlight=False)
        plane, who = _plane()
        info = plane.runs.wait(who.tenant, info.run_id, timeout)
    _show_run(info, as_json)
    if wait and info.status != RunStatus.SUCCEEDED:
        raise typer.Exit(1)


def _show_run(info: AgentRunInfo, as_json: bool) -> None:
    if as_json:
        print_json(info)
        return
    console().print(f"{info.run_id}: {info.status} ({info.kind}, {info.where})", highlight=False)
    if info.status.is_terminal():
        if info.output:
            console().print(info.output, highlight=False, markup=False)
        console().print(
            f"[dim]{info.tool_calls} tool calls; {info.input_tokens}+{info.output_tokens} tokens; "
            f"model {info.model}; trace {info.trace_id}"
            + (f"; {info.message}" if info.message else "")
            + "[/]"
        )


@agents_app.command("runs")
def agents_runs(
    agent: Annotated[str | None, typer.Argument(help="only this agent's runs (id or name)")] = None,
    limit: Annotated[int, typer.Option(min=1, max=500, help="at most this many")] = 50,
    as_json: JsonOpt = False,
) -> None:
    """The tenant's agent runs, newest first."""
    from .control import _plane

    plane, who = _plane()
    rows = plane.agent_runs(who, _agent_id(agent) if agent else None, limit)
    show(rows, RUN_COLUMNS, as_json, "agent runs")


@agents_app.command("status")
def agents_status(run_id: RunArg, as_json: JsonOpt = False) -> None:
    """A run's status, tokens, tool calls, trace id and (once ended) output."""
    from .control import _plane

    plane, who = _plane()
    _show_run(plane.agent_run_status(who, run_id), as_json)


@agents_app.command("stop")
def agents_stop(run_id: RunArg, as_json: JsonOpt = False) -> None:
    """Stop a run: SIGTERM to its agent, SIGKILL after a grace; it ends STOPPED."""
    from .control import _act

    info = _act("cluster_agent_run_stop", {"run_id": run_id}, lambda p, w: p.agent_run_stop(w, run_id))
    _show_run(info, as_json)
