"""The control plane runs agents, end to end with the offline model: a Pydantic AI agent started
over HTTP (a person approves the start) whose run outlives the control API, a run started and
followed by `auraison agents run --wait`, a run stopped, a run on the local Ray head as a Ray
job, and a headless Claude Code session with the plugin started through the gateway's
`cluster_agent_run`. Every run is a real supervisor process and a real agent (or the real
Claude Code CLI); the management plane is the real SQLite store."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, HTTPServer
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastmcp import Client

from auraison.identity import Identity, PrincipalKind, Role
from auraison.mcp_servers.billing.service import ADMIN, Billing
from auraison.mcp_servers.cluster import webhooks
from auraison.mcp_servers.cluster.events import EventLog
from auraison.mcp_servers.cluster.models import AgentRunRequest, AgentSpec, RunStatus
from auraison.mcp_servers.cluster.runs import settings_env
from auraison.mcp_servers.cluster.server import build_server
from auraison.mcp_servers.cluster.service import ControlPlane
from auraison.runtime import Runtime
from auraison.settings import Settings
from tests.conftest import REPO
from tests.integration.cluster.conftest import control_settings
from tests.integration.cluster.test_api import TOKENS, Api, H
from tests.tcpproxy import TcpProxy

SLOW = 120  # seconds a run may take on a loaded two-core machine
ADMIN_CALLER = Identity(tenant="acme", role=Role.admin, subject="test", kind=PrincipalKind.agent)
PROMPT = "list pending approvals"  # the offline stand-in calls approvals_list once, then answers


def run_settings(home: Path, ray_head: str = "http://127.0.0.1:9", **control: Any) -> Settings:
    """A control plane for runs (``ray_head``: only the Ray run needs a real one)."""
    control = {"webhook_secret": "k", "webhook_allow": ["127.0.0.1"], "heartbeat_s": 1.0, **control}
    agentops = {"approvals": "sqlite", "tokens": TOKENS, "tenant": "acme"}
    settings = control_settings(home, ray_head, agentops=agentops, control=control)
    billing = Billing.from_settings(settings)
    billing.tenant_create(ADMIN, "acme", plan="pro")
    billing.quota_set(ADMIN, "acme", "tool_calls", 100)
    billing.store.close()
    return settings


def until(check: Callable[[], Any], what: str, timeout_s: float = SLOW) -> Any:
    """Poll ``check`` until it returns something truthy (the runs are other processes: nothing
    pushes their progress to the test)."""
    deadline = time.monotonic() + timeout_s
    while not (got := check()):
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.1)
    return got


@pytest.fixture
def hook() -> Iterator[tuple[str, list[tuple[bytes, str]], threading.Event]]:
    got: list[tuple[bytes, str]] = []
    arrived = threading.Event()

    class Hook(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            got.append((self.rfile.read(int(self.headers["Content-Length"])), self.headers[webhooks.HEADER]))
            self.send_response(204)
            self.end_headers()
            arrived.set()

        def log_message(self, *args: object) -> None:
            pass

    receiver = HTTPServer(("127.0.0.1", 0), Hook)
    threading.Thread(target=receiver.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{receiver.server_address[1]}/runs", got, arrived
    receiver.shutdown()


def used_tool_calls(settings: Settings) -> float:
    billing = Billing.from_settings(settings)
    try:
        return float(next(q.used for q in billing.quota_get(ADMIN, "acme") if q.dimension == "tool_calls"))
    finally:
        billing.store.close()


@pytest.mark.timeout(300)
async def test_a_run_started_over_http_outlives_the_control_api(tmp_path: Path, hook) -> None:
    """A person approves the start; the run's quota grant is taken; the control API then goes
    away (its proxy cut) and the run completes anyway. The API comes back having lost its state
    (a fresh control store): the run re-registers on the proof of its lease and its end lands:
    the grant settles at the tool calls used, tokens are metered, the trace id is the agent's,
    and the signed webhook arrives."""
    url, got, arrived = hook
    proxy = TcpProxy("127.0.0.1", 0).start()  # its target is set once the API has its port
    settings = run_settings(tmp_path, api_url=f"http://127.0.0.1:{proxy.port}")
    rt = Runtime(settings)  # this process's one runtime: its engine, and the lake its spans go to
    engine = rt.engine
    api = Api(settings, engine=engine).start()
    proxy.target = ("127.0.0.1", api.port)
    supervisor: int | None = None
    try:
        async with httpx.AsyncClient(
            base_url=f"http://127.0.0.1:{proxy.port}", headers=H("op-acme"), timeout=SLOW
        ) as http:
            spec = {"name": "helper", "definition": "operator", "quota_tool_calls": 20}
            agent = (await http.post("/agents", json={"spec": spec})).json()
            body = {"prompt": PROMPT, "callback_url": url}
            asked = await http.post(f"/agents/{agent['agent_id']}/runs", json=body)
            assert asked.status_code == 409, asked.text  # an operator's start waits for a person
            person = Identity(tenant="acme", role=Role.owner, subject="alice", kind=PrincipalKind.human)
            await engine.approvals.decide(asked.json()["approval_id"], True, by=person)
            started = await http.post(f"/agents/{agent['agent_id']}/runs", json=body)
            assert started.status_code == 200, started.text
            run = started.json()
            assert run["status"] == "RUNNING" and run["where"] == "local" and run["lease_id"]
            supervisor = run["pid"]

            listed = (await http.get(f"/agents/{agent['agent_id']}/runs")).json()
            assert [r["run_id"] for r in listed] == [run["run_id"]]
            run_dir = settings.data_dir / "agent-runs" / run["run_id"]
            proxy.stop()  # the control API is unreachable from here on
            until(lambda: (run_dir / "result.json").exists(), "the run to end with the API away")
            # The run has ended; the control plane has not heard (its supervisor keeps trying).
            away = ControlPlane(settings).agent_run_status(ADMIN_CALLER, run["run_id"])
            assert away.status == RunStatus.RUNNING and os.kill(run["pid"], 0) is None
            assert json.loads((run_dir / "result.json").read_text())["status"] == "SUCCEEDED"

            api.stop()  # and it loses its state: a fresh control store when it starts again
            store = settings.data_dir / "control" / "control.sqlite"
            store.rename(store.with_suffix(".lost"))
            api.start()
            proxy = TcpProxy("127.0.0.1", api.port)
            proxy.port = int(settings.control.api_url.rsplit(":", 1)[1])
            proxy.start()  # the API is back, at the same address

            async def ended() -> dict[str, Any] | None:
                got = await http.get(f"/runs/{run['run_id']}")
                if got.status_code == 404:
                    return None  # not re-registered yet
                info = got.json()
                return info if RunStatus(info["status"]).is_terminal() else None

            deadline = time.monotonic() + SLOW
            while (done := await ended()) is None:
                assert time.monotonic() < deadline, "the run's end never landed"
                await _pause()
    except BaseException:  # a supervisor retries its report for a day: end it with the test
        if supervisor is not None:
            for kill in (os.killpg, os.kill):
                with contextlib.suppress(OSError):
                    kill(supervisor, signal.SIGKILL)
        raise
    finally:
        proxy.stop()
        api.stop()
    assert done["status"] == "SUCCEEDED", done
    assert done["tool_calls"] == 1 and done["input_tokens"] > 0 and done["output_tokens"] > 0
    assert done["model"] == "offline stand-in" and "No approvals are pending" in done["output"]
    assert done["trace_id"] == run["trace_id"] and done["lease_id"] == run["lease_id"]
    # The agent process traced into the lake, read through this process's one attached lake.
    query = "SELECT count(*) FROM lake.spans WHERE trace_id = ?"
    traced = rt.lake.execute(query, [run["trace_id"]]).fetchone()
    await rt.aclose()
    assert traced[0] > 0  # the agent's own spans are under the run's trace

    assert used_tool_calls(settings) == 1  # the grant of 20 settled at what was used
    billing = Billing.from_settings(settings)
    usage = {(u.dimension, u.agent) for u in billing.usage_report(ADMIN, "acme", by=("agent",))}
    billing.store.close()
    assert ("model_input_tokens", "helper") in usage and ("model_output_tokens", "helper") in usage

    assert arrived.wait(30)
    payload, signature = got[0]
    assert webhooks.verify("k", payload, signature) and len(got) == 1
    sent = json.loads(payload)
    assert sent["type"] == "agent_run.finished" and sent["run"]["status"] == "SUCCEEDED"
    events = [json.loads(x) for x in EventLog(settings).file.read_text().splitlines()]
    kinds = [e["type"] for e in events if e["subject"] == run["run_id"]]
    assert kinds[:3] == ["agent_run.started", "agent_run.reregistered", "agent_run.succeeded"]


async def _pause() -> None:
    import asyncio

    await asyncio.sleep(0.1)  # the supervisor's retry backoff decides when the end lands


@pytest.mark.timeout(300)
def test_an_agent_whose_spec_names_a_cluster_runs_as_a_ray_job(tmp_path: Path, ray_head: str, hook) -> None:
    """The supervisor runs as the Ray job's entrypoint and, started with no API in between,
    records the run's end in the control store itself and sends its signed webhook."""
    url, got, arrived = hook
    settings = run_settings(tmp_path, ray_head)
    plane = ControlPlane(settings)
    on_ray = plane.agent_register(ADMIN_CALLER, AgentSpec(name="raid", cluster="local"))
    request = AgentRunRequest(prompt=PROMPT, callback_url=url)
    ray_run = plane.agent_run(ADMIN_CALLER, on_ray.agent_id, request)
    assert ray_run.where == "ray:local" and ray_run.submission_id == ray_run.run_id and ray_run.pid is None
    finished = plane.runs.wait("acme", ray_run.run_id, SLOW)
    logs = plane.job_logs(ADMIN_CALLER, ray_run.run_id).logs  # the supervisor's, from Ray
    assert finished.status == RunStatus.SUCCEEDED and finished.tool_calls == 1, (finished, logs)
    # Ray sees its job (the supervisor) end once the run's end was reported.
    until(lambda: plane.job_status(ADMIN_CALLER, ray_run.run_id).status == "SUCCEEDED", "the Ray job's end")
    assert used_tool_calls(settings) == 1
    assert arrived.is_set() and len(got) == 1  # sent before the supervisor (the job) ended
    assert webhooks.verify("k", *got[0]) and json.loads(got[0][0])["run"]["run_id"] == ray_run.run_id


@pytest.mark.timeout(300)
def test_the_cli_runs_an_agent_and_a_run_can_be_stopped(tmp_path: Path) -> None:
    """`auraison agents run NAME --wait --json` starts a run and follows it to its end (reports
    go to the control store: no API in between); a run stopped is SIGTERMed with its agent and
    ends STOPPED, its grant released."""
    settings = run_settings(tmp_path)
    plane = ControlPlane(settings)
    local = plane.agent_register(ADMIN_CALLER, AgentSpec(name="helper", definition="operator"))

    env = {k: v for k, v in os.environ.items() if not k.startswith(("AURAISON_", "ANTHROPIC_"))}
    env |= settings_env(settings)
    env["AURAISON_AGENTOPS"] = json.dumps(json.loads(env["AURAISON_AGENTOPS"]) | {"role": "admin"})
    cli = subprocess.run(
        [sys.executable, "-m", "auraison", "agents", "run", "helper", "--prompt", PROMPT, "--wait", "--json"],
        capture_output=True,
        text=True,
        env=env,
        stdin=subprocess.DEVNULL,
        timeout=SLOW,
        cwd=REPO,
    )
    assert cli.returncode == 0, cli.stderr
    done = json.loads(cli.stdout)
    assert done["status"] == "SUCCEEDED" and done["agent_id"] == local.agent_id and done["tool_calls"] == 1

    doomed = plane.agent_run(ADMIN_CALLER, local.agent_id, AgentRunRequest(prompt=PROMPT))
    run_dir = settings.data_dir / "agent-runs" / doomed.run_id
    until(lambda: (run_dir / "agent.log").exists(), "the supervisor to start its agent")
    stopped = plane.agent_run_stop(ADMIN_CALLER, doomed.run_id)
    assert stopped.status == RunStatus.STOPPED and stopped.message == "stopped"  # it reported on its way out
    with pytest.raises(ProcessLookupError):
        os.killpg(doomed.pid, 0)  # the supervisor and its agent are gone
    billing = Billing.from_settings(settings)
    active = {lease.id for lease in billing.reservations_list(ADMIN, "acme")}
    billing.store.close()
    assert doomed.lease_id not in active

    assert used_tool_calls(settings) == 1  # the run that ran to its end made one call


@pytest.fixture
def claude_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """An empty Claude Code home (no login, no user plugins) for the supervisor to inherit."""
    path = Path(os.environ.get("AURAISON_CLAUDE") or REPO / ".cache" / "claude-code" / "bin" / "claude")
    if not os.access(path, os.X_OK):
        pytest.fail(f"the Claude Code CLI is not at {path}: run .ci/claude-code (or set AURAISON_CLAUDE)")
    home = tmp_path / "claude-home"
    (home / ".claude").mkdir(parents=True)
    (home / ".claude.json").write_text(json.dumps({"hasCompletedOnboarding": True}))
    (home / ".claude" / "settings.json").write_text("{}")
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.setenv("AURAISON_CLAUDE", str(path))
    for name in ("ANTHROPIC_API_KEY", "ANTHROPIC_BASE_URL"):
        monkeypatch.delenv(name, raising=False)  # the run must start the offline stand-in itself
    return home


@pytest.mark.timeout(300)
async def test_a_claude_code_session_with_the_plugin_runs_through_the_gateway(
    tmp_path: Path, claude_home: Path
) -> None:
    """`cluster_agent_run` over MCP starts a headless Claude Code session with the plugin; the
    supervisor serves it the offline stand-in; the plugin's skill calls the gateway's tool."""
    settings = run_settings(tmp_path / "plane")
    settings.agentops.role = Role.admin
    rt = Runtime(settings)
    gateway = rt.gateway(servers={"cluster": build_server(rt)})
    try:
        async with Client(gateway) as c:
            spec = {"name": "coder", "kind": "claude-code"}
            agent = (await c.call_tool("cluster_agent_register", {"spec": spec})).structured_content
            args = {"agent_id": agent["agent_id"], "run": {"prompt": "/auraison:approvals"}}
            run = (await c.call_tool("cluster_agent_run", args)).structured_content
            assert run["kind"] == "claude-code" and run["status"] == "RUNNING"
            deadline = time.monotonic() + SLOW
            while True:
                got = await c.call_tool("cluster_agent_run_status", {"run_id": run["run_id"]})
                done = got.structured_content
                if RunStatus(done["status"]).is_terminal():
                    break
                assert time.monotonic() < deadline, "the Claude Code run never ended"
                await _pause()
    finally:
        await rt.aclose()
    assert done["status"] == "SUCCEEDED", done
    assert "No approvals are pending" in done["output"] and done["model"] == "offline stand-in"
    assert done["tool_calls"] == 1 and done["input_tokens"] > 0 and done["trace_id"] == run["trace_id"]
    session = (settings.data_dir / "agent-runs" / run["run_id"] / "claude.jsonl").read_text()
    assert '"name": "mcp__plugin_auraison_auraison__approvals_list"' in session.replace('":"', '": "')
    assert used_tool_calls(settings) == 1
