"""``auraison control …`` (serve the HTTP API, render KubeRay manifests), ``auraison jobs …``
and ``auraison clusters …``: the control plane for people, as the settings' tenant."""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, TypeVar

import typer

from .output import JsonOpt, console, print_json, show, show_one
from .state import get_settings

if TYPE_CHECKING:  # imported by the commands: Ray, SQLAlchemy and pydantic are not needed for --help
    from auraison.identity import Identity
    from auraison.mcp_servers.cluster.service import ControlPlane

T = TypeVar("T")

control_app = typer.Typer(help="The control plane: its HTTP API and KubeRay manifests.", no_args_is_help=True)
jobs_app = typer.Typer(help="Ray jobs: submit, watch, logs, stop.", no_args_is_help=True)
clusters_app = typer.Typer(
    help="Ray clusters: list, status, start/stop the local head.", no_args_is_help=True
)

SubmissionArg = Annotated[str, typer.Argument(help="the job's submission id")]
ClusterOpt = Annotated[str, typer.Option(help="a cluster name (see `clusters list`)")]
ClusterNameOpt = Annotated[str, typer.Option("--name", help="a cluster name (see `clusters list`)")]


def _plane() -> tuple[ControlPlane, Identity]:
    """The control plane of this process's runtime, and who runs the command
    (``auraison.cli.act.caller``)."""
    from auraison.runtime import Runtime

    from .act import caller

    return Runtime(get_settings()).control, caller()


def _act(tool: str, args: dict[str, Any], fn: Callable[..., T]) -> T:
    """An acting command as the MCP tool of the same name, under the one engine
    (``auraison.cli.act.act``); ``fn(plane, who)`` does the work."""
    from .act import act

    return act(tool, args, lambda rt, who: fn(rt.control, who))


def _shared_queue(plane: ControlPlane):
    from auraison.errors import UserError
    from auraison.mcp_servers.cluster.queue import build_queue

    if plane.settings.bus.backend == "inprocess":
        raise UserError(
            "queued dispatch needs a queue other processes can reach",
            "set AURAISON_BUS__BACKEND=redis (or nats), or submit directly with `auraison jobs submit`",
        )
    return build_queue(plane.settings)


@control_app.command("serve")
def control_serve(
    host: Annotated[str, typer.Option(help="HTTP bind address")] = "127.0.0.1",
    port: Annotated[int, typer.Option(min=1, max=65535, help="HTTP port")] = 8710,
    reconcile: Annotated[bool, typer.Option(help="refresh job states and send webhooks")] = True,
) -> None:
    """Serve the control plane's HTTP API (OpenAPI at /docs; bearer tokens or API keys)."""
    import uvicorn

    from auraison.mcp_servers.cluster.http_api import build_app
    from auraison.runtime import Runtime

    console().print(f"control plane API on http://{host}:{port} (OpenAPI: /docs; console: /console/)")
    app = build_app(Runtime(get_settings()), reconcile=reconcile)  # its lifespan closes the runtime
    # A console's open robot stream never ends by itself: give it 3 s once Ctrl-C asks to stop.
    uvicorn.run(app, host=host, port=port, log_level="warning", timeout_graceful_shutdown=3)


@control_app.command("dispatch")
def control_dispatch(
    name: Annotated[str, typer.Option(help="this dispatcher's consumer name")] = "dispatcher",
) -> None:
    """Run a dispatcher: lease queued jobs (bus.backend redis or nats) and submit them to Ray,
    idempotently by submission id. Ctrl-C stops it."""
    import asyncio

    from auraison.mcp_servers.cluster.dispatch import Dispatcher

    plane, _ = _plane()
    queue = _shared_queue(plane)
    console().print(f"dispatcher {name} on the {plane.settings.bus.backend} queue (Ctrl-C stops)")

    async def loop() -> None:
        dispatcher = Dispatcher(queue, plane.jobs, name)
        backoff = 0.5
        while True:
            try:
                info = await dispatcher.run_once()
            except Exception as exc:  # the queue is away (NATS/Redis cut): wait for it, then go on
                first = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
                console().print(f"queue unreachable ({first}); retrying in {backoff:g} s")
                await asyncio.sleep(backoff)
                backoff = min(backoff * 2, 5.0)
                continue
            backoff = 0.5
            if info is not None:
                console().print(f"{info.submission_id}: {info.status}")

    asyncio.run(loop())


@control_app.command("manifests")
def control_manifests(
    out: Annotated[Path, typer.Option(help="folder for the RayCluster YAML files")] = Path("infra/kuberay"),
) -> None:
    """Render the KubeRay RayCluster manifests (ros-dev-gpu, torch-dev-gpu), validated."""
    from auraison.mcp_servers.cluster.kuberay import write_all

    for path in write_all(out):
        console().print(f"wrote {path}")


@jobs_app.command("submit")
def jobs_submit(
    entrypoint: Annotated[str, typer.Argument(help="the shell command the job runs")],
    submission_id: Annotated[str | None, typer.Option("--id", help="idempotency key")] = None,
    cluster: ClusterOpt = "local",
    working_dir: Annotated[Path | None, typer.Option(help="uploaded as the job's working_dir")] = None,
    num_cpus: Annotated[float | None, typer.Option(help="CPUs the job needs")] = None,
    num_gpus: Annotated[float | None, typer.Option(help="GPUs the job needs")] = None,
    wait: Annotated[bool, typer.Option("--wait", help="follow the job until it ends")] = False,
) -> None:
    """Submit a Ray job; with --wait, follow its status and print its logs at the end."""
    from auraison.mcp_servers.cluster.models import JobRequest
    from auraison.mcp_servers.cluster.state import TERMINAL

    runtime_env = {"working_dir": str(working_dir)} if working_dir else {}
    req = JobRequest(
        entrypoint=entrypoint,
        submission_id=submission_id,
        cluster=cluster,
        runtime_env=runtime_env,
        resources={"num_cpus": num_cpus, "num_gpus": num_gpus},
    )
    args = {"job": req.model_dump(mode="json", exclude_defaults=True)}
    info = _act("cluster_job_submit", args, lambda p, w: p.job_submit(w, req))
    plane, who = _plane()
    console().print(
        f"{info.submission_id}: {info.status}" + ("" if info.created is not False else " (already submitted)")
    )
    if not wait:
        return
    seen = info.status
    while info.status not in TERMINAL:
        time.sleep(1)  # Ray's Jobs API is polled; it has no push
        info = plane.job_status(who, info.submission_id)
        if info.status != seen:
            seen = info.status
            console().print(f"{info.submission_id}: {info.status} {info.message}")
    print(plane.job_logs(who, info.submission_id).logs, end="")
    if info.status != "SUCCEEDED":
        raise typer.Exit(1)


@jobs_app.command("enqueue")
def jobs_enqueue(
    entrypoint: Annotated[str, typer.Argument(help="the shell command the job runs")],
    submission_id: Annotated[str, typer.Option("--id", help="idempotency key (required)")],
    cluster: ClusterOpt = "local",
) -> None:
    """Queue a job for the dispatchers (`auraison control dispatch`) instead of submitting it."""
    import asyncio

    from auraison.mcp_servers.cluster.dispatch import enqueue_job
    from auraison.mcp_servers.cluster.models import JobRequest

    plane, who = _plane()
    queue = _shared_queue(plane)
    req = JobRequest(entrypoint=entrypoint, submission_id=submission_id, cluster=cluster)

    async def go() -> bool:
        try:
            return await enqueue_job(queue, who.tenant, req)
        finally:
            await queue.close()

    queued = asyncio.run(go())
    console().print(f"{submission_id}: {'queued' if queued else 'already queued'}")


@jobs_app.command("status")
def jobs_status(submission_id: SubmissionArg, as_json: JsonOpt = False) -> None:
    """A job's status, message and times."""
    plane, who = _plane()
    show_one(plane.job_status(who, submission_id), as_json, f"job {submission_id}")


@jobs_app.command("logs")
def jobs_logs(
    submission_id: SubmissionArg,
    tail_bytes: Annotated[
        int, typer.Option(min=1024, help="print at most the last this many bytes")
    ] = 65_536,
) -> None:
    """A job's log (its tail)."""
    plane, who = _plane()
    out = plane.job_logs(who, submission_id, tail_bytes)
    print(out.logs, end="")
    if out.truncated:
        console().print(f"[dim](last {tail_bytes} of {out.total_bytes} bytes)[/]")


@jobs_app.command("stop")
def jobs_stop(submission_id: SubmissionArg, as_json: JsonOpt = False) -> None:
    """Ask Ray to stop a job."""
    stopped = _act(
        "cluster_job_stop", {"submission_id": submission_id}, lambda p, w: p.job_stop(w, submission_id)
    )
    show_one(stopped, as_json, f"job {submission_id}")


@jobs_app.command("list")
def jobs_list(as_json: JsonOpt = False) -> None:
    """The tenant's jobs, newest first."""
    plane, who = _plane()
    show(plane.job_list(who), ["submission_id", "status", "cluster", "entrypoint"], as_json, "jobs")


@clusters_app.command("list")
def clusters_list(as_json: JsonOpt = False) -> None:
    """Known Ray clusters: the local head and the ones in [ray.clusters]."""
    plane, who = _plane()
    rows = plane.cluster_list(who)
    if as_json:
        print_json(rows)
        return
    table_rows = [
        {"name": c.name, "state": "up" if c.up else "down", "kind": c.kind, "address": c.address}
        for c in rows
    ]
    show(table_rows, ["name", "state", "kind", "address"], False, "clusters")


@clusters_app.command("status")
def clusters_status(name: ClusterNameOpt = "local", as_json: JsonOpt = False) -> None:
    """Nodes; CPUs, GPUs and memory: total, used, free."""
    plane, who = _plane()
    show_one(plane.cluster_status(who, name), as_json, f"cluster {name}")


@clusters_app.command("start")
def clusters_start(name: ClusterNameOpt = "local", as_json: JsonOpt = False) -> None:
    """Start the local Ray head (idempotent)."""
    started = _act("cluster_start", {"cluster": name}, lambda p, w: p.cluster_start(w, name))
    show_one(started, as_json, f"cluster {name}")


@clusters_app.command("stop")
def clusters_stop(name: ClusterNameOpt = "local", as_json: JsonOpt = False) -> None:
    """Stop the local Ray head (only one Auraison started)."""
    stopped = _act("cluster_stop", {"cluster": name}, lambda p, w: p.cluster_stop(w, name))
    show_one(stopped, as_json, f"cluster {name}")
