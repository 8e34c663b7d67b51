"""AgentRunService against in-memory fakes of its ports (the management plane's accounts and
the launcher); the control store is the real SQLite adapter in a temporary folder."""

from __future__ import annotations

import json
import stat
from pathlib import Path
from typing import Any

import pytest

from auraison.errors import Forbidden
from auraison.mcp_servers.cluster.agents import AgentRegistry, AgentUnknown, GrantRefused
from auraison.mcp_servers.cluster.events import EventLog
from auraison.mcp_servers.cluster.models import (
    AgentRunRequest,
    AgentSpec,
    RunLaunch,
    RunReport,
    RunStatus,
)
from auraison.mcp_servers.cluster.runs import AgentRunService, RunUnknown
from auraison.mcp_servers.cluster.state import ControlState
from auraison.settings import Settings


class FakeAccounts:
    def __init__(self, left: float = 100) -> None:
        self.left = left
        self.grants: list[tuple[str, float]] = []
        self.settled: list[tuple[str, float]] = []
        self.tokens: list[tuple[str, int, int]] = []

    def grant(self, tenant: str, agent: str, amount: float) -> str:
        if amount > self.left:
            raise GrantRefused(f"{self.left:g} tool_calls left")
        self.left -= amount
        self.grants.append((agent, amount))
        return f"lse_{len(self.grants):016x}"

    def settle(self, tenant: str, lease_id: str, used: float) -> None:
        self.settled.append((lease_id, used))

    def record_tokens(self, tenant: str, key: str, agent: str, model: str, i: int, o: int) -> None:
        self.tokens.append((key, i, o))

    def lease_active(self, tenant: str, lease_id: str) -> bool:
        return lease_id in {f"lse_{n + 1:016x}" for n in range(len(self.grants))} - {
            lease for lease, _ in self.settled
        }


class FakeLauncher:
    """Starts nothing: records the launch; ``running`` says whether the 'supervisor' lives."""

    def __init__(self) -> None:
        self.launched: list[RunLaunch] = []
        self.running: dict[int, bool] = {}
        self.stops: list[int] = []
        self.on_stop: Any = None

    def check(self, where: str) -> None:
        pass

    def launch(self, tenant: str, where: str, run: RunLaunch, run_dir: Path) -> dict[str, Any]:
        self.launched.append(run)
        pid = 1000 + len(self.launched)
        self.running[pid] = True
        return {"pid": pid}

    def alive(self, row: dict[str, Any]) -> bool | None:
        return self.running[row["pid"]]

    def stop(self, row: dict[str, Any], grace_s: float) -> None:
        self.stops.append(row["pid"])
        if self.on_stop is not None:
            self.on_stop(row)
        self.running[row["pid"]] = False


@pytest.fixture
def parts(tmp_path: Path) -> tuple[AgentRunService, FakeAccounts, FakeLauncher]:
    settings = Settings(home=tmp_path, control={"webhook_secret": "k"})
    state = ControlState.from_settings(settings)
    events = EventLog(settings)
    accounts = FakeAccounts()
    registry = AgentRegistry(state, events, accounts, heartbeat_s=10)
    launcher = FakeLauncher()
    service = AgentRunService(settings, state, events, registry, accounts, launchers={"local": launcher})
    return service, accounts, launcher


def register(service: AgentRunService, name: str = "navigator", tenant: str = "acme", **spec: Any) -> str:
    s = AgentSpec(name=name, **spec)
    agent_id = service.registry.register(tenant, s).agent_id
    service.remember(tenant, agent_id, s)
    return agent_id


def test_a_run_takes_its_grant_and_launches_a_supervisor(parts) -> None:
    service, accounts, launcher = parts
    agent_id = register(service, quota_tool_calls=30)
    info = service.start("acme", agent_id, AgentRunRequest(prompt="go to the kitchen"), "http://api:1")
    assert info.status == RunStatus.RUNNING and info.lease_id == "lse_0000000000000001"
    assert accounts.grants == [("navigator", 30)]
    (run,) = launcher.launched
    assert run.run_id == info.run_id and run.definition == "navigator" and run.report_url == "http://api:1"
    assert run.registration.trace_id == info.trace_id and len(info.trace_id) == 32
    path = Path(service.settings.data_dir) / "agent-runs" / info.run_id / "run.json"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600  # it holds the run's token and secrets
    assert json.loads(path.read_text())["env"]["AURAISON_HOME"] == str(service.settings.home)


def test_no_grant_no_run(parts) -> None:
    service, _, launcher = parts
    agent_id = register(service)
    with pytest.raises(GrantRefused, match="100 tool_calls left"):
        service.start("acme", agent_id, AgentRunRequest(prompt="x", quota_tool_calls=500))
    assert launcher.launched == [] and service.list("acme") == []


def test_unknown_agents_and_other_tenants_runs_are_not_found(parts) -> None:
    service, _, _ = parts
    with pytest.raises(AgentUnknown):
        service.start("acme", "agt_0000000000000000", AgentRunRequest(prompt="x"))
    info = service.start("acme", register(service), AgentRunRequest(prompt="x"))
    with pytest.raises(RunUnknown):
        service.status("globex", info.run_id)


def test_the_end_settles_the_grant_and_meters_tokens_once(parts) -> None:
    service, accounts, launcher = parts
    info = service.start("acme", register(service), AgentRunRequest(prompt="x"))
    token = launcher.launched[0].report_token
    with pytest.raises(Forbidden):
        service.report(info.run_id, "not-the-token-of-this-run", RunReport(status=RunStatus.SUCCEEDED))
    beat = service.report(info.run_id, token, RunReport(status=RunStatus.RUNNING, tool_calls=2))
    assert beat.status == RunStatus.RUNNING and beat.tool_calls == 2 and accounts.settled == []
    end = RunReport(
        status=RunStatus.SUCCEEDED, tool_calls=3, input_tokens=120, output_tokens=30, output="arrived"
    )
    done = service.report(info.run_id, token, end)
    assert (done.status, done.tool_calls, done.output) == (RunStatus.SUCCEEDED, 3, "arrived")
    assert done.ended is not None
    late = service.report(info.run_id, token, RunReport(status=RunStatus.FAILED, tool_calls=9))
    assert late.status == RunStatus.SUCCEEDED and late.tool_calls == 3  # the first end wins
    assert accounts.settled == [(info.lease_id, 3.0)]
    assert accounts.tokens == [(f"agent-run:{info.run_id}", 120, 30)]


def test_stop_ends_a_run_stopped_even_when_its_supervisor_never_reports(parts) -> None:
    service, accounts, launcher = parts
    info = service.start("acme", register(service), AgentRunRequest(prompt="x"))
    stopped = service.stop("acme", info.run_id)
    assert stopped.status == RunStatus.STOPPED and launcher.stops == [info.pid]
    assert accounts.settled == [(info.lease_id, 0.0)]
    assert service.stop("acme", info.run_id).status == RunStatus.STOPPED and len(launcher.stops) == 1


def test_stop_keeps_what_the_supervisor_reported_on_its_way_out(parts) -> None:
    service, accounts, launcher = parts
    info = service.start("acme", register(service), AgentRunRequest(prompt="x"))
    token = launcher.launched[0].report_token
    launcher.on_stop = lambda row: service.report(
        row["run_id"], token, RunReport(status=RunStatus.STOPPED, tool_calls=4, message="stopped")
    )
    assert service.stop("acme", info.run_id).tool_calls == 4
    assert accounts.settled == [(info.lease_id, 4.0)]


def test_a_supervisor_gone_without_a_word_is_lost_unless_it_left_its_result(parts) -> None:
    service, _, launcher = parts
    agent_id = register(service)
    lost = service.start("acme", agent_id, AgentRunRequest(prompt="x"))
    kept = service.start("acme", agent_id, AgentRunRequest(prompt="y"))
    assert service.status("acme", lost.run_id).status == RunStatus.RUNNING
    launcher.running = dict.fromkeys(launcher.running, False)
    result = RunReport(status=RunStatus.SUCCEEDED, tool_calls=1, output="done")
    left = service.settings.data_dir / "agent-runs" / kept.run_id / "result.json"
    left.write_text(result.model_dump_json())
    assert service.status("acme", lost.run_id).status == RunStatus.LOST
    again = service.status("acme", kept.run_id)
    assert (again.status, again.output) == (RunStatus.SUCCEEDED, "done")
    assert {r.run_id for r in service.list("acme", agent_id)} == {lost.run_id, kept.run_id}


def test_a_control_plane_that_lost_a_run_takes_it_back_on_the_proof_of_its_lease(
    parts, tmp_path: Path
) -> None:
    service, accounts, launcher = parts
    info = service.start("acme", register(service), AgentRunRequest(prompt="x"))
    run = launcher.launched[0]
    fresh_settings = service.settings.model_copy(update={"data_dir": tmp_path / "fresh"})
    fresh = AgentRunService(
        fresh_settings,
        ControlState.from_settings(fresh_settings),  # the control store was replaced: no runs
        service.events,
        service.registry,
        accounts,
        launchers={"local": launcher},
    )
    end = RunReport(status=RunStatus.SUCCEEDED, tool_calls=2, registration=run.registration)
    with pytest.raises(Forbidden):  # no registration: nothing proves the run
        fresh.report(info.run_id, run.report_token, end.model_copy(update={"registration": None}))
    forged = run.registration.model_copy(update={"lease_id": "lse_00000000000000ff"})
    with pytest.raises(Forbidden):  # a lease the management plane does not hold for it
        fresh.report(info.run_id, run.report_token, end.model_copy(update={"registration": forged}))
    back = fresh.report(info.run_id, run.report_token, end)
    assert (back.status, back.tool_calls, back.trace_id) == (RunStatus.SUCCEEDED, 2, info.trace_id)
    assert accounts.settled == [(info.lease_id, 2.0)]
    with pytest.raises(Forbidden):  # from now on, the run's token proves it, as before
        fresh.report(info.run_id, "another-token-of-some-length", end)


def test_statuses_know_which_are_terminal() -> None:
    assert [s.value for s in RunStatus if s.is_terminal()] == ["SUCCEEDED", "FAILED", "STOPPED", "LOST"]
    assert not RunStatus.RUNNING.is_terminal() and not RunStatus.PENDING.is_terminal()
