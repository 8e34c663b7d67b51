"""Pydantic models at the control plane's boundary: the MCP tools and the HTTP API share them."""

from __future__ import annotations

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


class AgentSpec(BaseModel):
    name: str = Field(pattern=r"^[a-z0-9][a-z0-9._-]{0,62}$")
    version: str = Field("0.1.0", max_length=40)
    policy: str = Field("default", max_length=200, description="the AgentOps policy it runs under")
    quota_tool_calls: float = Field(50, gt=0, le=1e9, description="tool calls granted at start")


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
