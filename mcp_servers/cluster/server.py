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
from auraison.mcp_servers.toolcall import in_thread
from auraison.settings import Settings

from .experiments import Metric
from .models import TERMINAL, AgentRunRequest, AgentSpec, JobRequest

if TYPE_CHECKING:
    from auraison.runtime import Runtime

    from .service import ControlPlane  # SQLAlchemy and Ray load with the plane's first use

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


def build_server(rt: Runtime) -> FastMCP:
    settings = rt.settings
    mcp = FastMCP(
        "cluster",
        instructions="The control plane: Ray clusters and jobs, experiments, agent lifecycle. "
        "Submit with a submission_id to make retries safe; job_wait reports progress.",
    )

    def cp() -> ControlPlane:
        return rt.control

    async def call(fn: Callable[..., T], *args: Any) -> T:
        return await in_thread(fn, caller_for(settings), *args)

    def dump(x: Any) -> Any:
        return (
            [dump(i) for i in x]
            if isinstance(x, list)
            else x.model_dump(mode="json")
            if hasattr(x, "model_dump")
            else x
        )

    # ------------------------------------------------------------------ clusters
    @mcp.tool(name="list", annotations=READ)
    async def cluster_list() -> list[dict[str, Any]]:
        """The clusters this installation knows (local and remote), and whether each is up."""
        return dump(await call(cp().cluster_list))

    @mcp.tool(name="status", annotations=READ)
    async def cluster_status(cluster: ClusterName = "local") -> dict[str, Any]:
        """Nodes, and CPUs / GPUs / memory total, used and free (from Ray's state API)."""
        return dump(await call(cp().cluster_status, cluster))

    @mcp.tool(name="start", annotations=WRITE)
    async def cluster_start(cluster: ClusterName = "local") -> dict[str, Any]:
        """Start a managed cluster (the local Ray head)."""
        return dump(await call(cp().cluster_start, cluster))

    @mcp.tool(name="stop", annotations=DESTRUCTIVE)
    async def cluster_stop(cluster: ClusterName = "local") -> dict[str, Any]:
        """Stop a managed cluster; its running jobs end."""
        return dump(await call(cp().cluster_stop, cluster))

    @mcp.tool(name="render_manifest", annotations=READ)
    async def render_manifest(name: Literal["ros-dev-gpu", "torch-dev-gpu"]) -> dict[str, Any]:
        """The KubeRay RayCluster manifest for a GPU cluster, validated against the CRD's fields."""
        out = await call(cp().cluster_render_manifest, name)
        return {"name": out["name"], "yaml": out["yaml"]}

    # ---------------------------------------------------------------------- jobs
    @mcp.tool(annotations=WRITE)
    async def job_submit(job: JobRequest) -> dict[str, Any]:
        """Submit a Ray job (idempotent by submission_id: resubmitting returns the first job)."""
        return dump(await call(cp().job_submit, job))

    @mcp.tool(annotations=READ)
    async def job_status(submission_id: SubmissionId) -> dict[str, Any]:
        """A job's status (PENDING, RUNNING, SUCCEEDED, FAILED, STOPPED, LOST) and message."""
        return dump(await call(cp().job_status, submission_id))

    @mcp.tool(annotations=READ)
    async def job_wait(
        submission_id: SubmissionId,
        ctx: Context,
        until: Literal["running", "finished"] = "finished",
        timeout_s: Annotated[float, Field(gt=0, le=3600)] = 300,
    ) -> dict[str, Any]:
        """Wait for a job to start or finish, reporting each status change as progress."""
        deadline = time.monotonic() + timeout_s
        seen = None
        while True:
            info = await call(cp().job_status, submission_id)
            if info.status != seen:
                seen = info.status
                await ctx.report_progress(
                    1 if info.status in TERMINAL else 0, 1, f"{submission_id}: {info.status}"
                )
            done = info.status in TERMINAL or (until == "running" and info.status == "RUNNING")
            if done or time.monotonic() >= deadline:
                return dump(info) | {"timed_out": not done}
            await asyncio.sleep(0.5)  # polling Ray's Jobs API: it has no push notifications

    @mcp.tool(annotations=READ)
    async def job_logs(
        submission_id: SubmissionId, tail_bytes: Annotated[int, Field(ge=1024, le=1_000_000)] = 16_384
    ) -> dict[str, Any]:
        """The end of a job's logs (at most tail_bytes; says when it was cut)."""
        return dump(await call(cp().job_logs, submission_id, tail_bytes))

    @mcp.tool(annotations=DESTRUCTIVE)
    async def job_stop(submission_id: SubmissionId) -> dict[str, Any]:
        """Ask Ray to stop a job."""
        return dump(await call(cp().job_stop, submission_id))

    @mcp.tool(annotations=READ)
    async def job_list(limit: Annotated[int, Field(ge=1, le=500)] = 50) -> list[dict[str, Any]]:
        """Your tenant's jobs, newest first."""
        return dump(await call(cp().job_list, limit))

    # --------------------------------------------------------------- experiments
    @mcp.tool(annotations=WRITE)
    async def experiment_create(
        name: Annotated[str, Field(min_length=1, max_length=200)],
        tags: dict[str, str] = {},  # noqa: B006
    ) -> dict[str, Any]:
        """Create an experiment (a group of comparable runs)."""
        return await call(cp().experiment_create, name, tags)

    @mcp.tool(annotations=WRITE)
    async def run_start(
        experiment_id: ExperimentId,
        params: dict[str, str | int | float | bool] = {},  # noqa: B006
        job_id: SubmissionId | None = None,
    ) -> dict[str, Any]:
        """Start a run of an experiment, optionally tied to a Ray job."""
        return await call(cp().run_start, experiment_id, params, job_id)

    @mcp.tool(annotations=WRITE)
    async def log_params(run_id: RunId, params: dict[str, str | int | float | bool]) -> dict[str, int]:
        """Record a run's parameters."""
        return {"logged": await call(cp().log_params, run_id, params)}

    @mcp.tool(annotations=WRITE)
    async def log_metrics(
        run_id: RunId, metrics: Annotated[list[Metric], Field(min_length=1, max_length=100_000)]
    ) -> dict[str, int]:
        """Record a batch of metric points (key, value, step) in one commit."""
        return {"logged": await call(cp().log_metrics, run_id, metrics)}

    @mcp.tool(annotations=WRITE)
    async def run_end(
        run_id: RunId, status: Literal["finished", "failed", "killed"] = "finished"
    ) -> dict[str, Any]:
        """End a run."""
        return await call(cp().run_end, run_id, status)

    @mcp.tool(annotations=READ)
    async def runs_compare(
        experiment_id: ExperimentId, metric: Annotated[str, Field(pattern=r"^[A-Za-z0-9_./-]{1,100}$")]
    ) -> list[Any]:
        """The experiment's runs side by side (params, last value of each metric) and a PNG plot
        of ``metric`` by step across runs."""
        out = await call(cp().runs_compare, experiment_id, metric, True)
        return [{"metric": metric, "runs": out["runs"], "plot": out["plot"]}, Image(path=out["plot"])]

    # -------------------------------------------------------------------- agents
    @mcp.tool(annotations=WRITE)
    async def agent_register(spec: AgentSpec) -> dict[str, Any]:
        """Register an agent (name, version, policy) in your tenant."""
        return dump(await call(cp().agent_register, spec, None))

    @mcp.tool(annotations=WRITE)
    async def agent_start(
        agent_id: AgentId, quota_tool_calls: Annotated[float, Field(gt=0, le=1e9)] = 50
    ) -> dict[str, Any]:
        """Start an agent: needs a quota grant from the management plane (refused, with the
        reason, when the tenant is out of quota or the management plane is down)."""
        return dump(await call(cp().agent_start, agent_id, quota_tool_calls))

    @mcp.tool(annotations=WRITE)
    async def agent_heartbeat(agent_id: AgentId) -> dict[str, Any]:
        """Tell the control plane the agent is alive."""
        return dump(await call(cp().agent_heartbeat, agent_id))

    @mcp.tool(annotations=DESTRUCTIVE)
    async def agent_stop(
        agent_id: AgentId, used_tool_calls: Annotated[float, Field(ge=0)] = 0
    ) -> dict[str, Any]:
        """Stop an agent and settle its quota grant."""
        return dump(await call(cp().agent_stop, agent_id, used_tool_calls))

    @mcp.tool(annotations=READ)
    async def agent_status(agent_id: AgentId) -> dict[str, Any]:
        """An agent's state (registered, running, stale after 3 missed heartbeats, stopped)."""
        return dump(await call(cp().agent_status, agent_id))

    @mcp.tool(annotations=READ)
    async def agent_list() -> list[dict[str, Any]]:
        """Your tenant's agents."""
        return dump(await call(cp().agent_list))

    # ---------------------------------------------------------------- agent runs
    @mcp.tool(annotations=WRITE)
    async def agent_run(agent_id: AgentId, run: AgentRunRequest) -> dict[str, Any]:
        """Start a run of a registered agent on a prompt, as a supervised job (a local
        subprocess, or a Ray job on the cluster its spec names) under its own quota grant;
        follow it with agent_run_status. The run keeps going if the control plane goes away."""
        return dump(await call(cp().agent_run, agent_id, run, None))

    @mcp.tool(annotations=READ)
    async def agent_runs(
        agent_id: AgentId | None = None, limit: Annotated[int, Field(ge=1, le=500)] = 50
    ) -> list[dict[str, Any]]:
        """Your tenant's agent runs (of one agent, with agent_id), newest first."""
        return dump(await call(cp().agent_runs, agent_id, limit))

    @mcp.tool(annotations=READ)
    async def agent_run_status(run_id: AgentRunId) -> dict[str, Any]:
        """A run's status (PENDING, RUNNING, SUCCEEDED, FAILED, STOPPED, LOST), its tokens, tool
        calls, trace id and, once it ended, its output."""
        return dump(await call(cp().agent_run_status, run_id))

    @mcp.tool(annotations=DESTRUCTIVE)
    async def agent_run_stop(run_id: AgentRunId) -> dict[str, Any]:
        """Stop a run: its agent gets SIGTERM, then SIGKILL after a grace; its grant settles."""
        return dump(await call(cp().agent_run_stop, run_id))

    return mcp
