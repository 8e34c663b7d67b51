"""The control plane's HTTP API (``auraison control serve``): clusters, jobs, experiments and
agents, with OpenAPI at ``/openapi.json`` and bearer-token auth (the settings' static tokens or
the management plane's API keys). It is the second face of ``ControlPlane``: the same models,
the same validation and the same role checks as the ``cluster`` MCP tools.

No ``from __future__ import annotations`` here: FastAPI resolves the route signatures at run
time, and they refer to names local to ``build_app``."""

import asyncio
import contextlib
from collections.abc import AsyncIterator
from typing import Annotated, Any, Literal

from fastapi import Depends, FastAPI, HTTPException, Path, Query, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import JSONResponse
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from pydantic import BaseModel, Field

from auraison.errors import AuraisonError, NotFound, UserError
from auraison.mcp_servers.toolcall import Lazy
from auraison.settings import Settings

from .agents import GrantRefused
from .clusters import ClusterUnavailable
from .experiments import Metric
from .models import AgentInfo, AgentSpec, ClusterInfo, ClusterStatus, JobInfo, JobLogs, JobRequest
from .service import Caller, ControlPlane, Forbidden

NAME = r"^[a-z0-9][a-z0-9._-]{0,62}$"
SID = r"^[A-Za-z0-9_.-]{1,100}$"


class Problem(BaseModel):
    detail: str


class ExperimentIn(BaseModel):
    name: str = Field(min_length=1, max_length=200)
    tags: dict[str, str] = {}


class RunIn(BaseModel):
    params: dict[str, str | int | float | bool] = {}
    job_id: str | None = Field(None, pattern=SID)


class MetricsIn(BaseModel):
    metrics: list[Metric] = Field(min_length=1, max_length=100_000)


class RunEnd(BaseModel):
    status: Literal["finished", "failed", "killed"] = "finished"


class AgentRegisterIn(BaseModel):
    spec: AgentSpec
    resume_lease: str | None = Field(
        None, pattern=r"^lse_[0-9a-f]{16}$", description="re-register a running agent"
    )


class AgentStartIn(BaseModel):
    quota_tool_calls: float = Field(50, gt=0, le=1e9)


class AgentStopIn(BaseModel):
    used_tool_calls: float = Field(0, ge=0, le=1e12)


ERRORS: dict[int | str, dict[str, Any]] = {
    400: {"model": Problem, "description": "invalid request"},
    401: {"model": Problem, "description": "missing or unknown bearer token"},
    403: {"model": Problem, "description": "the caller's role may not do this"},
    404: {"model": Problem, "description": "no such object in the caller's tenant"},
    409: {"model": Problem, "description": "refused: no quota grant"},
    503: {"model": Problem, "description": "a dependency (Ray, the lake, the management plane) is down"},
}


def build_app(settings: Settings, plane: ControlPlane | None = None, reconcile: bool = False) -> FastAPI:
    from auraison.mcp_servers.gateway import HashedTokenVerifier

    cp = Lazy(lambda: ControlPlane(settings), plane)

    def open_billing():
        from auraison.mcp_servers.billing.service import Billing

        return Billing.from_settings(settings)

    billing = Lazy(open_billing)
    verifier = HashedTokenVerifier(settings.agentops.tokens, billing)

    @contextlib.asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        stop = asyncio.Event()
        task = asyncio.create_task(cp().jobs.watch(stop)) if reconcile else None
        yield
        stop.set()
        if task is not None:
            await task

    app = FastAPI(
        title="Auraison control plane",
        version="1",
        description="Clusters, Ray jobs, experiments and agent lifecycle.",
        lifespan=lifespan,
        responses=ERRORS,
    )
    bearer = HTTPBearer(auto_error=False)

    async def caller(
        creds: Annotated[HTTPAuthorizationCredentials | None, Depends(bearer)],
    ) -> Caller:
        token = await verifier.verify_token(creds.credentials) if creds else None
        if token is None:
            raise HTTPException(
                401, "a valid bearer token is required", headers={"WWW-Authenticate": "Bearer"}
            )
        return Caller(token.claims["tenant"], token.claims["role"])

    Who = Annotated[Caller, Depends(caller)]

    @app.exception_handler(AuraisonError)
    async def domain_error(_: Request, exc: AuraisonError) -> JSONResponse:
        if isinstance(exc, Forbidden):
            code = 403
        elif isinstance(exc, NotFound):
            code = 404
        elif isinstance(exc, GrantRefused):
            code = 503 if "unavailable" in str(exc) else 409
        elif isinstance(exc, UserError):
            code = 400
        elif isinstance(exc, ClusterUnavailable) or "unavailable" in str(exc):
            code = 503
        else:
            code = 400
        return JSONResponse({"detail": str(exc)}, status_code=code)

    async def run(fn, *args):
        return await run_in_threadpool(fn, *args)

    ClusterName = Annotated[str, Path(pattern=NAME)]
    Sid = Annotated[str, Path(pattern=SID)]
    RunId = Annotated[str, Path(pattern=r"^run_[0-9a-f]{12}$")]
    ExpId = Annotated[str, Path(pattern=r"^exp_[0-9a-f]{12}$")]
    AgentId = Annotated[str, Path(pattern=r"^agt_[0-9a-f]{16}$")]

    @app.get("/clusters", response_model=list[ClusterInfo], tags=["clusters"])
    async def list_clusters(who: Who):
        return await run(cp().cluster_list, who)

    @app.get("/clusters/{name}", response_model=ClusterStatus, tags=["clusters"])
    async def cluster_status(who: Who, name: ClusterName):
        return await run(cp().cluster_status, who, name)

    @app.post("/clusters/{name}/start", response_model=ClusterStatus, tags=["clusters"])
    async def cluster_start(who: Who, name: ClusterName):
        return await run(cp().cluster_start, who, name)

    @app.post("/clusters/{name}/stop", response_model=ClusterStatus, tags=["clusters"])
    async def cluster_stop(who: Who, name: ClusterName):
        return await run(cp().cluster_stop, who, name)

    @app.get("/manifests/{name}", tags=["clusters"])
    async def manifest(who: Who, name: Literal["ros-dev-gpu", "torch-dev-gpu"]) -> dict[str, Any]:
        return await run(cp().cluster_render_manifest, who, name)

    @app.post("/jobs", response_model=JobInfo, tags=["jobs"])
    async def submit(who: Who, job: JobRequest):
        return await run(cp().job_submit, who, job)

    @app.get("/jobs", response_model=list[JobInfo], tags=["jobs"])
    async def list_jobs(who: Who, limit: Annotated[int, Query(ge=1, le=500)] = 50):
        return await run(cp().job_list, who, limit)

    @app.get("/jobs/{submission_id}", response_model=JobInfo, tags=["jobs"])
    async def job_status(who: Who, submission_id: Sid):
        return await run(cp().job_status, who, submission_id)

    @app.get("/jobs/{submission_id}/logs", response_model=JobLogs, tags=["jobs"])
    async def job_logs(
        who: Who, submission_id: Sid, tail_bytes: Annotated[int, Query(ge=1024, le=1_000_000)] = 16_384
    ):
        return await run(cp().job_logs, who, submission_id, tail_bytes)

    @app.post("/jobs/{submission_id}/stop", response_model=JobInfo, tags=["jobs"])
    async def job_stop(who: Who, submission_id: Sid):
        return await run(cp().job_stop, who, submission_id)

    @app.post("/experiments", tags=["experiments"])
    async def experiment_create(who: Who, body: ExperimentIn) -> dict[str, Any]:
        return await run(cp().experiment_create, who, body.name, body.tags)

    @app.post("/experiments/{experiment_id}/runs", tags=["experiments"])
    async def run_start(who: Who, experiment_id: ExpId, body: RunIn) -> dict[str, Any]:
        return await run(cp().run_start, who, experiment_id, body.params, body.job_id)

    @app.post("/runs/{run_id}/params", tags=["experiments"])
    async def log_params(
        who: Who, run_id: RunId, params: dict[str, str | int | float | bool]
    ) -> dict[str, int]:
        return {"logged": await run(cp().log_params, who, run_id, params)}

    @app.post("/runs/{run_id}/metrics", tags=["experiments"])
    async def log_metrics(who: Who, run_id: RunId, body: MetricsIn) -> dict[str, int]:
        return {"logged": await run(cp().log_metrics, who, run_id, body.metrics)}

    @app.post("/runs/{run_id}/end", tags=["experiments"])
    async def run_end(who: Who, run_id: RunId, body: RunEnd) -> dict[str, Any]:
        return await run(cp().run_end, who, run_id, body.status)

    @app.get("/experiments/{experiment_id}/compare", tags=["experiments"])
    async def runs_compare(
        who: Who, experiment_id: ExpId, metric: Annotated[str, Query(pattern=r"^[A-Za-z0-9_./-]{1,100}$")]
    ) -> dict[str, Any]:
        return await run(cp().runs_compare, who, experiment_id, metric, False)

    @app.post("/agents", response_model=AgentInfo, tags=["agents"])
    async def agent_register(who: Who, body: AgentRegisterIn):
        return await run(cp().agent_register, who, body.spec, body.resume_lease)

    @app.get("/agents", response_model=list[AgentInfo], tags=["agents"])
    async def agent_list(who: Who):
        return await run(cp().agent_list, who)

    @app.get("/agents/{agent_id}", response_model=AgentInfo, tags=["agents"])
    async def agent_status(who: Who, agent_id: AgentId):
        return await run(cp().agent_status, who, agent_id)

    @app.post("/agents/{agent_id}/start", response_model=AgentInfo, tags=["agents"])
    async def agent_start(who: Who, agent_id: AgentId, body: AgentStartIn):
        return await run(cp().agent_start, who, agent_id, body.quota_tool_calls)

    @app.post("/agents/{agent_id}/heartbeat", response_model=AgentInfo, tags=["agents"])
    async def agent_heartbeat(who: Who, agent_id: AgentId):
        return await run(cp().agent_heartbeat, who, agent_id)

    @app.post("/agents/{agent_id}/stop", response_model=AgentInfo, tags=["agents"])
    async def agent_stop(who: Who, agent_id: AgentId, body: AgentStopIn):
        return await run(cp().agent_stop, who, agent_id, body.used_tool_calls)

    return app
