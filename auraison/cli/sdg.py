"""``auraison sdg …``: synthetic data — episodes in generated mazes as a Ray job that writes a
versioned lake dataset (``auraison/sdg.py``), and reading it back."""

from __future__ import annotations

import json
import shlex
import sys
import time
from typing import Annotated, Any

import typer

from auraison.errors import UserError

from .output import JsonOpt, console, err_console, print_json, show, show_one
from .state import get_settings

sdg_app = typer.Typer(
    help="Synthetic data: generated mazes driven on Ray into versioned lake datasets.", no_args_is_help=True
)
DatasetOpt = Annotated[str, typer.Option(help="the dataset's name (a new run adds a version)")]


def entrypoint(dataset: str, episodes: int, worlds: int, workers: int, seed: int, cells: int,
               tenant: str, transfer: bool, python: str = "python") -> str:  # fmt: skip
    """The Ray job's command line: the job module on the cluster's Python (the local head runs
    from this installation, so its job gets this interpreter; a remote one, its own ``python``)."""
    args = [python, "-m", "auraison.sdg", "--dataset", dataset,
            "--episodes", str(episodes), "--worlds", str(worlds), "--workers", str(workers),
            "--seed", str(seed), "--cells", str(cells), "--tenant", tenant]  # fmt: skip
    return shlex.join([*args, "--transfer"] if transfer else args)


def result_of(logs: str) -> dict[str, Any] | None:
    """The job's result line (``SDG_RESULT {…}``) from its logs, if it got that far."""
    from auraison.sdg import RESULT_PREFIX

    for line in reversed(logs.splitlines()):
        if line.startswith(RESULT_PREFIX):
            return json.loads(line[len(RESULT_PREFIX) :])
    return None


@sdg_app.command("run")
def sdg_run(
    episodes: Annotated[int, typer.Option(min=1, max=100_000, help="episodes to generate")] = 8,
    worlds: Annotated[int, typer.Option(min=1, max=10_000, help="generated mazes (seeds seed…)")] = 4,
    dataset: DatasetOpt = "mazes",
    workers: Annotated[int, typer.Option(min=1, max=1024, help="Ray workers (one CPU each)")] = 2,
    seed: Annotated[int, typer.Option(min=0, help="the first maze's seed")] = 0,
    cells: Annotated[int, typer.Option(min=2, max=12, help="maze size in cells per side")] = 3,
    transfer: Annotated[bool, typer.Option(help="pass frames through world_transfer")] = False,
    cluster: Annotated[str, typer.Option(help="a cluster name (see `clusters list`)")] = "local",
    wait: Annotated[bool, typer.Option(help="follow the job until it ends")] = True,
    as_json: JsonOpt = False,
) -> None:
    """Submit the synthetic-data job (as the `cluster_job_submit` tool, under AgentOps)."""
    from auraison.mcp_servers.cluster.models import JobRequest
    from auraison.mcp_servers.cluster.state import TERMINAL

    from .control import _act, _plane

    settings = get_settings()
    if not 1 <= len(dataset) <= 100 or not all(c.isalnum() or c in "_.-" for c in dataset):
        raise UserError(f"bad dataset name {dataset!r}", "letters, digits, _ . - (at most 100)")
    tenant = settings.agentops.tenant
    python = sys.executable if cluster == "local" else "python"
    req = JobRequest(
        entrypoint=entrypoint(dataset, episodes, worlds, workers, seed, cells, tenant, transfer, python),
        cluster=cluster,
        runtime_env={"env_vars": {"AURAISON_HOME": str(settings.home)}},
        metadata={"auraison_kind": "sdg", "dataset": dataset},
    )
    args = {"job": req.model_dump(mode="json", exclude_defaults=True)}
    info = _act("cluster_job_submit", args, lambda p, w: p.job_submit(w, req))
    if not wait:
        show_one(info, as_json)
        return
    plane, who = _plane()
    err_console().print(f"{info.submission_id}: {info.status}")
    while info.status not in TERMINAL:
        time.sleep(0.5)  # Ray's Jobs API is polled; it has no push
        info = plane.job_status(who, info.submission_id)
    logs = plane.job_logs(who, info.submission_id).logs
    result = result_of(logs)
    if info.status != "SUCCEEDED" or result is None:
        tail = " ".join(logs.strip().splitlines()[-3:])[-500:]
        raise UserError(f"the SDG job {info.submission_id} ended {info.status}: {tail or info.message}")
    result["submission_id"] = info.submission_id
    if as_json:
        print_json(result)
        return
    console().print(
        f"{result['dataset']} version {result['version']}: {result['episodes']} episodes, "
        f"{result['frames']} frames ({result['outcomes']}) in {result['seconds']} s "
        f"({result['episodes_per_s']} episodes/s on {workers} workers); files at {result['location']}",
        highlight=False,
        markup=False,
    )


@sdg_app.command("versions")
def sdg_versions(dataset: DatasetOpt = "mazes", as_json: JsonOpt = False) -> None:
    """A dataset's versions (the lake snapshot of each generating run)."""
    from auraison.lakehouse.loader import versions

    from .lake import _lake

    lake = _lake()
    try:
        known = versions(lake, get_settings().agentops.tenant, dataset)
    finally:
        lake.close()
    show([{"version": v.version, "runs": list(v.runs)} for v in known], ["version", "runs"], as_json, dataset)
