"""The control plane's HTTP API (``auraison control serve``): clusters, jobs, experiments and
agents, with OpenAPI at ``/openapi.json`` and bearer-token auth (the settings' static tokens or
the management plane's API keys). It is the second face of ``ControlPlane`` and the fourth
AgentOps enforcement point (``point="http"``): every route — reads too — is decided by the same
engine as the ``cluster`` MCP tool of the same name, with the same tool name and the same
arguments, so guardrails, approvals, quotas, limits and traces cannot be side-stepped by
calling the HTTP face instead of the MCP one, and an approval granted for a call made on one
face binds the identical call on the other (same arguments hash).

Each operation names its MCP tool in the OpenAPI document (``x-auraison-tool``). Its arguments
are that tool's: path and query parameters under the tool's argument names (query parameters
only when sent, as an MCP client omits a default), and the JSON body exactly as it was sent.

Decisions as HTTP answers, each body carrying the decision as JSON:

* deny → ``403`` (``decision.reason`` and ``decision.hint``: what to do instead);
* needs approval → ``409`` with ``approval_id``: nothing ran; a human approves with
  ``auraison approvals approve <approval_id>`` and the *identical* request, sent again, runs
  once. (Not ``202``: a 2xx would read as done to a client that checks only for success.)
* shed → ``429`` with ``Retry-After`` (seconds).

No ``from __future__ import annotations`` here: FastAPI resolves the route signatures at run
time, and they refer to names local to ``build_app``."""

import asyncio
import contextlib
import math
from collections.abc import AsyncIterator, Callable
from typing import TYPE_CHECKING, Annotated, Any, Literal, TypeVar

from fastapi import Depends, FastAPI, HTTPException, Path, Query, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from pydantic import BaseModel, Field

from auraison.agentops.decision import ToolCall
from auraison.agentops.errors import AgentOpsError, ApprovalPending, ToolShed
from auraison.errors import AuraisonError
from auraison.identity import Identity, PrincipalKind, Role, key_kind

from .experiments import Metric
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
from .service import ControlPlane
from .webhooks import CallbackRefused, check_callback

if TYPE_CHECKING:
    from auraison.runtime import Runtime

NAME = r"^[a-z0-9][a-z0-9._-]{0,62}$"
SID = r"^[A-Za-z0-9_.-]{1,100}$"
TOOL = "x-auraison-tool"
"""OpenAPI extension on every operation: the MCP tool (gateway name) whose decision it gets."""
T = TypeVar("T")


class Problem(BaseModel):
    detail: str
    decision: dict[str, Any] | None = Field(
        None, description="the AgentOps decision (kind, reason, hint, rule, approval_id, retry_after_s)"
    )
    approval_id: str | None = Field(None, description="approve it, then send the identical request again")


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
    403: {"model": Problem, "description": "denied by the AgentOps policy (decision) or the caller's role"},
    404: {"model": Problem, "description": "no such object in the caller's tenant"},
    409: {
        "model": Problem,
        "description": "needs human approval (approval_id; nothing ran: approve it, then send the "
        "identical request again), or refused: no quota grant",
    },
    429: {"model": Problem, "description": "shed under load: retry after the Retry-After header (seconds)"},
    503: {"model": Problem, "description": "a dependency (Ray, the lake, the management plane) is down"},
}


def decision_response(exc: AgentOpsError) -> JSONResponse:
    """An engine refusal as an HTTP answer: 403 deny, 409 needs approval, 429 shed."""
    d = exc.decision
    body: dict[str, Any] = {"detail": d.message(), "decision": d.payload()}
    headers: dict[str, str] = {}
    if isinstance(exc, ApprovalPending):
        code = 409
        body["approval_id"] = d.approval_id
        body["detail"] = (
            f"Needs human approval (approval id {d.approval_id}): {d.reason}. Nothing ran. A human "
            f"approves with `auraison approvals approve {d.approval_id}`; then send the identical "
            "request again and it runs once."
        )
    elif isinstance(exc, ToolShed):
        code = 429
        headers["Retry-After"] = str(max(1, math.ceil(d.retry_after_s or 1)))
    else:
        code = 403
    return JSONResponse(body, status_code=code, headers=headers)


def status_for(exc: AuraisonError) -> int:
    """A domain refusal's HTTP status, from its place in the one error family (user error 400,
    forbidden 403, not found 404, conflict 409, unavailable 503); an engine decision never
    gets here."""
    return exc.status_code


def identity_of(claims: dict[str, Any], subject: str) -> Identity:
    """The engine's identity for a verified bearer token. A management-plane key is a person's
    unless its role is ``agent`` (``key_kind``); a static token is an agent unless the verifier
    says otherwise (anything not proven human is an agent)."""
    role = Role(str(claims["role"]))
    if claims.get("kind"):
        kind = PrincipalKind(str(claims["kind"]))
    else:
        kind = key_kind(role) if claims.get("key_id") else PrincipalKind.agent
    return Identity(
        tenant=str(claims["tenant"]),
        role=role,
        subject=subject,
        kind=kind,
        user_id=claims.get("user_id"),
        key_id=claims.get("key_id"),
    )


def build_app(rt: "Runtime", reconcile: bool = False) -> FastAPI:
    """The control plane's HTTP API over ``rt`` (its engine, control plane and management
    store); the app's lifespan closes the runtime (quota grants settle) when the server stops."""
    from auraison.mcp_servers.gateway import HashedTokenVerifier

    settings = rt.settings
    engine = rt.engine

    def cp() -> ControlPlane:
        return rt.control

    verifier = HashedTokenVerifier(settings.agentops.tokens, lambda: rt.billing)

    @contextlib.asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        stop = asyncio.Event()
        task = asyncio.create_task(cp().jobs.watch(stop)) if reconcile else None
        yield
        stop.set()
        if task is not None:
            await task
        await rt.aclose()

    app = FastAPI(
        title="Auraison control plane",
        version="1",
        description="Clusters, Ray jobs, experiments and agent lifecycle, each operation decided by "
        "AgentOps as the MCP tool named in its `x-auraison-tool`. 403: denied (the decision says "
        "why and what instead); 409 with approval_id: a human approves (`auraison approvals "
        "approve <id>`), then the identical request runs once; 429: retry after Retry-After.",
        lifespan=lifespan,
        responses=ERRORS,
    )
    app.state.engine = engine
    bearer = HTTPBearer(auto_error=False)

    async def identity(
        creds: Annotated[HTTPAuthorizationCredentials | None, Depends(bearer)],
    ) -> Identity:
        token = await verifier.verify_token(creds.credentials) if creds else None
        if token is not None:
            try:
                return identity_of(token.claims or {}, str(token.client_id))
            except (KeyError, ValueError):
                pass  # a token whose grant names no known role proves nothing
        raise HTTPException(401, "a valid bearer token is required", headers={"WWW-Authenticate": "Bearer"})

    Who = Annotated[Identity, Depends(identity)]

    @app.exception_handler(AgentOpsError)
    async def engine_refusal(_: Request, exc: AgentOpsError) -> JSONResponse:
        return decision_response(exc)

    @app.exception_handler(AuraisonError)
    async def domain_error(_: Request, exc: AuraisonError) -> JSONResponse:
        return JSONResponse({"detail": str(exc)}, status_code=status_for(exc))

    async def call(request: Request, who: Identity, args: dict[str, Any], fn: Callable[..., T], *a: Any) -> T:
        """Run ``fn(who, *a)`` under the engine, as the route's MCP tool with ``args``."""
        return await execute(request, who, args, lambda: run_in_threadpool(fn, who, *a))

    async def execute(request: Request, who: Identity, args: dict[str, Any], run: Callable[[], Any]) -> Any:
        """Await ``run()`` under the engine, as the route's MCP tool with ``args``."""
        tool = request.scope["route"].openapi_extra[TOOL]
        meta = {k: v for k in ("traceparent", "tracestate") if (v := request.headers.get(k))}
        tc = ToolCall(identity=who, tool=tool, args=args, point="http", traceparent=meta.get("traceparent"))
        return await engine.execute(tc, run, meta=meta or None)

    def sent(request: Request, **values: Any) -> dict[str, Any]:
        """The query parameters the client sent (validated), as an MCP client's arguments."""
        return {k: v for k, v in values.items() if k in request.query_params}

    async def body(request: Request, model: type[BaseModel] | None = None) -> Any:
        """The JSON body exactly as sent (an MCP client's arguments are hashed as sent); with
        ``model``, only its fields, so a body cannot smuggle in a path parameter's name."""
        raw = await request.json()
        if model is None:
            return raw
        return {k: v for k, v in raw.items() if k in model.model_fields}

    def tool(name: str) -> dict[str, Any]:
        return {"openapi_extra": {TOOL: name}}

    ClusterName = Annotated[str, Path(pattern=NAME)]
    Sid = Annotated[str, Path(pattern=SID)]
    RunId = Annotated[str, Path(pattern=r"^run_[0-9a-f]{12}$")]
    ExpId = Annotated[str, Path(pattern=r"^exp_[0-9a-f]{12}$")]
    AgentId = Annotated[str, Path(pattern=r"^agt_[0-9a-f]{16}$")]

    @app.get("/clusters", response_model=list[ClusterInfo], tags=["clusters"], **tool("cluster_list"))
    async def list_clusters(request: Request, who: Who):
        return await call(request, who, {}, cp().cluster_list)

    @app.get("/clusters/{name}", response_model=ClusterStatus, tags=["clusters"], **tool("cluster_status"))
    async def cluster_status(request: Request, who: Who, name: ClusterName):
        return await call(request, who, {"cluster": name}, cp().cluster_status, name)

    @app.post(
        "/clusters/{name}/start", response_model=ClusterStatus, tags=["clusters"], **tool("cluster_start")
    )
    async def cluster_start(request: Request, who: Who, name: ClusterName):
        return await call(request, who, {"cluster": name}, cp().cluster_start, name)

    @app.post(
        "/clusters/{name}/stop", response_model=ClusterStatus, tags=["clusters"], **tool("cluster_stop")
    )
    async def cluster_stop(request: Request, who: Who, name: ClusterName):
        return await call(request, who, {"cluster": name}, cp().cluster_stop, name)

    @app.get("/manifests/{name}", tags=["clusters"], **tool("cluster_render_manifest"))
    async def manifest(
        request: Request, who: Who, name: Literal["ros-dev-gpu", "torch-dev-gpu"]
    ) -> dict[str, Any]:
        return await call(request, who, {"name": name}, cp().cluster_render_manifest, name)

    @app.post("/jobs", response_model=JobInfo, tags=["jobs"], **tool("cluster_job_submit"))
    async def submit(request: Request, who: Who, job: JobRequest):
        if job.callback_url is not None:
            try:  # bad input, refused before any decision (no approval opened for it)
                await asyncio.to_thread(check_callback, str(job.callback_url), settings.control.webhook_allow)
            except CallbackRefused as exc:
                raise RequestValidationError(
                    [
                        {
                            "type": "callback_refused",
                            "loc": ("body", "callback_url"),
                            "msg": str(exc),
                            "input": str(job.callback_url),
                        }
                    ]
                ) from None
        return await call(request, who, {"job": await body(request)}, cp().job_submit, job)

    @app.get("/jobs", response_model=list[JobInfo], tags=["jobs"], **tool("cluster_job_list"))
    async def list_jobs(request: Request, who: Who, limit: Annotated[int, Query(ge=1, le=500)] = 50):
        return await call(request, who, sent(request, limit=limit), cp().job_list, limit)

    @app.get("/jobs/{submission_id}", response_model=JobInfo, tags=["jobs"], **tool("cluster_job_status"))
    async def job_status(request: Request, who: Who, submission_id: Sid):
        return await call(request, who, {"submission_id": submission_id}, cp().job_status, submission_id)

    @app.get("/jobs/{submission_id}/logs", response_model=JobLogs, tags=["jobs"], **tool("cluster_job_logs"))
    async def job_logs(
        request: Request,
        who: Who,
        submission_id: Sid,
        tail_bytes: Annotated[int, Query(ge=1024, le=1_000_000)] = 16_384,
    ):
        args = {"submission_id": submission_id, **sent(request, tail_bytes=tail_bytes)}
        return await call(request, who, args, cp().job_logs, submission_id, tail_bytes)

    @app.post("/jobs/{submission_id}/stop", response_model=JobInfo, tags=["jobs"], **tool("cluster_job_stop"))
    async def job_stop(request: Request, who: Who, submission_id: Sid):
        return await call(request, who, {"submission_id": submission_id}, cp().job_stop, submission_id)

    @app.post("/experiments", tags=["experiments"], **tool("cluster_experiment_create"))
    async def experiment_create(request: Request, who: Who, exp: ExperimentIn) -> dict[str, Any]:
        args = await body(request, ExperimentIn)
        return await call(request, who, args, cp().experiment_create, exp.name, exp.tags)

    @app.post("/experiments/{experiment_id}/runs", tags=["experiments"], **tool("cluster_run_start"))
    async def run_start(request: Request, who: Who, experiment_id: ExpId, run: RunIn) -> dict[str, Any]:
        args = {**await body(request, RunIn), "experiment_id": experiment_id}
        return await call(request, who, args, cp().run_start, experiment_id, run.params, run.job_id)

    @app.post("/runs/{run_id}/params", tags=["experiments"], **tool("cluster_log_params"))
    async def log_params(
        request: Request, who: Who, run_id: RunId, params: dict[str, str | int | float | bool]
    ) -> dict[str, int]:
        args = {"run_id": run_id, "params": await body(request)}
        return {"logged": await call(request, who, args, cp().log_params, run_id, params)}

    @app.post("/runs/{run_id}/metrics", tags=["experiments"], **tool("cluster_log_metrics"))
    async def log_metrics(request: Request, who: Who, run_id: RunId, points: MetricsIn) -> dict[str, int]:
        args = {**await body(request, MetricsIn), "run_id": run_id}
        return {"logged": await call(request, who, args, cp().log_metrics, run_id, points.metrics)}

    @app.post("/runs/{run_id}/end", tags=["experiments"], **tool("cluster_run_end"))
    async def run_end(request: Request, who: Who, run_id: RunId, end: RunEnd) -> dict[str, Any]:
        args = {**await body(request, RunEnd), "run_id": run_id}
        return await call(request, who, args, cp().run_end, run_id, end.status)

    @app.get("/experiments/{experiment_id}/compare", tags=["experiments"], **tool("cluster_runs_compare"))
    async def runs_compare(
        request: Request,
        who: Who,
        experiment_id: ExpId,
        metric: Annotated[str, Query(pattern=r"^[A-Za-z0-9_./-]{1,100}$")],
    ) -> dict[str, Any]:
        args = {"experiment_id": experiment_id, "metric": metric}
        return await call(request, who, args, cp().runs_compare, experiment_id, metric, False)

    @app.post("/agents", response_model=AgentInfo, tags=["agents"], **tool("cluster_agent_register"))
    async def agent_register(request: Request, who: Who, reg: AgentRegisterIn):
        # The MCP tool takes the spec; a re-registration's lease (HTTP only) joins it when sent.
        args = {k: v for k, v in (await body(request, AgentRegisterIn)).items() if v is not None}
        return await call(request, who, args, cp().agent_register, reg.spec, reg.resume_lease)

    @app.get("/agents", response_model=list[AgentInfo], tags=["agents"], **tool("cluster_agent_list"))
    async def agent_list(request: Request, who: Who):
        return await call(request, who, {}, cp().agent_list)

    @app.get("/agents/{agent_id}", response_model=AgentInfo, tags=["agents"], **tool("cluster_agent_status"))
    async def agent_status(request: Request, who: Who, agent_id: AgentId):
        return await call(request, who, {"agent_id": agent_id}, cp().agent_status, agent_id)

    @app.post(
        "/agents/{agent_id}/start", response_model=AgentInfo, tags=["agents"], **tool("cluster_agent_start")
    )
    async def agent_start(request: Request, who: Who, agent_id: AgentId, start: AgentStartIn):
        args = {**await body(request, AgentStartIn), "agent_id": agent_id}
        return await call(request, who, args, cp().agent_start, agent_id, start.quota_tool_calls)

    @app.post(
        "/agents/{agent_id}/heartbeat",
        response_model=AgentInfo,
        tags=["agents"],
        **tool("cluster_agent_heartbeat"),
    )
    async def agent_heartbeat(request: Request, who: Who, agent_id: AgentId):
        return await call(request, who, {"agent_id": agent_id}, cp().agent_heartbeat, agent_id)

    @app.post(
        "/agents/{agent_id}/stop", response_model=AgentInfo, tags=["agents"], **tool("cluster_agent_stop")
    )
    async def agent_stop(request: Request, who: Who, agent_id: AgentId, stop: AgentStopIn):
        args = {**await body(request, AgentStopIn), "agent_id": agent_id}
        return await call(request, who, args, cp().agent_stop, agent_id, stop.used_tool_calls)

    # Agent runs: a registered agent started as a supervised job (see runs.py).
    ARunId = Annotated[str, Path(pattern=r"^arun_[0-9a-f]{16}$")]

    def report_url(request: Request) -> str:
        """Where a run's supervisor reports: control.api_url when configured, else this API as
        the client reached it."""
        if "api_url" in settings.control.model_fields_set:
            return settings.control.api_url
        return str(request.base_url)

    @app.post(
        "/agents/{agent_id}/runs", response_model=AgentRunInfo, tags=["agents"], **tool("cluster_agent_run")
    )
    async def agent_run(request: Request, who: Who, agent_id: AgentId, run: AgentRunRequest):
        # A callback_url the control plane must not call is refused by the run service (422),
        # once the start is decided: every face checks it in the same place.
        args = {"agent_id": agent_id, "run": await body(request)}
        return await call(request, who, args, cp().agent_run, agent_id, run, report_url(request))

    @app.get(
        "/agents/{agent_id}/runs",
        response_model=list[AgentRunInfo],
        tags=["agents"],
        **tool("cluster_agent_runs"),
    )
    async def agent_runs(
        request: Request, who: Who, agent_id: AgentId, limit: Annotated[int, Query(ge=1, le=500)] = 50
    ):
        args = {"agent_id": agent_id, **sent(request, limit=limit)}
        return await call(request, who, args, cp().agent_runs, agent_id, limit)

    @app.get(
        "/runs/{run_id}", response_model=AgentRunInfo, tags=["agents"], **tool("cluster_agent_run_status")
    )
    async def agent_run_status(request: Request, who: Who, run_id: ARunId):
        return await call(request, who, {"run_id": run_id}, cp().agent_run_status, run_id)

    @app.post(
        "/runs/{run_id}/stop", response_model=AgentRunInfo, tags=["agents"], **tool("cluster_agent_run_stop")
    )
    async def agent_run_stop(request: Request, who: Who, run_id: ARunId):
        return await call(request, who, {"run_id": run_id}, cp().agent_run_stop, run_id)

    @app.post(
        "/runs/{run_id}/report",
        response_model=AgentRunInfo,
        include_in_schema=False,  # the runs' supervisors' channel, not part of the public API
        **tool("cluster_agent_run_report"),
    )
    async def agent_run_report(
        request: Request,
        run_id: ARunId,
        report: RunReport,
        creds: Annotated[HTTPAuthorizationCredentials | None, Depends(bearer)],
    ):
        """A supervisor's heartbeat or its run's end; the bearer is the run's own token, and
        the report is decided as the run (an agent principal of the run's tenant)."""
        if creds is None:
            raise HTTPException(401, "the run's token is required", headers={"WWW-Authenticate": "Bearer"})
        token = creds.credentials
        who = await run_in_threadpool(cp().runs.reporter, run_id, token, report.registration)
        args = {"run_id": run_id, "token": token, "report": await body(request)}
        return await call(request, who, args, cp().agent_run_report, run_id, token, report)

    from .console import add_console  # the operator console: its routes, then its pages

    add_console(app, rt, Who, execute)
    return app
