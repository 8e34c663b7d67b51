"""Pydantic models at the control plane's boundary: the MCP tools and the HTTP API share them."""

from __future__ import annotations

from enum import StrEnum
from typing import Any, Literal

from pydantic import BaseModel, Field, HttpUrl

TERMINAL = {"SUCCEEDED", "FAILED", "STOPPED", "LOST"}  # Ray job states that never change again

Name = Field(pattern=r"^[a-z0-9][a-z0-9._-]{0,62}$")
SubmissionId = Field(pattern=r"^[A-Za-z0-9_.-]{1,100}$")


class ClusterInfo(BaseModel):
    name: str
    kind: Literal["local", "remote"]
    address: str = Field(description="the Ray dashboard / Jobs API URL")
    managed: bool = Field(description="started and stopped by Auraison (local only)")
    up: bool = False


class NodeInfo(BaseModel):
    node_id: str
    ip: str
    state: str
    is_head: bool
    resources: dict[str, float]


class ClusterStatus(BaseModel):
    name: str
    up: bool
    nodes: list[NodeInfo] = []
    total: dict[str, float] = {}
    used: dict[str, float] = {}
    free: dict[str, float] = {}
    detail: str = ""


class Resources(BaseModel):
    num_cpus: float | None = Field(None, ge=0, le=1024)
    num_gpus: float | None = Field(None, ge=0, le=64)
    memory_bytes: int | None = Field(None, ge=0)
    custom: dict[str, float] = {}


class JobRequest(BaseModel):
    entrypoint: str = Field(min_length=1, max_length=10_000, description="shell command run on the cluster")
    submission_id: str | None = Field(
        None, pattern=r"^[A-Za-z0-9_.-]{1,100}$", description="idempotency key: resubmitting it is a no-op"
    )
    cluster: str = Field("local", pattern=r"^[a-z0-9][a-z0-9._-]{0,62}$")
    runtime_env: dict[str, Any] = Field({}, description="Ray runtime_env: working_dir, pip, env_vars, …")
    resources: Resources = Resources()
    metadata: dict[str, str] = {}
    callback_url: HttpUrl | None = Field(
        None,
        description="POSTed a signed JSON body when the job ends; a public address, unless "
        "control.webhook_allow names it (loopback, private and link-local ones are refused)",
    )


class JobInfo(BaseModel):
    submission_id: str
    cluster: str
    tenant: str
    entrypoint: str
    status: str
    message: str = ""
    start_time: float | None = None
    end_time: float | None = None
    created: bool | None = Field(
        None, description="False when an earlier submission with this id was returned"
    )


class JobLogs(BaseModel):
    submission_id: str
    logs: str
    truncated: bool
    total_bytes: int


AgentKind = Literal["pydantic-ai", "claude-code"]


class AgentSpec(BaseModel):
    name: str = Field(pattern=r"^[a-z0-9][a-z0-9._-]{0,62}$")
    version: str = Field("0.1.0", max_length=40)
    policy: str = Field("default", max_length=200, description="the AgentOps policy it runs under")
    quota_tool_calls: float = Field(50, gt=0, le=1e9, description="tool calls granted at start")
    kind: AgentKind = Field(
        "pydantic-ai", description="what a run starts: a Pydantic AI agent, or a headless Claude Code session"
    )
    definition: Literal["navigator", "operator", "analyst"] | None = Field(
        None,
        description="the agent definition (agents/instructions) a Pydantic AI run loads; "
        "default: the one named like the agent, else operator",
    )
    cluster: str | None = Field(
        None,
        pattern=r"^[a-z0-9][a-z0-9._-]{0,62}$",
        description="run on this Ray cluster as a Ray job; unset: a local subprocess",
    )


class AgentInfo(BaseModel):
    agent_id: str
    name: str
    version: str
    tenant: str
    policy: str
    state: Literal["registered", "running", "stale", "stopped"]
    last_heartbeat: float | None = None
    lease_id: str | None = None


class RunSummary(BaseModel):
    run_id: str
    experiment_id: str
    status: str
    params: dict[str, str]
    last: dict[str, float]


class RunStatus(StrEnum):
    """An agent run's status; like a Ray job's, a terminal one never changes again."""

    PENDING = "PENDING"
    RUNNING = "RUNNING"
    SUCCEEDED = "SUCCEEDED"
    FAILED = "FAILED"
    STOPPED = "STOPPED"
    LOST = "LOST"

    def is_terminal(self) -> bool:
        return self in (RunStatus.SUCCEEDED, RunStatus.FAILED, RunStatus.STOPPED, RunStatus.LOST)


AgentRunId = Field(pattern=r"^arun_[0-9a-f]{16}$")


class AgentRunRequest(BaseModel):
    prompt: str = Field(min_length=1, max_length=20_000, description="what the agent is asked to do")
    quota_tool_calls: float | None = Field(
        None, gt=0, le=1e9, description="the run's quota grant (default: the agent spec's)"
    )
    callback_url: HttpUrl | None = Field(
        None,
        description="POSTed a signed JSON body when the run ends; a public address, unless "
        "control.webhook_allow names it",
    )


class RunRegistration(BaseModel):
    """A run as its supervisor knows it: enough for a control plane that lost its record (a
    fresh store) to take the run back, on the proof of the run's quota lease."""

    agent_id: str = Field(pattern=r"^agt_[0-9a-f]{16}$")
    tenant: str = Field(max_length=63)
    agent: str = Field(max_length=63)
    kind: AgentKind
    where: str = Field(max_length=70)
    prompt: str = Field(max_length=20_000)
    lease_id: str = Field(pattern=r"^lse_[0-9a-f]{16}$")
    trace_id: str = Field(pattern=r"^[0-9a-f]{32}$")
    created: float
    callback_url: str | None = Field(None, max_length=2000)
    pid: int | None = Field(None, description="the supervisor's process, for a local run")
    submission_id: str | None = Field(None, max_length=100, description="the Ray job, for a run on Ray")


class RunReport(BaseModel):
    """What a run's supervisor tells the control plane: a heartbeat (status RUNNING) or the end."""

    status: RunStatus
    trace_id: str | None = Field(None, pattern=r"^[0-9a-f]{32}$")
    input_tokens: int = Field(0, ge=0)
    output_tokens: int = Field(0, ge=0)
    tool_calls: int = Field(0, ge=0)
    model: str | None = Field(None, max_length=200)
    output: str = Field("", max_length=100_000)
    message: str = Field("", max_length=10_000)
    registration: RunRegistration | None = Field(
        None, description="the run itself, for a control plane that no longer knows it"
    )


class AgentRunInfo(BaseModel):
    run_id: str
    agent_id: str
    tenant: str
    agent: str
    kind: AgentKind
    where: str = Field(description="local (a subprocess of the control plane's machine) or ray:<cluster>")
    status: RunStatus
    prompt: str
    lease_id: str | None = None
    trace_id: str | None = None
    submission_id: str | None = Field(None, description="the Ray job, when it runs on a cluster")
    pid: int | None = Field(None, description="the supervisor's process, when it runs locally")
    input_tokens: int = 0
    output_tokens: int = 0
    tool_calls: int = 0
    model: str | None = None
    output: str = ""
    message: str = ""
    created: float
    last_heartbeat: float | None = None
    ended: float | None = None


class RunLaunch(BaseModel):
    """What a run's supervisor is given (``run.json`` in the run's folder, readable by its owner
    only): the task, where to report, and the control plane's settings as ``AURAISON_*``. The
    run's own facts (tenant, agent, kind, prompt, trace id: the agent's spans are its children)
    are its ``registration``, sent back with every report."""

    run_id: str
    definition: str
    report_url: str | None = Field(None, description="the control API; None: write to the control store")
    report_token: str
    registration: RunRegistration
    heartbeat_s: float
    stop_grace_s: float
    env: dict[str, str] = {}
