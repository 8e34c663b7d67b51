"""``auraison run | chat | demo | replay``: the agents, for people, showing every tool call as it
happens (the agents themselves live in ``auraison.agents``)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer

from auraison.errors import UserError

from .output import console, err_console
from .state import get_settings

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
    )
    console().print(res.output, highlight=False, markup=False)
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
    console().print(f"trace spans: {res.trace_file}")


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
