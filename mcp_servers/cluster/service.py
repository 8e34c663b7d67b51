"""The control plane's domain layer: one object, two faces (the ``cluster`` MCP server and the
HTTP API). It checks the caller's role and tenant and hands the work to the pieces that own it:
clusters (Ray), jobs (Ray Jobs API + record + webhooks), experiments (lake), agents."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from auraison.errors import Forbidden, NotFound
from auraison.identity import Identity
from auraison.settings import Settings

from .agents import AgentRegistry, BillingGrantor, QuotaGrantor
from .clusters import ClusterRegistry
from .events import EventLog
from .experiments import Experiments, Metric
from .jobs import JobService
from .kuberay import CLUSTERS, render, to_yaml
from .models import (
    AgentInfo,
    AgentRunInfo,
    AgentRunRequest,
    AgentSpec,
    ClusterInfo,
    ClusterStatus,
    JobInfo,
    JobLogs,
    JobRequest,
    RunReport,
)
from .runs import AgentRunService
from .state import ControlState

if TYPE_CHECKING:
    from auraison.lakehouse.catalog import Lake

READERS = {"admin", "owner", "operator", "viewer", "agent"}
WRITERS = {"admin", "owner", "operator", "agent"}
CLUSTER_ADMINS = {"admin", "owner", "operator"}


class ControlPlane:
    def __init__(
        self,
        settings: Settings,
        grantor: QuotaGrantor | None = None,
        state: ControlState | None = None,
        lake: Callable[[], Lake] | None = None,
    ) -> None:
        self.settings = settings
        self.state = state or ControlState.from_settings(settings)
        self.events = EventLog(settings)
        self.clusters = ClusterRegistry(settings)
        self.jobs = JobService(settings, self.state, self.events)
        self.experiments = Experiments(settings, lake)
        if grantor is None:
            from auraison.mcp_servers.billing.service import Billing

            grantor = BillingGrantor(lambda: Billing.from_settings(settings))
        self.agents = AgentRegistry(self.state, self.events, grantor, settings.control.heartbeat_s)
        self.runs = AgentRunService(settings, self.state, self.events, self.agents, grantor, jobs=self.jobs)

    @staticmethod
    def _need(caller: Identity, roles: set[str], what: str) -> None:
        if caller.role not in roles:
            raise Forbidden(f"role {caller.role} may not {what} (needs one of: {', '.join(sorted(roles))})")

    # clusters
    def cluster_list(self, caller: Identity) -> list[ClusterInfo]:
        self._need(caller, READERS, "list clusters")
        return self.clusters.list()

    def cluster_status(self, caller: Identity, name: str) -> ClusterStatus:
        self._need(caller, READERS, "read cluster status")
        return self.clusters.status(name)

    def cluster_start(self, caller: Identity, name: str) -> ClusterStatus:
        self._need(caller, CLUSTER_ADMINS, "start clusters")
        status = self.clusters.start(name)
        self.events.emit("cluster.started", name, caller.tenant, {})
        return status

    def cluster_stop(self, caller: Identity, name: str) -> ClusterStatus:
        self._need(caller, CLUSTER_ADMINS, "stop clusters")
        status = self.clusters.stop(name)
        self.events.emit("cluster.stopped", name, caller.tenant, {})
        return status

    def cluster_render_manifest(self, caller: Identity, name: str) -> dict[str, Any]:
        self._need(caller, READERS, "render manifests")
        if name not in CLUSTERS:
            raise NotFound(f"no KubeRay spec {name!r}; specs: {', '.join(CLUSTERS)}")
        manifest = render(CLUSTERS[name])
        return {"name": name, "manifest": manifest, "yaml": to_yaml(manifest)}

    # jobs
    def job_submit(self, caller: Identity, req: JobRequest) -> JobInfo:
        self._need(caller, WRITERS, "submit jobs")
        return self.jobs.submit(caller.tenant, req)

    def job_status(self, caller: Identity, submission_id: str) -> JobInfo:
        self._need(caller, READERS, "read jobs")
        return self.jobs.status(caller.tenant, submission_id)

    def job_logs(self, caller: Identity, submission_id: str, tail_bytes: int | None = None) -> JobLogs:
        self._need(caller, READERS, "read job logs")
        return self.jobs.logs(caller.tenant, submission_id, tail_bytes)

    def job_stop(self, caller: Identity, submission_id: str) -> JobInfo:
        self._need(caller, WRITERS, "stop jobs")
        return self.jobs.stop(caller.tenant, submission_id)

    def job_list(self, caller: Identity, limit: int = 100) -> list[JobInfo]:
        self._need(caller, READERS, "list jobs")
        return self.jobs.list(caller.tenant, limit)

    # experiments
    def experiment_create(
        self, caller: Identity, name: str, tags: dict[str, str] | None = None
    ) -> dict[str, Any]:
        self._need(caller, WRITERS, "create experiments")
        return self.experiments.create(caller.tenant, name, tags)

    def run_start(
        self, caller: Identity, experiment_id: str, params: dict[str, Any], job_id: str | None
    ) -> dict:
        self._need(caller, WRITERS, "start runs")
        return self.experiments.run_start(caller.tenant, experiment_id, params, job_id)

    def log_params(self, caller: Identity, run_id: str, params: dict[str, Any]) -> int:
        self._need(caller, WRITERS, "log params")
        return self.experiments.log_params(caller.tenant, run_id, params)

    def log_metrics(self, caller: Identity, run_id: str, metrics: list[Metric]) -> int:
        self._need(caller, WRITERS, "log metrics")
        return self.experiments.log_metrics(caller.tenant, run_id, metrics)

    def run_end(self, caller: Identity, run_id: str, status: str) -> dict[str, Any]:
        self._need(caller, WRITERS, "end runs")
        return self.experiments.run_end(caller.tenant, run_id, status)

    def runs_compare(
        self, caller: Identity, experiment_id: str, metric: str, plot: bool = True
    ) -> dict[str, Any]:
        self._need(caller, READERS, "compare runs")
        return self.experiments.compare(caller.tenant, experiment_id, metric, plot)

    # agents
    def agent_register(self, caller: Identity, spec: AgentSpec, resume_lease: str | None = None) -> AgentInfo:
        self._need(caller, WRITERS, "register agents")
        info = self.agents.register(caller.tenant, spec, resume_lease)
        self.runs.remember(caller.tenant, info.agent_id, spec)
        return info

    def agent_start(self, caller: Identity, agent_id: str, quota_tool_calls: float = 50) -> AgentInfo:
        self._need(caller, WRITERS, "start agents")
        return self.agents.start(caller.tenant, agent_id, quota_tool_calls)

    def agent_heartbeat(self, caller: Identity, agent_id: str) -> AgentInfo:
        self._need(caller, WRITERS, "heartbeat")
        return self.agents.heartbeat(caller.tenant, agent_id)

    def agent_stop(self, caller: Identity, agent_id: str, used_tool_calls: float = 0) -> AgentInfo:
        self._need(caller, WRITERS, "stop agents")
        return self.agents.stop(caller.tenant, agent_id, used_tool_calls)

    def agent_status(self, caller: Identity, agent_id: str) -> AgentInfo:
        self._need(caller, READERS, "read agents")
        return self.agents.status(caller.tenant, agent_id)

    def agent_list(self, caller: Identity) -> list[AgentInfo]:
        self._need(caller, READERS, "list agents")
        return self.agents.list(caller.tenant)

    # agent runs
    def agent_run(
        self, caller: Identity, agent_id: str, req: AgentRunRequest, report_url: str | None = None
    ) -> AgentRunInfo:
        self._need(caller, WRITERS, "run agents")
        return self.runs.start(caller.tenant, agent_id, req, report_url)

    def agent_runs(
        self, caller: Identity, agent_id: str | None = None, limit: int = 50
    ) -> list[AgentRunInfo]:
        self._need(caller, READERS, "list agent runs")
        return self.runs.list(caller.tenant, agent_id, limit)

    def agent_run_status(self, caller: Identity, run_id: str) -> AgentRunInfo:
        self._need(caller, READERS, "read agent runs")
        return self.runs.status(caller.tenant, run_id)

    def agent_run_stop(self, caller: Identity, run_id: str) -> AgentRunInfo:
        self._need(caller, WRITERS, "stop agent runs")
        return self.runs.stop(caller.tenant, run_id)

    def agent_run_report(self, caller: Identity, run_id: str, token: str, report: RunReport) -> AgentRunInfo:
        """A run's supervisor reporting: the run's token proves it, not the caller's role."""
        return self.runs.report(run_id, token, report)
