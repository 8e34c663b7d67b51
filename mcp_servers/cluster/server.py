"""The ``cluster`` MCP server (``cluster_*`` on the gateway): clusters, Ray jobs, experiments
and agent lifecycle. Arguments are validated here; the domain layer (``ControlPlane``) checks
role and tenant and does the work, the same one the HTTP API calls."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Annotated, Any, Literal, TypeVar

from fastmcp import Context, FastMCP
from fastmcp.utilities.types import Image
from mcp.types import ToolAnnotations
from pydantic import Field

from auraison.agentops.factory import default_identity
from auraison.agentops.middleware import current_identity
from auraison.identity import Identity
from auraison.mcp_servers.toolcall import in_thread, plane_tool, serve_tools
from auraison.settings import Settings

from .experiments import Metric
from .models import TERMINAL, AgentRunRequest, AgentSpec, JobRequest

if TYPE_CHECKING:
    from auraison.runtime import Runtime  # SQLAlchemy and Ray load with the plane's first use

READ = ToolAnnotations(readOnlyHint=True, destructiveHint=False)
WRITE = ToolAnnotations(readOnlyHint=False, destructiveHint=False)
DESTRUCTIVE = ToolAnnotations(readOnlyHint=False, destructiveHint=True)
T = TypeVar("T")

ClusterName = Annotated[str, Field(pattern=r"^[a-z0-9][a-z0-9._-]{0,62}$")]
SubmissionId = Annotated[str, Field(pattern=r"^[A-Za-z0-9_.-]{1,100}$")]
RunId = Annotated[str, Field(pattern=r"^run_[0-9a-f]{12}$")]
ExperimentId = Annotated[str, Field(pattern=r"^exp_[0-9a-f]{12}$")]
AgentId = Annotated[str, Field(pattern=r"^agt_[0-9a-f]{16}$")]
AgentRunId = Annotated[str, Field(pattern=r"^arun_[0-9a-f]{16}$")]


def caller_for(settings: Settings) -> Identity:
    return current_identity(default_identity(settings))


async def call(rt: Runtime, fn: Callable[..., T], *args: Any) -> T:
    """A control-plane use case as the current caller, off the event loop (SQLAlchemy, Ray)."""
    return await in_thread(fn, caller_for(rt.settings), *args)


def dump(x: Any) -> Any:
    """Pydantic models (and lists of them) as JSON-ready values."""
    return (
        [dump(i) for i in x]
        if isinstance(x, list)
        else x.model_dump(mode="json")
        if hasattr(x, "model_dump")
        else x
    )


# ------------------------------------------------------------------ clusters
@plane_tool(READ, name="list")
async def cluster_list(rt: Runtime) -> list[dict[str, Any]]:
    """The clusters this installation knows (local and remote), and whether each is up."""
    return dump(await call(rt, rt.control.cluster_list))


@plane_tool(READ, name="status")
async def cluster_status(rt: Runtime, cluster: ClusterName = "local") -> dict[str, Any]:
    """Nodes, and CPUs / GPUs / memory total, used and free (from Ray's state API)."""
    return dump(await call(rt, rt.control.cluster_status, cluster))


@plane_tool(WRITE, name="start")
async def cluster_start(rt: Runtime, cluster: ClusterName = "local") -> dict[str, Any]:
    """Start a managed cluster (the local Ray head)."""
    return dump(await call(rt, rt.control.cluster_start, cluster))


@plane_tool(DESTRUCTIVE, name="stop")
async def cluster_stop(rt: Runtime, cluster: ClusterName = "local") -> dict[str, Any]:
    """Stop a managed cluster; its running jobs end."""
    return dump(await call(rt, rt.control.cluster_stop, cluster))


@plane_tool(READ, name="render_manifest")
async def render_manifest(rt: Runtime, name: Literal["ros-dev-gpu", "torch-dev-gpu"]) -> dict[str, Any]:
    """The KubeRay RayCluster manifest for a GPU cluster, validated against the CRD's fields."""
    out = await call(rt, rt.control.cluster_render_manifest, name)
    return {"name": out["name"], "yaml": out["yaml"]}


# ---------------------------------------------------------------------- jobs
@plane_tool(WRITE)
async def job_submit(rt: Runtime, job: JobRequest) -> dict[str, Any]:
    """Submit a Ray job (idempotent by submission_id: resubmitting returns the first job)."""
    return dump(await call(rt, rt.control.job_submit, job))


@plane_tool(READ)
async def job_status(rt: Runtime, submission_id: SubmissionId) -> dict[str, Any]:
    """A job's status (PENDING, RUNNING, SUCCEEDED, FAILED, STOPPED, LOST) and message."""
    return dump(await call(rt, rt.control.job_status, submission_id))


@plane_tool(READ)
async def job_wait(
    rt: Runtime,
    submission_id: SubmissionId,
    ctx: Context,
    until: Literal["running", "finished"] = "finished",
    timeout_s: Annotated[float, Field(gt=0, le=3600)] = 300,
) -> dict[str, Any]:
    """Wait for a job to start or finish, reporting each status change as progress."""
    deadline = time.monotonic() + timeout_s
    seen = None
    while True:
        info = await call(rt, rt.control.job_status, submission_id)
        if info.status != seen:
            seen = info.status
            await ctx.report_progress(
                1 if info.status in TERMINAL else 0, 1, f"{submission_id}: {info.status}"
            )
        done = info.status in TERMINAL or (until == "running" and info.status == "RUNNING")
        if done or time.monotonic() >= deadline:
            return dump(info) | {"timed_out": not done}
        await asyncio.sleep(0.5)  # polling Ray's Jobs API: it has no push notifications


@plane_tool(READ)
async def job_logs(
    rt: Runtime,
    submission_id: SubmissionId,
    tail_bytes: Annotated[int, Field(ge=1024, le=1_000_000)] = 16_384,
) -> dict[str, Any]:
    """The end of a job's logs (at most tail_bytes; says when it was cut)."""
    return dump(await call(rt, rt.control.job_logs, submission_id, tail_bytes))


@plane_tool(DESTRUCTIVE)
async def job_stop(rt: Runtime, submission_id: SubmissionId) -> dict[str, Any]:
    """Ask Ray to stop a job."""
    return dump(await call(rt, rt.control.job_stop, submission_id))


@plane_tool(READ)
async def job_list(rt: Runtime, limit: Annotated[int, Field(ge=1, le=500)] = 50) -> list[dict[str, Any]]:
    """Your tenant's jobs, newest first."""
    return dump(await call(rt, rt.control.job_list, limit))


# --------------------------------------------------------------- experiments
@plane_tool(WRITE)
async def experiment_create(
    rt: Runtime,
    name: Annotated[str, Field(min_length=1, max_length=200)],
    tags: dict[str, str] = {},  # noqa: B006
) -> dict[str, Any]:
    """Create an experiment (a group of comparable runs)."""
    return await call(rt, rt.control.experiment_create, name, tags)


@plane_tool(WRITE)
async def run_start(
    rt: Runtime,
    experiment_id: ExperimentId,
    params: dict[str, str | int | float | bool] = {},  # noqa: B006
    job_id: SubmissionId | None = None,
) -> dict[str, Any]:
    """Start a run of an experiment, optionally tied to a Ray job."""
    return await call(rt, rt.control.run_start, experiment_id, params, job_id)


@plane_tool(WRITE)
async def log_params(
    rt: Runtime, run_id: RunId, params: dict[str, str | int | float | bool]
) -> dict[str, int]:
    """Record a run's parameters."""
    return {"logged": await call(rt, rt.control.log_params, run_id, params)}


@plane_tool(WRITE)
async def log_metrics(
    rt: Runtime, run_id: RunId, metrics: Annotated[list[Metric], Field(min_length=1, max_length=100_000)]
) -> dict[str, int]:
    """Record a batch of metric points (key, value, step) in one commit."""
    return {"logged": await call(rt, rt.control.log_metrics, run_id, metrics)}


@plane_tool(WRITE)
async def run_end(
    rt: Runtime, run_id: RunId, status: Literal["finished", "failed", "killed"] = "finished"
) -> dict[str, Any]:
    """End a run."""
    return await call(rt, rt.control.run_end, run_id, status)


@plane_tool(READ)
async def runs_compare(
    rt: Runtime,
    experiment_id: ExperimentId,
    metric: Annotated[str, Field(pattern=r"^[A-Za-z0-9_./-]{1,100}$")],
) -> list[Any]:
    """The experiment's runs side by side (params, last value of each metric) and a PNG plot
    of ``metric`` by step across runs."""
    out = await call(rt, rt.control.runs_compare, experiment_id, metric, True)
    return [{"metric": metric, "runs": out["runs"], "plot": out["plot"]}, Image(path=out["plot"])]


# -------------------------------------------------------------------- agents
@plane_tool(WRITE)
async def agent_register(rt: Runtime, spec: AgentSpec) -> dict[str, Any]:
    """Register an agent (name, version, policy) in your tenant."""
    return dump(await call(rt, rt.control.agent_register, spec, None))


@plane_tool(WRITE)
async def agent_start(
    rt: Runtime, agent_id: AgentId, quota_tool_calls: Annotated[float, Field(gt=0, le=1e9)] = 50
) -> dict[str, Any]:
    """Start an agent: needs a quota grant from the management plane (refused, with the
    reason, when the tenant is out of quota or the management plane is down)."""
    return dump(await call(rt, rt.control.agent_start, agent_id, quota_tool_calls))


@plane_tool(WRITE)
async def agent_heartbeat(rt: Runtime, agent_id: AgentId) -> dict[str, Any]:
    """Tell the control plane the agent is alive."""
    return dump(await call(rt, rt.control.agent_heartbeat, agent_id))


@plane_tool(DESTRUCTIVE)
async def agent_stop(
    rt: Runtime, agent_id: AgentId, used_tool_calls: Annotated[float, Field(ge=0)] = 0
) -> dict[str, Any]:
    """Stop an agent and settle its quota grant."""
    return dump(await call(rt, rt.control.agent_stop, agent_id, used_tool_calls))


@plane_tool(READ)
async def agent_status(rt: Runtime, agent_id: AgentId) -> dict[str, Any]:
    """An agent's state (registered, running, stale after 3 missed heartbeats, stopped)."""
    return dump(await call(rt, rt.control.agent_status, agent_id))


@plane_tool(READ)
async def agent_list(rt: Runtime) -> list[dict[str, Any]]:
    """Your tenant's agents."""
    return dump(await call(rt, rt.control.agent_list))


# ---------------------------------------------------------------- agent runs
@plane_tool(WRITE)
async def agent_run(rt: Runtime, agent_id: AgentId, run: AgentRunRequest) -> dict[str, Any]:
    """Start a run of a registered agent on a prompt, as a supervised job (a local
    subprocess, or a Ray job on the cluster its spec names) under its own quota grant;
    follow it with agent_run_status. The run keeps going if the control plane goes away."""
    return dump(await call(rt, rt.control.agent_run, agent_id, run, None))


@plane_tool(READ)
async def agent_runs(
    rt: Runtime, agent_id: AgentId | None = None, limit: Annotated[int, Field(ge=1, le=500)] = 50
) -> list[dict[str, Any]]:
    """Your tenant's agent runs (of one agent, with agent_id), newest first."""
    return dump(await call(rt, rt.control.agent_runs, agent_id, limit))


@plane_tool(READ)
async def agent_run_status(rt: Runtime, run_id: AgentRunId) -> dict[str, Any]:
    """A run's status (PENDING, RUNNING, SUCCEEDED, FAILED, STOPPED, LOST), its tokens, tool
    calls, trace id and, once it ended, its output."""
    return dump(await call(rt, rt.control.agent_run_status, run_id))


@plane_tool(DESTRUCTIVE)
async def agent_run_stop(rt: Runtime, run_id: AgentRunId) -> dict[str, Any]:
    """Stop a run: its agent gets SIGTERM, then SIGKILL after a grace; its grant settles."""
    return dump(await call(rt, rt.control.agent_run_stop, run_id))


TOOLS = (
    cluster_list,
    cluster_status,
    cluster_start,
    cluster_stop,
    render_manifest,
    job_submit,
    job_status,
    job_wait,
    job_logs,
    job_stop,
    job_list,
    experiment_create,
    run_start,
    log_params,
    log_metrics,
    run_end,
    runs_compare,
    agent_register,
    agent_start,
    agent_heartbeat,
    agent_stop,
    agent_status,
    agent_list,
    agent_run,
    agent_runs,
    agent_run_status,
    agent_run_stop,
)


def build_server(rt: Runtime) -> FastMCP:
    """The cluster tools over the runtime's control plane (its store and Ray clients open on first use)."""
    mcp = FastMCP(
        "cluster",
        instructions="The control plane: Ray clusters and jobs, experiments, agent lifecycle. "
        "Submit with a submission_id to make retries safe; job_wait reports progress.",
    )
    return serve_tools(mcp, rt, TOOLS)
