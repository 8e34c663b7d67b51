"""Agent runs: the control plane starts a registered agent as a supervised job.

A run is one task given to one agent — a Pydantic AI agent, or a headless Claude Code session
with the plugin — started under its own quota grant, as a *supervised* job: locally a
subprocess (``python -m auraison.agents.supervise``, the seed's v1), or a Ray job on the cluster
the agent's spec names. The supervisor runs the agent as its child, heartbeats, and reports the
end (tokens, tool calls, trace id, output); the control plane settles the grant at what was
used, meters the tokens, and calls the run's signed webhook.

The control plane is not on the run's path: a supervisor whose reports fail keeps its agent
running and retries until the control plane (its HTTP API, or the control store) is back, so
the run's end lands late rather than never (the seed's first principle). When the supervisor
itself is gone without a word, ``status`` finds out (its process or Ray job ended) and marks the
run ``LOST`` — after reading the result file it leaves next to the run, if there is one.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import hmac
import json
import os
import secrets
import shlex
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any, Protocol

import sqlalchemy as sa
import structlog

from auraison.agentops.spool import pid_alive
from auraison.errors import AuraisonError, Forbidden, NotFound, Unavailable
from auraison.identity import Identity, PrincipalKind, Role
from auraison.settings import Settings

from . import webhooks
from .agents import AgentRegistry
from .events import EventLog
from .models import (
    TERMINAL,
    AgentRunInfo,
    AgentRunRequest,
    AgentSpec,
    JobRequest,
    RunLaunch,
    RunRegistration,
    RunReport,
    RunStatus,
)
from .state import ControlState, metadata

log = structlog.get_logger(__name__)
SUPERVISOR = "auraison.agents.supervise"
"""The module every run's supervisor runs as (``python -m``): the agents package, not this plane."""
STOP_GRACE_S = 5.0
"""How long a stopped run's supervisor gets between SIGTERM and SIGKILL."""
DONE = tuple(s.value for s in RunStatus if s.is_terminal())

agent_specs = sa.Table(
    "cp_agent_specs",
    metadata,
    sa.Column("agent_id", sa.String(100), primary_key=True),
    sa.Column("tenant", sa.String(63), nullable=False),
    sa.Column("spec", sa.JSON, nullable=False),
    sa.Column("updated", sa.Float, nullable=False),
)

agent_runs = sa.Table(
    "cp_agent_runs",
    metadata,
    sa.Column("run_id", sa.String(40), primary_key=True),
    sa.Column("agent_id", sa.String(100), nullable=False, index=True),
    sa.Column("tenant", sa.String(63), nullable=False, index=True),
    sa.Column("agent", sa.String(63), nullable=False),
    sa.Column("kind", sa.String(20), nullable=False),
    sa.Column("where", sa.String(63), nullable=False),
    sa.Column("status", sa.String(20), nullable=False),
    sa.Column("prompt", sa.Text, nullable=False),
    sa.Column("run_dir", sa.String(2000), nullable=False),
    sa.Column("token_hash", sa.String(64), nullable=False),
    sa.Column("lease_id", sa.String(40), nullable=True),
    sa.Column("trace_id", sa.String(32), nullable=True),
    sa.Column("submission_id", sa.String(100), nullable=True),
    sa.Column("pid", sa.Integer, nullable=True),
    sa.Column("input_tokens", sa.Integer, nullable=False, default=0),
    sa.Column("output_tokens", sa.Integer, nullable=False, default=0),
    sa.Column("tool_calls", sa.Integer, nullable=False, default=0),
    sa.Column("model", sa.String(200), nullable=True),
    sa.Column("output", sa.Text, nullable=False, default=""),
    sa.Column("message", sa.Text, nullable=False, default=""),
    sa.Column("callback_url", sa.String(2000), nullable=True),
    sa.Column("callback_done", sa.Boolean, nullable=False, default=False),
    sa.Column("stop_requested", sa.Boolean, nullable=False, default=False),
    sa.Column("created", sa.Float, nullable=False),
    sa.Column("last_heartbeat", sa.Float, nullable=True),
    sa.Column("ended", sa.Float, nullable=True),
    sa.Column("updated", sa.Float, nullable=False),
)


class RunUnknown(NotFound):
    pass


class RunAccounts(Protocol):
    """The management plane as a run needs it: a quota grant, its settlement, token metering."""

    def grant(self, tenant: str, agent: str, amount: float) -> str: ...

    def settle(self, tenant: str, lease_id: str, used: float) -> None: ...

    def record_tokens(
        self, tenant: str, key: str, agent: str, model: str, input_tokens: int, output_tokens: int
    ) -> None: ...

    def lease_active(self, tenant: str, lease_id: str) -> bool: ...


class Launcher(Protocol):
    """Where a supervisor runs: ``launch`` starts it, ``alive`` says whether it still runs
    (``None``: cannot tell now), ``stop`` ends it (SIGTERM, then SIGKILL after the grace)."""

    def check(self, where: str) -> None: ...

    def launch(self, tenant: str, where: str, run: RunLaunch, run_dir: Path) -> dict[str, Any]: ...

    def alive(self, row: dict[str, Any]) -> bool | None: ...

    def stop(self, row: dict[str, Any], grace_s: float) -> None: ...


def supervisor_command(run_dir: Path) -> list[str]:
    return [sys.executable, "-m", SUPERVISOR, str(run_dir)]


class LocalLauncher:
    """The supervisor as a subprocess of this machine, in a session of its own: the process
    that started it (a CLI command, an API server) may end first without ending the run."""

    def __init__(self) -> None:
        self._procs: dict[int, subprocess.Popen[bytes]] = {}

    def check(self, where: str) -> None:
        pass

    def launch(self, tenant: str, where: str, run: RunLaunch, run_dir: Path) -> dict[str, Any]:
        with open(run_dir / "supervisor.log", "ab") as out:
            proc = subprocess.Popen(
                supervisor_command(run_dir),
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=subprocess.STDOUT,
                cwd=run_dir,
                start_new_session=True,
            )
        self._procs[proc.pid] = proc
        return {"pid": proc.pid}

    def alive(self, row: dict[str, Any]) -> bool | None:
        if row["pid"] is None:
            return None  # re-registered without its process: it tells by reporting
        proc = self._procs.get(row["pid"])
        if proc is not None:
            return proc.poll() is None
        return pid_alive(row["pid"])

    def stop(self, row: dict[str, Any], grace_s: float) -> None:
        if row["pid"] is None:
            return
        _signal_group(row["pid"], signal.SIGTERM)  # the supervisor and its agent: one group
        self._wait_gone(row, grace_s)
        _signal_group(row["pid"], signal.SIGKILL)  # whatever is left after the grace
        self._wait_gone(row, 5.0)

    def _wait_gone(self, row: dict[str, Any], timeout_s: float) -> None:
        deadline = time.monotonic() + timeout_s
        proc = self._procs.get(row["pid"])
        if proc is not None:
            with contextlib.suppress(subprocess.TimeoutExpired):
                proc.wait(timeout_s)
            return
        while pid_alive(row["pid"]) and time.monotonic() < deadline:
            time.sleep(0.05)  # another process's child: it cannot be waited for, only polled


def _signal_group(pid: int, sig: signal.Signals) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.killpg(pid, sig)


class RayLauncher:
    """The supervisor as a Ray job (the entrypoint), submitted through the control plane's job
    service, so it is recorded, listed and reconciled like any job. The run file must be
    readable where the job runs: the same machine (the local head) or a shared filesystem."""

    def __init__(self, jobs: Any) -> None:
        self.jobs = jobs

    def check(self, where: str) -> None:
        self.jobs.clusters.address(where)

    def launch(self, tenant: str, where: str, run: RunLaunch, run_dir: Path) -> dict[str, Any]:
        req = JobRequest(
            entrypoint=shlex.join(supervisor_command(run_dir)),
            submission_id=run.run_id,
            cluster=where.removeprefix("ray:"),
            metadata={"auraison_run": run.run_id, "auraison_agent": run.registration.agent},
        )
        info = self.jobs.submit(tenant, req)
        return {"submission_id": info.submission_id}

    def alive(self, row: dict[str, Any]) -> bool | None:
        try:
            return self.jobs.status(row["tenant"], row["submission_id"]).status not in TERMINAL
        except Unavailable:
            return None

    def stop(self, row: dict[str, Any], grace_s: float) -> None:
        self.jobs.stop(row["tenant"], row["submission_id"])  # Ray: SIGTERM, then SIGKILL
        deadline = time.monotonic() + grace_s + 10
        while self.alive(row) and time.monotonic() < deadline:
            time.sleep(0.2)  # Ray's Jobs API has no push notifications


def _kind_of(where: str) -> str:
    """A run's launcher: ``local`` (a subprocess here) or ``ray`` (``ray:<cluster>``)."""
    return "ray" if where.startswith("ray:") else "local"


def _hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def settings_env(settings: Settings) -> dict[str, str]:
    """The settings as ``AURAISON_*`` variables (nested sections as JSON), secrets included: a
    supervisor and its agent build exactly this control plane's settings from them."""
    from pydantic import SecretStr

    def plain(v: Any) -> Any:
        if isinstance(v, SecretStr):
            return v.get_secret_value()
        if isinstance(v, dict):
            return {k: plain(x) for k, x in v.items()}
        if isinstance(v, list):
            return [plain(x) for x in v]
        return v

    data = json.loads(json.dumps(plain(settings.model_dump()), default=str))
    return {
        f"AURAISON_{k.upper()}": v if isinstance(v, str) else json.dumps(v)
        for k, v in data.items()
        if v is not None
    }


class AgentRunService:
    def __init__(
        self,
        settings: Settings,
        state: ControlState,
        events: EventLog,
        registry: AgentRegistry,
        accounts: RunAccounts,
        launchers: dict[str, Launcher] | None = None,
        jobs: Any = None,
    ) -> None:
        self.settings = settings
        self.state = state
        self.events = events
        self.registry = registry
        self.accounts = accounts
        metadata.create_all(state.store.engine, tables=[agent_specs, agent_runs])
        self.launchers: dict[str, Launcher] = launchers or {
            "local": LocalLauncher(),
            "ray": RayLauncher(jobs),
        }
        self.stop_grace_s = STOP_GRACE_S
        self._callbacks: list[threading.Thread] = []

    # ------------------------------------------------------------------------ records
    def remember(self, tenant: str, agent_id: str, spec: AgentSpec) -> None:
        """Keep the whole spec (kind, definition, cluster) a run of this agent starts from."""
        self.state.upsert(
            agent_specs, "agent_id", agent_id=agent_id, tenant=tenant, spec=spec.model_dump(mode="json")
        )

    def spec_of(self, tenant: str, agent_id: str) -> AgentSpec:
        agent = self.registry.status(tenant, agent_id)  # AgentUnknown says how to register
        row = self.state.get(agent_specs, "agent_id", agent_id)
        if row is None:
            return AgentSpec(name=agent.name, version=agent.version, policy=agent.policy)
        return AgentSpec.model_validate(row["spec"])

    def _row(self, tenant: str, run_id: str) -> dict[str, Any]:
        row = self.state.get(agent_runs, "run_id", run_id)
        if row is None or row["tenant"] != tenant:
            raise RunUnknown(f"no agent run {run_id} in tenant {tenant}", "see cluster_agent_runs")
        return row

    def _launcher(self, row: dict[str, Any]) -> Launcher:
        return self.launchers[_kind_of(row["where"])]

    # -------------------------------------------------------------------------- start
    def start(
        self, tenant: str, agent_id: str, req: AgentRunRequest, report_url: str | None = None
    ) -> AgentRunInfo:
        """Take the run's quota grant, record it, launch its supervisor. ``report_url``: the
        control API the supervisor reports to (None: it writes to the control store itself)."""
        spec = self.spec_of(tenant, agent_id)
        if req.callback_url is not None:
            webhooks.check_callback(str(req.callback_url), self.settings.control.webhook_allow)
        where = f"ray:{spec.cluster}" if spec.cluster else "local"
        if spec.cluster:
            self.launchers["ray"].check(spec.cluster)  # NotFound names the clusters there are
        quota = req.quota_tool_calls or spec.quota_tool_calls
        lease_id = self.accounts.grant(tenant, spec.name, quota)  # GrantRefused says why not
        run_id = f"arun_{secrets.token_hex(8)}"
        token = secrets.token_urlsafe(24)
        run_dir = self.settings.data_dir / "agent-runs" / run_id
        run_dir.mkdir(parents=True, exist_ok=True)
        trace_id = secrets.token_hex(16)
        now = time.time()
        registration = RunRegistration(
            agent_id=agent_id,
            tenant=tenant,
            agent=spec.name,
            kind=spec.kind,
            where=where,
            prompt=req.prompt,
            lease_id=lease_id,
            trace_id=trace_id,
            created=now,
            callback_url=str(req.callback_url) if req.callback_url else None,
            submission_id=run_id if spec.cluster else None,
        )
        definition = spec.definition or (spec.name if spec.name in ("navigator", "analyst") else "operator")
        launch = RunLaunch(
            run_id=run_id,
            definition=definition,
            report_url=report_url,
            report_token=token,
            registration=registration,
            heartbeat_s=self.settings.control.heartbeat_s,
            stop_grace_s=self.stop_grace_s,
            env=settings_env(self.settings),
        )
        path = run_dir / "run.json"
        path.touch(mode=0o600)  # it holds the run's token and the settings' secrets
        path.write_text(launch.model_dump_json())
        self.state.upsert(
            agent_runs,
            "run_id",
            run_id=run_id,
            agent_id=agent_id,
            tenant=tenant,
            agent=spec.name,
            kind=spec.kind,
            where=where,
            status=RunStatus.PENDING.value,
            prompt=req.prompt,
            run_dir=str(run_dir),
            token_hash=_hash(token),
            lease_id=lease_id,
            trace_id=trace_id,
            input_tokens=0,
            output_tokens=0,
            tool_calls=0,
            output="",
            message="",
            callback_url=str(req.callback_url) if req.callback_url else None,
            callback_done=False,
            stop_requested=False,
            created=now,
        )
        try:
            launcher = self.launchers[_kind_of(where)]
            started = launcher.launch(tenant, where, launch, run_dir)
        except Exception as exc:
            self._finish(self._row(tenant, run_id), RunStatus.FAILED, {"message": f"could not start: {exc}"})
            if isinstance(exc, AuraisonError):
                raise
            raise Unavailable(f"the run's supervisor could not be started: {exc}") from None
        self.state.update(
            agent_runs, "run_id", run_id, status=RunStatus.RUNNING.value, last_heartbeat=now, **started
        )
        self.events.emit(
            "agent_run.started", run_id, tenant, {"agent_id": agent_id, "where": where, "lease_id": lease_id}
        )
        return _info(self._row(tenant, run_id))

    # ------------------------------------------------------------------------ reports
    def reporter(self, run_id: str, token: str, registration: RunRegistration | None = None) -> Identity:
        """Who sends a report: the run itself (an agent principal), proven by its token — or,
        for a run this control plane no longer knows, by the active quota lease it holds."""
        row = self.state.get(agent_runs, "run_id", run_id)
        if row is not None:
            if not hmac.compare_digest(_hash(token), row["token_hash"]):
                raise Forbidden(f"not the token of run {run_id}")
            tenant = row["tenant"]
        elif registration is not None and self._holds(registration):
            tenant = registration.tenant
        else:
            raise Forbidden(f"no run {run_id} here, and no active quota lease proves it")
        return Identity(tenant=tenant, role=Role.agent, subject=f"run:{run_id}", kind=PrincipalKind.agent)

    def _holds(self, reg: RunRegistration) -> bool:
        try:
            return self.accounts.lease_active(reg.tenant, reg.lease_id)
        except AuraisonError as exc:
            raise Unavailable(
                f"run unknown here, and the management plane cannot vouch for its lease now: {exc}"
            ) from None

    def _reregister(self, run_id: str, token: str, reg: RunRegistration) -> None:
        """Take back a run whose record was lost (the control store was replaced)."""
        self.state.upsert(
            agent_runs,
            "run_id",
            run_id=run_id,
            agent_id=reg.agent_id,
            tenant=reg.tenant,
            agent=reg.agent,
            kind=reg.kind,
            where=reg.where,
            status=RunStatus.RUNNING.value,
            prompt=reg.prompt,
            run_dir=str(self.settings.data_dir / "agent-runs" / run_id),
            token_hash=_hash(token),
            lease_id=reg.lease_id,
            trace_id=reg.trace_id,
            input_tokens=0,
            output_tokens=0,
            tool_calls=0,
            output="",
            message="",
            callback_url=reg.callback_url,
            callback_done=False,
            stop_requested=False,
            created=reg.created,
            pid=reg.pid,
            submission_id=reg.submission_id,
        )
        self.events.emit("agent_run.reregistered", run_id, reg.tenant, {"lease_id": reg.lease_id})

    def report(self, run_id: str, token: str, report: RunReport) -> AgentRunInfo:
        """A supervisor's heartbeat (RUNNING) or its run's end. Idempotent: once a run has
        ended, a late or repeated report changes nothing. A run this control plane lost is
        re-registered from the report, on the proof of its active lease."""
        who = self.reporter(run_id, token, report.registration)
        if self.state.get(agent_runs, "run_id", run_id) is None and report.registration is not None:
            self._reregister(run_id, token, report.registration)
        row = self._row(who.tenant, run_id)
        if RunStatus(row["status"]).is_terminal():
            return _info(row)
        changes: dict[str, Any] = {
            "last_heartbeat": time.time(),
            "input_tokens": report.input_tokens,
            "output_tokens": report.output_tokens,
            "tool_calls": report.tool_calls,
        }
        if report.trace_id:
            changes["trace_id"] = report.trace_id
        if report.model:
            changes["model"] = report.model
        if not report.status.is_terminal():
            self.state.update(agent_runs, "run_id", run_id, **changes)
            return _info(self._row(who.tenant, run_id))
        changes |= {"output": report.output, "message": report.message}
        self._finish(row, report.status, changes)
        return _info(self._row(who.tenant, run_id))

    def _finish(self, row: dict[str, Any], status: RunStatus, changes: dict[str, Any]) -> bool:
        """End a run once. Its grant settles at the tool calls used and its tokens are metered
        first — both idempotent in the management plane (a lease settles once; usage counts
        once per key) — so a run reads as ended only once it is accounted for; then the first
        end wins the record (a conditional update), and only the winner emits the event and
        calls the webhook."""
        row = {**row, **changes}
        tenant = row["tenant"]
        if row["lease_id"]:
            try:
                self.accounts.settle(tenant, row["lease_id"], float(row["tool_calls"] or 0))
            except AuraisonError as exc:  # the lease expires on its own; ending must not fail
                self.events.emit("agent_run.settle_failed", row["run_id"], tenant, {"error": str(exc)})
        if row["input_tokens"] or row["output_tokens"]:
            try:
                self.accounts.record_tokens(
                    tenant,
                    f"agent-run:{row['run_id']}",
                    row["agent"],
                    row.get("model") or "unknown",
                    int(row["input_tokens"]),
                    int(row["output_tokens"]),
                )
            except AuraisonError as exc:
                self.events.emit("agent_run.meter_failed", row["run_id"], tenant, {"error": str(exc)})
        values = {**changes, "status": status.value, "ended": time.time(), "updated": time.time()}
        with self.state.store.transaction() as conn:
            won = conn.execute(
                agent_runs.update()
                .where(agent_runs.c.run_id == row["run_id"], agent_runs.c.status.not_in(DONE))
                .values(**values)
            ).rowcount
        if not won:
            return False
        row = {**row, **values}
        self.events.emit(
            f"agent_run.{status.value.lower()}",
            row["run_id"],
            tenant,
            {"tool_calls": row["tool_calls"], "trace_id": row.get("trace_id"), "message": row["message"]},
        )
        if row["callback_url"]:
            thread = threading.Thread(target=self._callback, args=(row,), daemon=True)
            self._callbacks = [t for t in self._callbacks if t.is_alive()] + [thread]
            thread.start()
        return True

    def drain(self, timeout_s: float = 60.0) -> None:
        """Wait for the webhooks this process is sending (a supervisor that recorded its run's
        end itself calls this before it exits, or its daemon threads would die unsent)."""
        deadline = time.monotonic() + timeout_s
        for thread in list(self._callbacks):
            thread.join(max(deadline - time.monotonic(), 0))

    def _callback(self, row: dict[str, Any]) -> None:
        secret = self.settings.control.webhook_secret
        ok = False
        if secret is None:
            log.warning("run webhook skipped: control.webhook_secret is not set", run=row["run_id"])
        else:
            payload = {"type": "agent_run.finished", "run": _info(row).model_dump(mode="json")}
            ok = asyncio.run(
                webhooks.deliver(
                    row["callback_url"],
                    payload,
                    secret.get_secret_value(),
                    allow=self.settings.control.webhook_allow,  # checked again at send time
                )
            )
        self.state.update(agent_runs, "run_id", row["run_id"], callback_done=True)
        self.events.emit("agent_run.webhook", row["run_id"], row["tenant"], {"delivered": ok})

    # ------------------------------------------------------------------ reading, stopping
    def _refresh(self, row: dict[str, Any]) -> dict[str, Any]:
        """A run whose supervisor is gone without reporting its end: its result file if it
        left one, else ``LOST``."""
        if row["status"] != RunStatus.RUNNING.value:
            return row
        if self._launcher(row).alive(row) is not False:
            return row
        fresh = self.state.get(agent_runs, "run_id", row["run_id"]) or row
        if fresh["status"] != RunStatus.RUNNING.value:
            return fresh  # it reported on its way out
        result = Path(fresh["run_dir"]) / "result.json"
        if result.exists():
            report = RunReport.model_validate_json(result.read_text())
            changes = report.model_dump(exclude={"status"}, exclude_none=True)
            self._finish(fresh, report.status, changes)
        elif fresh["stop_requested"]:
            self._finish(fresh, RunStatus.STOPPED, {"message": "stopped"})
        else:
            self._finish(fresh, RunStatus.LOST, {"message": "the run's supervisor ended without reporting"})
        return self.state.get(agent_runs, "run_id", row["run_id"]) or fresh

    def status(self, tenant: str, run_id: str) -> AgentRunInfo:
        return _info(self._refresh(self._row(tenant, run_id)))

    def list(self, tenant: str, agent_id: str | None = None, limit: int = 50) -> list[AgentRunInfo]:
        where = [agent_runs.c.tenant == tenant]
        if agent_id is not None:
            self.registry.status(tenant, agent_id)  # AgentUnknown for another tenant's agent
            where.append(agent_runs.c.agent_id == agent_id)
        return [_info(self._refresh(r)) for r in self.state.select(agent_runs, *where, limit=limit)]

    def stop(self, tenant: str, run_id: str) -> AgentRunInfo:
        """SIGTERM to the supervisor (which stops its agent and reports ``STOPPED``), SIGKILL
        after the grace; the run is ``STOPPED`` either way."""
        row = self._row(tenant, run_id)
        if RunStatus(row["status"]).is_terminal():
            return _info(row)
        self.state.update(agent_runs, "run_id", run_id, stop_requested=True)
        row["stop_requested"] = True
        self.events.emit("agent_run.stop_requested", run_id, tenant, {})
        # The supervisor's own grace for its agent, and time to report, before SIGKILL.
        self._launcher(row).stop(row, 2 * self.stop_grace_s + 5)
        fresh = self._row(tenant, run_id)
        if not RunStatus(fresh["status"]).is_terminal():
            self._finish(fresh, RunStatus.STOPPED, {"message": "stopped (the supervisor did not report)"})
        return _info(self._row(tenant, run_id))

    def wait(self, tenant: str, run_id: str, timeout_s: float) -> AgentRunInfo:
        """The run once it has ended, or as it is when ``timeout_s`` runs out."""
        deadline = time.monotonic() + timeout_s
        while True:
            info = self.status(tenant, run_id)
            if info.status.is_terminal() or time.monotonic() >= deadline:
                return info
            time.sleep(0.2)  # reports land in the store; nothing pushes them to this reader


def _info(row: dict[str, Any]) -> AgentRunInfo:
    return AgentRunInfo(
        run_id=row["run_id"],
        agent_id=row["agent_id"],
        tenant=row["tenant"],
        agent=row["agent"],
        kind=row["kind"],
        where=row["where"],
        status=RunStatus(row["status"]),
        prompt=row["prompt"],
        lease_id=row.get("lease_id"),
        trace_id=row.get("trace_id"),
        submission_id=row.get("submission_id"),
        pid=row.get("pid"),
        input_tokens=row.get("input_tokens") or 0,
        output_tokens=row.get("output_tokens") or 0,
        tool_calls=row.get("tool_calls") or 0,
        model=row.get("model"),
        output=row.get("output") or "",
        message=row.get("message") or "",
        created=row["created"],
        last_heartbeat=row.get("last_heartbeat"),
        ended=row.get("ended"),
    )
