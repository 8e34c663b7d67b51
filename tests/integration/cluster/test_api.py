"""The control plane's HTTP API through a real uvicorn: auth, jobs, AgentOps decisions (an
agent's key waits for a person before it stops a job), agents with quota grants from the
management plane, an agent that keeps running while the API is down and re-registers when it
returns, and schemathesis against the OpenAPI document."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
import schemathesis
from hypothesis import HealthCheck, given
from hypothesis import settings as hsettings

from auraison.agentops.engine import AgentOps
from auraison.identity import Role
from auraison.mcp_servers.billing.service import ADMIN, Billing
from auraison.mcp_servers.cluster.agent_client import AgentHandle
from auraison.mcp_servers.cluster.events import EventLog
from auraison.mcp_servers.cluster.http_api import build_app
from auraison.mcp_servers.cluster.models import AgentSpec
from auraison.runtime import Runtime
from auraison.settings import Settings
from tests.conftest import free_port
from tests.integration.cluster.conftest import control_settings
from tests.servers import Receiver, Served
from tests.simthread import SimThread

SLOW = 60  # seconds a request may take: Ray's Jobs API on a loaded two-core machine is slow
TOKENS = [
    {"token": "op-acme", "tenant": "acme", "role": "operator"},
    {"token": "view-acme", "tenant": "acme", "role": "viewer"},
    {"token": "op-globex", "tenant": "globex", "role": "operator"},
]


class Api:
    """A real uvicorn serving the control API; stop() and start() again at the same address
    (the first start binds port 0: ``tests.servers.Served``)."""

    def __init__(self, settings: Settings, port: int = 0, engine: AgentOps | None = None) -> None:
        self.settings, self.port, self.engine = settings, port, engine
        self.served: Served | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self, settings: Settings | None = None) -> Api:
        self.served = Served(build_app(Runtime(settings or self.settings, engine=self.engine)), self.port)
        self.port = self.served.port
        return self

    def stop(self) -> None:
        self.served.stop()


def api_settings(home: Path, ray_head: str, **extra) -> Settings:
    return control_settings(home, ray_head, agentops={"approvals": "memory", "tokens": TOKENS}, **extra)


@pytest.fixture
def api(tmp_path: Path, ray_head: str) -> Iterator[Api]:
    settings = api_settings(tmp_path, ray_head)
    billing = Billing.from_settings(settings)
    billing.tenant_create(ADMIN, "acme", plan="pro")
    billing.quota_set(ADMIN, "acme", "tool_calls", 100)
    server = Api(settings).start()
    yield server
    server.stop()


def H(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def test_auth_roles_and_tenants(api: Api) -> None:
    with httpx.Client(base_url=api.url, timeout=SLOW) as http:
        assert http.get("/jobs").status_code == 401
        assert http.get("/jobs", headers=H("nope")).status_code == 401
        assert http.get("/jobs", headers=H("view-acme")).json() == []
        body = {"entrypoint": "python -c 'print(7)'", "submission_id": "api-1"}
        denied = http.post("/jobs", json=body, headers=H("view-acme"))
        assert denied.status_code == 403 and denied.json()["decision"]["rule"] == "viewers-never-move"
        assert "cluster_job_submit is denied for role viewer" in denied.json()["detail"]
        created = http.post("/jobs", json=body, headers=H("op-acme"))
        assert created.status_code == 200 and created.json()["submission_id"] == "api-1"
        assert http.get("/jobs/api-1", headers=H("op-globex")).status_code == 404  # another tenant's job
        bad = http.post("/jobs", json={"entrypoint": ""}, headers=H("op-acme"))
        assert bad.status_code == 422  # validated by the same models as the MCP tools
        assert http.get("/clusters/local", headers=H("view-acme")).json()["up"] is True


def ray_status(ray_head: str, sid: str) -> str:
    """A job's status as Ray itself reports it (its Jobs API), not as the control plane says."""
    return httpx.get(f"{ray_head}/api/jobs/{sid}", timeout=SLOW).json()["status"]


def approve(home: Path, approval_id: str, api_key: str) -> subprocess.CompletedProcess[str]:
    """`auraison approvals approve <id>` in its own process, as the holder of ``api_key``."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("AURAISON_")}
    env |= {"AURAISON_HOME": str(home), "AURAISON_API_KEY": api_key}
    return subprocess.run(
        [sys.executable, "-m", "auraison", "approvals", "approve", approval_id],
        capture_output=True,
        text=True,
        env=env,
        stdin=subprocess.DEVNULL,
    )


def test_an_agent_key_stops_a_job_only_after_a_person_approves(tmp_path: Path, ray_head: str) -> None:
    """The HTTP API is decided by the same engine as the MCP tools: an agent's key asking to stop
    a job gets an approval id and the job keeps running; a person approves with the CLI; the
    identical request then stops it — once. A viewer's key is denied with the policy's reason."""
    settings = control_settings(tmp_path, ray_head, agentops={"approvals": "sqlite"})
    billing = Billing.from_settings(settings)
    billing.tenant_create(ADMIN, "acme", plan="pro")
    keys = {
        role: billing.apikey_issue(ADMIN, "acme", role.value, role).api_key
        for role in (Role.agent, Role.viewer, Role.operator, Role.owner)
    }
    engine = Runtime(settings).engine
    api = Api(settings, engine=engine).start()
    try:
        with httpx.Client(base_url=api.url, timeout=SLOW) as http:
            job = {"entrypoint": "python -c 'import time; time.sleep(300)'", "submission_id": "held"}
            assert http.post("/jobs", json=job, headers=H(keys[Role.operator])).status_code == 200
            deadline = time.monotonic() + 90
            while ray_status(ray_head, "held") != "RUNNING":
                assert time.monotonic() < deadline, "the job never started"
                time.sleep(0.2)  # polling Ray's Jobs API, which has no push

            asked = http.post("/jobs/held/stop", headers=H(keys[Role.agent]))
            assert asked.status_code == 409, asked.text
            approval_id = asked.json()["approval_id"]
            assert asked.json()["decision"]["kind"] == "needs_approval"
            assert f"auraison approvals approve {approval_id}" in asked.json()["detail"]
            viewer = http.post("/jobs/held/stop", headers=H(keys[Role.viewer]))
            assert viewer.status_code == 403 and viewer.json()["decision"]["kind"] == "deny"
            assert "cluster_job_stop is denied for role viewer" in viewer.json()["decision"]["reason"]
            again = http.post("/jobs/held/stop", headers=H(keys[Role.agent]))
            assert again.status_code == 409 and again.json()["approval_id"] == approval_id  # still pending
            assert ray_status(ray_head, "held") == "RUNNING"  # nothing was stopped

            refused = approve(tmp_path, approval_id, keys[Role.agent])  # an agent never decides
            assert refused.returncode != 0 and ray_status(ray_head, "held") == "RUNNING"
            done = approve(tmp_path, approval_id, keys[Role.owner])  # a person does
            assert done.returncode == 0 and "approved" in done.stdout, done.stderr

            stopped = http.post("/jobs/held/stop", headers=H(keys[Role.agent]))
            assert stopped.status_code == 200, stopped.text
            replay = http.post("/jobs/held/stop", headers=H(keys[Role.agent]))
            assert replay.status_code == 409 and replay.json()["approval_id"] != approval_id  # single use
    finally:
        api.stop()
    events = [json.loads(x) for x in EventLog(settings).file.read_text().splitlines()]
    assert [e["type"] for e in events if e["subject"] == "held"].count("job.stop_requested") == 1
    deadline = time.monotonic() + 90
    while ray_status(ray_head, "held") != "STOPPED":
        assert time.monotonic() < deadline, "the approved stop never took effect"
        time.sleep(0.2)
    stops = [(d.point, d.role, d.kind) for d in engine.decisions if d.tool == "cluster_job_stop"]
    assert stops == [
        ("http", "agent", "needs_approval"),
        ("http", "viewer", "deny"),
        ("http", "agent", "needs_approval"),
        ("http", "agent", "allow"),
        ("http", "agent", "needs_approval"),
    ]
    assert {d.point for d in engine.decisions} == {"http"}


def test_agent_start_needs_a_grant_and_says_why_not(api: Api, tmp_path: Path, ray_head: str) -> None:
    spec = {"spec": {"name": "navigator", "quota_tool_calls": 60}}
    with httpx.Client(base_url=api.url, headers=H("op-acme"), timeout=SLOW) as http:
        agent = http.post("/agents", json=spec).json()
        started = http.post(f"/agents/{agent['agent_id']}/start", json={"quota_tool_calls": 60})
        assert started.status_code == 200 and started.json()["state"] == "running"
        other = http.post("/agents", json={"spec": {"name": "explorer"}}).json()
        refused = http.post(f"/agents/{other['agent_id']}/start", json={"quota_tool_calls": 60})
        assert refused.status_code == 409 and "40 tool_calls left" in refused.json()["detail"]
        stopped = http.post(f"/agents/{agent['agent_id']}/stop", json={"used_tool_calls": 12}).json()
        assert stopped["state"] == "stopped"
    billing = Billing.from_settings(api.settings)
    assert billing.quota_get(ADMIN, "acme")[0].used == 12  # the grant settled at what was used

    # The management plane unreachable: new starts are refused, and the answer says so.
    down = api_settings(tmp_path / "down", ray_head, management={"store": "postgres"},
                        postgres={"dsn": f"postgresql://postgres@127.0.0.1:{free_port()}/x"})  # fmt: skip
    server = Api(down).start()
    try:
        with httpx.Client(base_url=server.url, headers=H("op-acme"), timeout=SLOW) as http:
            agent = http.post("/agents", json=spec).json()
            refused = http.post(f"/agents/{agent['agent_id']}/start", json={"quota_tool_calls": 1})
            assert refused.status_code == 503
            assert "management plane unavailable, no new agent starts" in refused.json()["detail"]
    finally:
        server.stop()


async def test_an_agent_keeps_running_while_the_control_api_is_down(
    api: Api, tmp_path: Path, ray_head: str
) -> None:
    handle = AgentHandle(
        api.url, "op-acme", AgentSpec(name="patroller", quota_tool_calls=10), heartbeat_s=3600
    )
    await handle.start()
    lease = handle.info.lease_id
    steps = 0
    progressed = asyncio.Event()

    async def work() -> None:  # the agent's own job, which must never wait on the control plane
        nonlocal steps
        while True:
            steps += 1
            if steps % 20 == 0:
                progressed.set()
            await asyncio.sleep(0.005)  # one unit of simulated work

    worker = asyncio.create_task(work())
    assert await handle.beat_once() is True
    api.stop()  # the control plane goes away
    assert await handle.beat_once() is False  # the heartbeat fails …
    progressed.clear()
    before = steps
    await asyncio.wait_for(progressed.wait(), 10)
    assert steps > before and not worker.done()  # … and the agent goes on working

    # The control plane returns with its state lost (a fresh store): the agent re-registers
    # as running on the grant it already holds.
    api.start(api_settings(tmp_path / "fresh", ray_head))
    assert await handle.beat_once() is True and handle.reregistrations == 1
    async with httpx.AsyncClient(base_url=api.url, headers=H("op-acme"), timeout=SLOW) as http:
        info = (await http.get(f"/agents/{handle.info.agent_id}")).json()
    assert info["state"] == "running" and info["lease_id"] == lease
    worker.cancel()
    await handle.stop(used_tool_calls=3)


def test_the_api_honours_its_openapi_document(api: Api) -> None:
    """Every operation fuzzed from the OpenAPI document: no server errors, responses that match
    their declared schemas and status codes (schemathesis's checks). The console's robot routes
    answer from a simulator of the test's own (not whatever listens on the default port)."""
    with SimThread("maze_small", speed=5.0) as sim:
        robot = api.settings.robot.model_copy(update={"rosbridge_url": sim.url})
        api.stop()
        api.start(api.settings.model_copy(update={"robot": robot}))
        _fuzz(api)


def _fuzz(api: Api) -> None:
    schema = schemathesis.openapi.from_url(f"{api.url}/openapi.json")
    # Side effects outside the test's sandbox stay out of the fuzzing: starting/stopping the
    # machine's Ray head, and running generated shell commands as Ray jobs.
    schema = schema.exclude(path_regex=r"^/clusters/\{name\}/(start|stop)$").exclude(
        method="POST", path="/jobs"
    )
    tested = []
    for result in schema.get_all_operations():
        operation = result.ok()

        @given(case=operation.as_strategy())
        @hsettings(max_examples=10, deadline=None, suppress_health_check=list(HealthCheck))
        def check(case) -> None:
            case.call_and_validate(base_url=api.url, headers=H("op-acme"))

        check()
        tested.append(operation.label)
    assert len(tested) >= 18, tested


async def test_control_serve_reconciles_and_calls_back_on_its_own(tmp_path: Path, ray_head: str) -> None:
    """The API's reconciler loop (what `auraison control serve` runs) notices a finished job and
    delivers its signed webhook without anyone asking."""
    from auraison.mcp_servers.cluster import webhooks

    receiver = Receiver()
    # The receiver is on loopback, which a callback_url may only name when the allow-list does.
    hook = f"http://127.0.0.1:{receiver.port}/done"
    settings = api_settings(
        tmp_path, ray_head, control={"webhook_secret": "k", "reconcile_s": 0.2, "webhook_allow": [hook]}
    )
    app = build_app(Runtime(settings), reconcile=True)
    served = Served(app)
    port = served.port
    try:
        body = {
            "entrypoint": "python -c 'print(1)'",
            "submission_id": "served-1",
            "callback_url": hook,
        }
        async with httpx.AsyncClient(
            base_url=f"http://127.0.0.1:{port}", headers=H("op-acme"), timeout=SLOW
        ) as http:
            assert (await http.post("/jobs", json=body)).status_code == 200
        assert await asyncio.to_thread(receiver.arrived.wait, 90)
    finally:
        served.stop()
        receiver.stop()
    payload, headers = receiver.posts[0]
    signature = headers[webhooks.HEADER]
    assert webhooks.verify("k", payload, signature) and b'"served-1"' in payload and len(receiver.posts) == 1
