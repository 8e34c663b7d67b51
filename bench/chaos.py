"""R1: the seed's first principle under fault injection — every plane's failure, one run.

    python -m auraison.bench.chaos                  # from the repository root; every row
    python -m auraison.bench.chaos --rows rosbridge,postgres --speed 8
    python -m auraison.bench.chaos --ray http://127.0.0.1:8265   # a Ray head for the job stream

The reference workload: the simulated TurtleBot patrols named places through a real stdio
gateway process (the way Claude Code runs it) or a navigator agent process (the offline
stand-in model), with the services profile's production parts — quotas drawn from the
management plane on PostgreSQL (block grants), spans written to the lake (DuckLake on a
PostgreSQL catalog), rate limits and approvals in Redis. Every dependency is reached through a
TCP proxy (``tests/tcpproxy.py``) the suite can cut, so the machine's shared PostgreSQL, Redis
and NATS are never stopped; processes (the gateway, the agent) are SIGKILLed for real.

Two rows bring parts of their own: the S3 row puts the lake's data on a SeaweedFS server of the
run (``weed mini`` on free ports) and checks the seed's data-plane column — a query fails with a
clear error, and a batch of spans written meanwhile waits in the trace spool and is drained
after the heal; the control row serves the control plane's HTTP API (``auraison control
serve``) and starts an agent run through it before the cut — the run must go on and end with
the API away, and its end must land (its quota grant settled at the calls it made) after.

One row a fault, one at a time, each on a fresh gateway: the robot is sent on a long goal, the
fault is injected while it drives, held, then healed. Measured per row (the seed's table):
whether and how fast the robot halted (robot time: sim seconds / speed, deceleration
included), whether running agents continued (the gateway kept answering, the goal in flight
finished), whether a new deployment (a new quota grant: what an agent or gateway start takes)
was refused and why, spans and usage events lost or doubled once everything settled (the
lake's ``execute_tool`` spans and the ledger's ``tool_calls`` against the calls answered), and
the time from the heal until a new goal succeeded through the same processes, the spans were
drained and a new grant was given — with nobody restarting anything but the process the fault
killed.
"""

from __future__ import annotations

import argparse
import asyncio
import concurrent.futures
import contextlib
import itertools
import json
import math
import os
import signal
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from auraison.agentops.factory import LazyLakeSink, spool_dir
from auraison.agentops.spool import Spool, pid_alive, span_row
from auraison.agentops.tracing import SinkProcessor
from auraison.lakehouse.catalog import ALIAS as LAKE_ALIAS
from auraison.lakehouse.catalog import Lake
from auraison.lakehouse.sandbox import run_query
from auraison.mcp_servers.billing.grants import GrantLedger
from auraison.mcp_servers.billing.service import ADMIN, Billing
from auraison.mcp_servers.billing.store import Store
from auraison.settings import Settings

Reply = concurrent.futures.Future[dict[str, Any]]


def terminate(proc: subprocess.Popen[bytes]) -> None:
    """SIGTERM a process of the suite, SIGKILL it if it has not ended in 30 s."""
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(30)
        except subprocess.TimeoutExpired:
            proc.kill()


class GatewayProcess:
    """``auraison gateway`` as Claude Code runs it: a child process spoken to over stdio.

    Calls may be left in flight (a navigation) while the process is killed, its stdin closed
    or sent SIGTERM — the three ways a session ends."""

    def __init__(self, env: dict[str, str], log: Path) -> None:
        self.log = log
        self._log = log.open("ab")
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "auraison", "gateway"],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=self._log,
            env=env,
        )
        self._ids = itertools.count(1)
        self._waiting: dict[int, Reply] = {}
        self._lock = threading.Lock()
        threading.Thread(target=self._read, daemon=True, name="gateway-stdout").start()
        client = {"name": "chaos", "version": "1"}
        hello = {"protocolVersion": "2025-06-18", "capabilities": {}, "clientInfo": client}
        self.request("initialize", hello).result(120)
        self._write({"jsonrpc": "2.0", "method": "notifications/initialized"})

    @property
    def pid(self) -> int:
        return self.proc.pid

    def _write(self, msg: dict[str, Any]) -> None:
        assert self.proc.stdin is not None
        self.proc.stdin.write((json.dumps(msg) + "\n").encode())
        self.proc.stdin.flush()

    def _read(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            try:
                msg = json.loads(line)
            except ValueError:
                continue
            with self._lock:
                fut = self._waiting.pop(msg.get("id"), None) if "id" in msg else None
            if fut is not None:
                fut.set_result(msg)
        with self._lock:  # the process is gone: nothing in flight will be answered
            waiting, self._waiting = self._waiting, {}
        for fut in waiting.values():
            fut.set_exception(ConnectionError("the gateway process ended"))

    def request(self, method: str, params: dict[str, Any]) -> Reply:
        fut: Reply = concurrent.futures.Future()
        msg_id = next(self._ids)
        with self._lock:
            self._waiting[msg_id] = fut
        self._write({"jsonrpc": "2.0", "id": msg_id, "method": method, "params": params})
        return fut

    def call(self, tool: str, args: dict[str, Any] | None = None) -> Reply:
        """A ``tools/call``; the future holds the JSON-RPC reply (``result`` or ``error``)."""
        return self.request("tools/call", {"name": tool, "arguments": args or {}})

    def call_ok(self, tool: str, args: dict[str, Any] | None = None, timeout: float = 120) -> dict[str, Any]:
        reply = self.call(tool, args).result(timeout)
        result = reply.get("result") or {}
        if "error" in reply or result.get("isError"):
            raise RuntimeError(f"{tool} failed: {reply}")
        return result.get("structuredContent") or {}

    def kill(self) -> None:
        """SIGKILL: no handler runs, nothing is closed or sent."""
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait(30)

    def close_stdin(self, timeout: float = 60) -> int:
        """The client goes away (Claude Code ends the session): stdin reaches EOF."""
        assert self.proc.stdin is not None
        self.proc.stdin.close()
        return self.proc.wait(timeout)

    def terminate(self, timeout: float = 60) -> int:
        self.proc.send_signal(signal.SIGTERM)
        return self.proc.wait(timeout)

    def close(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(30)
        self._log.close()


def gateway_env(home: Path, **settings: str) -> dict[str, str]:
    """The environment a gateway child gets: this one without AURAISON_*, plus ``settings``."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("AURAISON_")}
    return env | {"AURAISON_HOME": str(home), **settings}


# ----------------------------------------------------------------------------- the suite

SEED = {  # what the seed's table lets each plane's failure cost
    "user": "the agent stops and the robot halts",
    "control": "degraded visibility; the user plane continues",
    "data": "queries fail, ingestion is queued; agents lose context",
    "management": "no new deployments; running agents unaffected",
}
PLACES = ("lab", "kitchen", "office", "dock")
DEADLINE_S = 90.0  # a row that has not settled by then is reported as not recovered
BURST = 500  # spans in the data row's batch written while S3 is cut (DuckLake inlines ≤ 10 rows)


@dataclass(frozen=True)
class Fault:
    name: str
    plane: str
    how: str  # "partition" (the TCP proxy cut) or "SIGKILL"
    halts: bool  # the seed wants the robot halted


FAULTS = {
    f.name: f
    for f in (
        Fault("rosbridge", "user", "partition", halts=True),
        Fault("gateway", "user", "SIGKILL", halts=True),
        Fault("agent", "user", "SIGKILL", halts=True),
        Fault("redis", "control", "partition", halts=False),
        Fault("nats", "control", "partition", halts=False),
        Fault("ray", "control", "partition", halts=False),
        Fault("control", "control", "partition", halts=False),  # the control plane's HTTP API
        Fault("s3", "data", "partition", halts=False),  # the lake's object store (SeaweedFS)
        Fault("postgres", "management", "partition", halts=False),
    )
}


@dataclass
class Row:
    fault: Fault
    halted_s: float | None = None  # robot time from the fault to a stand-still
    robot_kept_going: bool | None = None
    agents_continued: bool | None = None
    deployment: str = ""
    spans_expected: int = 0
    spans_lost: int | None = None
    spans_doubled: int | None = None
    usage_expected: int = 0
    usage_lost: int | None = None
    usage_doubled: int | None = None
    recover_s: float | None = None
    jobs: int = 0  # queued for dispatch to Ray during the row (one before the fault, one during)
    jobs_lost: int | None = None
    jobs_twice: int | None = None
    query: str = ""  # the data plane's row: what a lake query answered during the outage
    queued: int | None = None  # the data plane's row: spans waiting in the spool during the outage
    run: str = ""  # the control API's row: how the agent run started through it ended
    notes: list[str] = field(default_factory=list)

    def failures(self, lease_s: float) -> list[str]:
        """Where this row misses the seed's column (empty: the row holds)."""
        out = []
        if self.fault.halts and (self.halted_s is None or self.halted_s > lease_s + 1.0):
            out.append("robot not halted within the lease (+1 s to decelerate)")
        if not self.fault.halts and not self.robot_kept_going:
            out.append("robot stopped though its plane was up")
        if not self.fault.halts and not self.agents_continued:
            out.append("running agents did not continue")
        if self.fault.plane == "management" and not self.deployment.startswith("refused"):
            out.append("new deployments not refused")
        if self.fault.plane != "management" and self.deployment != "accepted":
            out.append("new deployments refused although management was up")
        for what in ("spans_lost", "spans_doubled", "usage_lost", "usage_doubled", "jobs_lost", "jobs_twice"):
            if getattr(self, what):
                out.append(f"{what.replace('_', ' ')}: {getattr(self, what)}")
        if self.recover_s is None:
            out.append("did not recover without a person")
        if self.fault.plane == "data" and not self.query.startswith("failed"):
            out.append("a lake query did not fail clearly during the outage")
        if self.fault.plane == "data" and not self.queued:
            out.append("ingestion was not queued during the outage")
        if self.fault.name == "control" and self.run != "SUCCEEDED":
            out.append(f"the agent run started through the API did not land as SUCCEEDED: {self.run or '—'}")
        return out


class Chaos:
    """The workload's fixed parts: the simulator, the proxies, a fresh database, the lake."""

    def __init__(
        self,
        work: Path,
        speed: float = 8.0,
        lease_s: float = 0.5,
        jobs: bool = True,
        ray_url: str = "",
        s3: bool = False,
        control: bool = False,
    ) -> None:
        from tests.simthread import SimThread  # the suite runs from the repository root
        from tests.tcpproxy import TcpProxy

        self.work, self.speed, self.lease_s = work, speed, lease_s
        self.ray_url = ray_url or Settings().ray.dashboard_url
        self.home = work / "home"
        self.db = f"chaos_{uuid.uuid4().hex[:10]}"
        self.prefix = f"chaos:{uuid.uuid4().hex[:10]}:"
        self.bus_prefix = self.prefix  # the job queue's, for the whole run
        self._stack = contextlib.ExitStack()
        self.sim = self._stack.enter_context(SimThread("maze_small", speed=speed, seed=1))
        self.proxies = {
            "rosbridge": TcpProxy("127.0.0.1", self.sim.port).start(),
            "postgres": TcpProxy("127.0.0.1", 5432).start(),
            "redis": TcpProxy("127.0.0.1", 6379).start(),
            "nats": TcpProxy("127.0.0.1", 4222).start(),
            "ray": TcpProxy("127.0.0.1", ray_port(self.ray_url)).start(),
        }
        self._stack.callback(lambda: [p.stop() for p in self.proxies.values()])
        # The lake's data on SeaweedFS S3 (the services profile's) when the S3 row runs: a server
        # of this run's own, on free ports, stopped at the end.
        self.s3 = self._start_s3() if s3 else None
        if self.s3 is not None:
            self.proxies["s3"] = TcpProxy("127.0.0.1", int(self.s3["endpoint"].rsplit(":", 1)[1])).start()
        self._create_database()
        direct = Settings(
            home=self.home,
            postgres={"dsn": self.dsn(5432)},
            management={"store": "postgres"},
            s3=self.s3 or {},
        )
        self.billing = Billing.from_settings(direct)  # migrated once, reached without the proxy
        self.billing.tenant_create(ADMIN, "acme", plan="pro")
        self.billing.quota_set(ADMIN, "acme", "tool_calls", 1_000_000)
        self.lake = Lake(direct, catalog="postgres", storage="s3" if self.s3 else "local")
        via = self.dsn(self.proxies["postgres"].port).replace("postgresql://", "postgresql+psycopg://", 1)
        store = Store(via)
        store.engine.pool._timeout = 2  # a new deployment is told of an outage quickly
        self.probe_billing = Billing(store)
        self.jobs = JobFlow(self) if jobs and ray_up(self.ray_url) else None
        self.control: ControlApi | None = None
        if control:  # the control plane's HTTP API (`auraison control serve`) behind its proxy
            self.proxies["control"] = TcpProxy("127.0.0.1", free_port()).start()
            self.control = ControlApi(self)

    def _start_s3(self) -> dict[str, str]:
        from auraison.services.local import s3_on_free_ports

        svc = s3_on_free_ports(lambda attempt: self.work / f"s3-{attempt}")
        self._stack.callback(svc.down, ("s3",))
        access, secret = svc.s3_credentials()
        return {"endpoint": f"127.0.0.1:{svc.settings.s3.port}", "access_key": access, "secret_key": secret}

    @property
    def spool_dir(self) -> Path:
        return spool_dir(Settings(home=self.home))

    def proxied_settings(self) -> Settings:
        """The workload's lake as its processes reach it: catalog and S3 through their proxies."""
        p = {name: proxy.port for name, proxy in self.proxies.items()}
        s3 = {**(self.s3 or {}), "endpoint": f"127.0.0.1:{p['s3']}"} if self.s3 else {}
        lake = {"catalog": "postgres", "storage": "s3" if self.s3 else "local"}
        return Settings(home=self.home, postgres={"dsn": self.dsn(p["postgres"])}, lake=lake, s3=s3)

    def dsn(self, port: int) -> str:
        return f"postgresql://postgres@127.0.0.1:{port}/{self.db}"

    def _create_database(self) -> None:
        import psycopg

        admin = "postgresql://postgres@127.0.0.1:5432/postgres"
        with psycopg.connect(admin, autocommit=True) as conn:
            conn.execute(f'CREATE DATABASE "{self.db}"')

        def drop() -> None:
            self.probe_billing.store.close()
            self.billing.store.close()
            self.lake.close()
            with psycopg.connect(admin, autocommit=True) as conn:
                conn.execute(f'DROP DATABASE IF EXISTS "{self.db}" WITH (FORCE)')

        self._stack.callback(drop)

    def close(self) -> None:
        if self.jobs is not None:
            self.jobs.close()
        if self.control is not None:
            self.control.close()
        self._stack.close()

    def env(self) -> dict[str, str]:
        """The services profile's parts, every one through its proxy."""
        p = {name: proxy.port for name, proxy in self.proxies.items()}
        extra: dict[str, str] = {}
        if self.s3 is not None:
            extra |= {
                "AURAISON_LAKE__STORAGE": "s3",
                "AURAISON_S3__ENDPOINT": f"127.0.0.1:{p['s3']}",
                "AURAISON_S3__ACCESS_KEY": self.s3["access_key"],
                "AURAISON_S3__SECRET_KEY": self.s3["secret_key"],
            }
        if "control" in p:
            extra["AURAISON_CONTROL__API_URL"] = f"http://127.0.0.1:{p['control']}"
        return (
            gateway_env(
                self.home,
                AURAISON_ROBOT__ROSBRIDGE_URL=f"ws://127.0.0.1:{p['rosbridge']}",
                AURAISON_ROBOT__MOTION_LEASE_S=str(self.lease_s),
                AURAISON_POSTGRES__DSN=self.dsn(p["postgres"]),
                AURAISON_MANAGEMENT__STORE="postgres",
                AURAISON_AGENTOPS__QUOTAS="management",
                AURAISON_AGENTOPS__QUOTA_BLOCK="5",
                AURAISON_AGENTOPS__TENANT="acme",
                AURAISON_AGENTOPS__LAKE_SINK="true",
                AURAISON_LAKE__CATALOG="postgres",
                AURAISON_LAKE__STORAGE="local",
                AURAISON_AGENTOPS__LIMITER="redis",
                AURAISON_AGENTOPS__APPROVALS="redis",
                AURAISON_REDIS__URL=f"redis://127.0.0.1:{p['redis']}/0",
                AURAISON_REDIS__KEY_PREFIX=self.prefix,  # a fresh one each row: rows share no slots
                AURAISON_BUS__BACKEND="nats",
                AURAISON_NATS__URL=f"nats://127.0.0.1:{p['nats']}",
                AURAISON_RAY__DASHBOARD_URL=f"http://127.0.0.1:{p['ray']}",
                AURAISON_LOG_LEVEL="info",
            )
            | extra  # the S3 row's lake storage, the control API's address
        )

    # ---------------------------------------------------------------- what is observed
    def sim_now(self) -> float:
        return self.sim.call(lambda: self.sim.sim.t)

    def moving(self) -> bool:
        s = self.sim.sim
        return self.sim.call(lambda: s.nav.active is not None and s.robot.v > 0.05)

    def at_rest(self) -> bool:
        s = self.sim.sim
        return self.sim.call(lambda: s.nav.active is None and s.robot.v == 0.0 and s.robot.w == 0.0)

    def places_by_distance(self) -> list[str]:
        """The named places, nearest to the robot first."""
        s = self.sim.sim
        x, y = self.sim.call(lambda: (s.robot.x, s.robot.y))
        return sorted(PLACES, key=lambda n: math.dist((x, y), s.world.places[n][:2]))

    def near_place(self) -> str:
        return self.places_by_distance()[0]

    def far_place(self) -> str:
        return self.places_by_distance()[-1]

    def spans(self) -> tuple[int, int]:
        """Tool-call spans in the lake: (rows, distinct span ids)."""
        sql = "SELECT count(*), count(DISTINCT span_id) FROM spans WHERE name LIKE 'execute_tool%'"
        (rows,) = run_query(self.lake, sql, "acme")["rows"]
        return int(rows[0]), int(rows[1])

    def used(self) -> int:
        return int(next(q.used for q in self.billing.quota_get(ADMIN, "acme") if q.dimension == "tool_calls"))

    def new_deployment(self) -> str:
        """What an agent or gateway start takes first: a new quota grant from the management plane."""

        async def grant() -> str:
            ledger = GrantLedger(self.probe_billing, block=1, agent="chaos-probe")
            try:
                lease = await ledger.reserve("acme", 1)
            except Exception as exc:  # the refusal is the figure
                return f"refused: {first_line(exc)}"
            await ledger.release(lease)
            await ledger.close()
            return "accepted"

        return asyncio.run(grant())


def ray_port(url: str) -> int:
    """The dashboard port of the local Ray head (`auraison services up`'s, or ``--ray``'s):
    used, never stopped."""
    from urllib.parse import urlsplit

    return urlsplit(url).port or 8265


def ray_up(url: str) -> bool:
    import httpx

    try:
        return httpx.get(f"{url.rstrip('/')}/api/version", timeout=3).is_success
    except httpx.HTTPError:
        return False


class JobFlow:
    """A Ray job stream: the suite queues jobs (bus: NATS JetStream), one ``auraison control
    dispatch`` process leases and submits them to the Ray head by submission id, and each
    job appends its id to a file — so a job lost or run twice shows as a missing or doubled line."""

    def __init__(self, chaos: Chaos) -> None:
        self.c = chaos
        self.marks = chaos.work / "jobs-ran.txt"
        self.marks.touch()
        self._log = (chaos.work / "dispatcher.log").open("ab")
        self.proc = self._start()

    def _start(self) -> subprocess.Popen[bytes]:
        env = self.c.env() | {"AURAISON_REDIS__KEY_PREFIX": self.c.bus_prefix}
        return subprocess.Popen(
            [sys.executable, "-m", "auraison", "control", "dispatch", "--name", "chaos"],
            stdout=self._log,
            stderr=self._log,
            env=env,
        )

    def ensure(self) -> bool:
        """Start the dispatcher again if an earlier row killed it (True: it had died), so each
        row is measured on its own; the row that killed it has already been marked."""
        if self.proc.poll() is None:
            return False
        self.proc = self._start()
        return True

    def settings(self) -> Settings:
        return Settings(
            home=self.c.home,
            bus={"backend": "nats"},
            nats={"url": f"nats://127.0.0.1:{self.c.proxies['nats'].port}"},
            redis={"key_prefix": self.c.bus_prefix},
        )

    def enqueue(self, job_id: str) -> None:
        """Queue one job; raises while the queue is unreachable (the submitter retries)."""
        from auraison.mcp_servers.cluster.dispatch import enqueue_job
        from auraison.mcp_servers.cluster.models import JobRequest
        from auraison.mcp_servers.cluster.queue import build_queue

        code = f"open({str(self.marks)!r}, 'a').write({job_id!r} + chr(10))"
        req = JobRequest(entrypoint=f"{sys.executable} -c {shlex_quote(code)}", submission_id=job_id)

        async def put() -> None:
            queue = build_queue(self.settings())
            try:
                await asyncio.wait_for(enqueue_job(queue, "acme", req), 10)
            finally:
                with contextlib.suppress(Exception):
                    await queue.close()

        asyncio.run(put())

    def ran(self) -> list[str]:
        return self.marks.read_text().split()

    def alive(self) -> bool:
        return self.proc.poll() is None

    def close(self) -> None:
        terminate(self.proc)
        self._log.close()


CONTROL_TOKEN = "chaos-admin"  # the suite's bearer token for the control API (an admin: no approval)
RUN_PROMPT = "list pending approvals"  # the operator agent (offline model): one tool call, then its answer


class ControlApi:
    """``auraison control serve`` as a process of its own, reached (by the suite and by the
    runs' supervisors alike) through the ``control`` proxy. An agent run started through it is
    the running agent the control row follows: a supervisor process and its agent, whose end is
    reported back to the API — late, if the API is away. The API's own calls are kept out of
    the rows' accounts (no quota of their own, spans to its JSONL file); the run's quota grant
    is the management plane's, settled at the tool calls the run reports."""

    def __init__(self, chaos: Chaos) -> None:
        import httpx

        self.c = chaos
        proxy = chaos.proxies["control"]
        self.url = f"http://127.0.0.1:{proxy.port}"
        self.runs: list[dict[str, Any]] = []
        self._log = (chaos.work / "control-api.log").open("ab")
        token = {"token": CONTROL_TOKEN, "tenant": "acme", "role": "admin", "subject": "chaos"}
        env = chaos.env() | {
            "AURAISON_AGENTOPS__QUOTAS": "none",
            "AURAISON_AGENTOPS__LAKE_SINK": "false",
            "AURAISON_AGENTOPS__TOKENS": json.dumps([token]),
        }
        argv = [sys.executable, "-m", "auraison", "control", "serve", "--no-reconcile"]
        self.proc = subprocess.Popen(
            [*argv, "--port", str(proxy.target[1])], stdout=self._log, stderr=self._log, env=env
        )
        self.http = httpx.Client(
            base_url=self.url, headers={"Authorization": f"Bearer {CONTROL_TOKEN}"}, timeout=30
        )
        if not wait_for(lambda: self.proc.poll() is None and self.http.get("/agents").is_success, 120):
            raise RuntimeError(f"the control API did not come up (see {self._log.name})")

    def start_run(self) -> dict[str, Any]:
        """Register an operator agent and start a run of it (a supervised local process)."""
        spec = {"name": f"helper-{uuid.uuid4().hex[:6]}", "definition": "operator", "quota_tool_calls": 20}
        agent = self.http.post("/agents", json={"spec": spec})
        agent.raise_for_status()
        started = self.http.post(f"/agents/{agent.json()['agent_id']}/runs", json={"prompt": RUN_PROMPT})
        started.raise_for_status()
        run = started.json()
        self.runs.append(run)
        return run

    def result(self, run: dict[str, Any]) -> dict[str, Any] | None:
        """The end the run's supervisor wrote beside it (before reporting it)."""
        path = self.c.home / "data" / "agent-runs" / run["run_id"] / "result.json"
        return json.loads(path.read_text()) if path.is_file() else None

    def status(self, run: dict[str, Any]) -> str:
        """The run as the control API knows it (raises while the API is unreachable)."""
        got = self.http.get(f"/runs/{run['run_id']}", timeout=5)
        got.raise_for_status()
        return str(got.json()["status"])

    def close(self) -> None:
        for run in self.runs:  # a supervisor whose report never landed would retry for a day
            if run.get("pid") and pid_alive(run["pid"]):
                with contextlib.suppress(OSError):
                    os.killpg(run["pid"], signal.SIGKILL)
        terminate(self.proc)
        self.http.close()
        self._log.close()


def free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def shlex_quote(text: str) -> str:
    import shlex

    return shlex.quote(text)


def first_line(exc: BaseException) -> str:
    return (str(exc).splitlines() or [type(exc).__name__])[0][:100]


def wait_for(check: Callable[[], bool], limit_s: float = DEADLINE_S) -> bool:
    """Poll until ``check`` holds (True) or the deadline passes (False)."""
    deadline = time.monotonic() + limit_s
    while True:
        try:
            if check():
                return True
        except Exception:  # a dependency still down: keep polling until the deadline
            pass
        if time.monotonic() > deadline:
            return False
        time.sleep(0.05)


class RowRun:
    """One fault, injected mid-goal, held, healed; the figures of ``Row``."""

    def __init__(self, chaos: Chaos, fault: Fault) -> None:
        self.c, self.f = chaos, fault
        self.row = Row(fault)
        self.ok_calls = 0  # answered without error: each one span and one unit of usage
        self.err_calls = 0  # answered with an error: a span, no usage (the reservation is released)
        self.last_error = ""
        self.gw: GatewayProcess | None = None
        self.agent: subprocess.Popen[bytes] | None = None
        self.run_tool_calls = 0  # the control row's agent run: the tool calls its supervisor saw
        self.burst_spans = 0  # the data row's burst, written while S3 was cut
        self._n = 0

    def gateway(self) -> GatewayProcess:
        self._n += 1
        return GatewayProcess(self.c.env(), self.c.work / f"{self.f.name}-gateway-{self._n}.log")

    def count(self, reply: dict[str, Any]) -> dict[str, Any]:
        result = reply.get("result") or {}
        if "error" in reply or result.get("isError"):
            self.err_calls += 1
            text = reply.get("error") or (result.get("content") or [{}])[0].get("text", "")
            self.last_error = str(text).splitlines()[0][:160] if text else "an error"
        else:
            self.ok_calls += 1
        return result.get("structuredContent") or {}

    def call(self, tool: str, args: dict[str, Any] | None = None, timeout: float = DEADLINE_S) -> dict:
        assert self.gw is not None
        return self.count(self.gw.call(tool, args).result(timeout))

    def job(self, tag: str, retry_s: float = DEADLINE_S) -> bool:
        """Queue this row's job ``tag``, retrying for ``retry_s`` while the queue is cut (as a
        submitter would); a job refused during a fault is queued again after the heal."""
        jobs = self.c.jobs
        if jobs is None:
            return True
        job_id = f"chaos-{self.c.db}-{self.f.name}-{tag}"
        if job_id not in self.job_ids:
            self.job_ids.append(job_id)
        if wait_for(lambda: jobs.enqueue(job_id) is None, retry_s):
            return True
        self.unqueued.append(tag)
        return False

    def heal(self) -> float:
        t = self._heal()
        for tag in self.unqueued:
            if not self.job(tag):
                self.row.notes.append(f"job {tag} could not be queued after the heal")
        return t

    def run(self) -> Row:
        c, row = self.c, self.row
        c.prefix = f"chaos:{uuid.uuid4().hex[:10]}:"  # limits and approvals start empty each row
        spans0, used0 = c.spans(), c.used()
        self.spans0 = spans0
        self.job_ids: list[str] = []
        self.unqueued: list[str] = []
        if c.jobs is not None and c.jobs.ensure():
            row.notes.append("the dispatcher had died in an earlier row: started again for this one")
        self.job("before")
        halts0 = len(c.sim.call(lambda: list(c.sim.sim.watchdog.halts)))
        try:
            if self.f.name == "agent":
                self._agent_fault()
            else:
                self._gateway_fault()
        finally:
            if self.gw is not None:
                code = self.gw.close_stdin() if self.gw.proc.poll() is None else self.gw.proc.returncode
                if code != 0 and self.f.name != "gateway":
                    row.notes.append(f"the gateway exited {code} (log: {self.gw.log.name})")
                self.gw.close()
            if self.agent is not None and self.agent.poll() is None:
                self.agent.kill()
                self.agent.wait(30)
        if not self.f.halts:
            halts = c.sim.call(lambda: list(c.sim.sim.watchdog.halts))
            row.robot_kept_going = row.robot_kept_going and len(halts) == halts0
            for h in halts[halts0:]:
                row.notes.append(
                    f"the robot's watchdog halted it: no heartbeat for {h.halted_at - h.renewed_at:.2f} sim s"
                )
        self._accounts(spans0, used0)
        if self.f.name == "gateway" and row.spans_lost:
            row.notes.append(
                f"{row.spans_lost} span(s) of calls the killed gateway had answered were still in its span "
                "buffer (drained every 1 s; SIGKILL runs no handler): lost — its usage is not (the grant "
                "journal's block is settled by the next gateway)"
            )
        self._jobs()
        return row

    def _jobs(self) -> None:
        """Every job queued in the row ran exactly once (after the dispatcher recovered)."""
        c, row = self.c, self.row
        if c.jobs is None:
            row.notes.append("jobs not measured (no Ray head on this machine, or --no-jobs)")
            return
        row.jobs = len(self.job_ids)
        wait_for(lambda: set(self.job_ids) <= set(c.jobs.ran()), DEADLINE_S)
        ran = c.jobs.ran()
        row.jobs_lost = sum(ran.count(j) == 0 for j in self.job_ids)
        row.jobs_twice = sum(ran.count(j) > 1 for j in self.job_ids)
        if not c.jobs.alive():
            row.notes.append("the dispatcher process died (see dispatcher.log)")

    # -- a gateway process drives the patrol (the rows other than the agent's)
    def _gateway_fault(self) -> None:
        c, row = self.c, self.row
        self.gw = self.gateway()
        self.call("robot_get_state")
        run = c.control.start_run() if self.f.name == "control" and c.control is not None else None
        goal = self.gw.call("robot_navigate_to", {"place": c.far_place()})
        if not wait_for(lambda: c.moving() or goal.done()) or goal.done():
            reply = goal.result() if goal.done() else "no reply"
            raise RuntimeError(f"the robot never got under way: {str(reply)[:300]}")
        t_sim = c.sim_now()
        if run is not None and c.control is not None and c.control.result(run) is not None:
            row.notes.append("the agent run had ended before the API was cut")
        if self.f.plane == "data":  # the row's first span landed, then all into Parquet on S3 (small
            wait_for(lambda: c.spans()[1] > self.spans0[1], 30)  # commits stay in the catalog)
            c.lake.execute(f"CALL ducklake_flush_inlined_data('{LAKE_ALIAS}')")
        self._inject()
        self.job("during", retry_s=1)
        if self.f.plane == "data":
            self._data_outage()
        if self.f.halts:
            if wait_for(c.at_rest, 30):
                row.halted_s = round((c.sim_now() - t_sim) / c.speed, 2)
            row.deployment = c.new_deployment()
        else:
            row.deployment = c.new_deployment()  # while the goal in flight goes on
            state = self.call("robot_get_state", timeout=30)  # the agent still sees its robot
            if not state.get("pose"):
                row.notes.append(f"robot_get_state during the fault: {self.last_error}")
            out = self.count(goal.result(DEADLINE_S))
            row.robot_kept_going = out.get("status") == "succeeded"
            if not row.robot_kept_going:
                row.notes.append(
                    f"the goal in flight: {out.get('status')} {out.get('message') or self.last_error}"
                )
            row.agents_continued = bool(state.get("pose")) and row.robot_kept_going
            if run is not None and c.control is not None:  # the run goes on, and ends, with the API away
                ended = wait_for(lambda: c.control.result(run) is not None)
                away = c.control.status(run) if self._api_answers() else "unreachable"
                row.agents_continued = row.agents_continued and ended
                row.notes.append(
                    f"agent run {run['run_id']}: ended with the API away: "
                    f"{(c.control.result(run) or {}).get('status', 'NO')}; the API meanwhile: {away}"
                )
        if self.f.name == "rosbridge":
            with contextlib.suppress(Exception):
                self.count(goal.result(30))  # the goal's reply (an error) is a call answered
        wait_for(c.at_rest, 30)  # the goal of the fault is over, one way or the other
        t_heal = self.heal()
        if self.f.name == "gateway":  # the one restart the fault asks for: the killed process
            self.gw = self.gateway()
        self._recover(t_heal, run)

    def _api_answers(self) -> bool:
        assert self.c.control is not None
        try:
            self.c.control.http.get("/agents", timeout=2)
        except Exception:
            return False
        return True

    def _data_outage(self) -> None:
        """The data plane is cut: a query must fail with a clear error, and the spans of the calls
        answered meanwhile must queue (the trace spool) rather than be lost."""
        row = self.row
        errors = self.err_calls
        self.call("lake_query", {"sql": "SELECT count(DISTINCT span_id) AS n FROM spans"}, timeout=60)
        row.query = f"failed: {self.last_error}" if self.err_calls > errors else "answered"
        # A busy agent's batch: above DuckLake's inlining limit, so bound for Parquet on S3 (the
        # gateway's few spans a second are inlined into the catalog, which is up). Written by the
        # product's span processor and lake sink, as the gateway's are, into the same spool.
        lakes: list[Lake] = []
        sink = LazyLakeSink(lambda: lakes.append(Lake(self.c.proxied_settings())) or lakes[-1])
        burst = SinkProcessor(sink, self.c.spool_dir)
        for _ in range(BURST):
            burst.add(span_row("execute_tool chaos_burst", {"auraison.tenant": "acme"}))
        burst.force_flush()  # fails against the cut S3: the batch goes to the spool
        burst.shutdown()
        for lake in lakes:
            lake.close()
        self.burst_spans = BURST
        row.queued = Spool(self.c.spool_dir).rows(in_flight=True)  # the gateway's drain may be replaying it

    def _inject(self) -> None:
        if self.f.how == "partition":
            self.c.proxies[self.f.name].stop()
        elif self.f.name == "gateway":
            assert self.gw is not None
            self.gw.kill()
        elif self.f.name == "agent":
            assert self.agent is not None
            self.agent.send_signal(signal.SIGKILL)
            self.agent.wait(30)

    def _heal(self) -> float:
        if self.f.how == "partition":
            self.c.proxies[self.f.name].start()  # the same port: clients reconnect by themselves
        return time.monotonic()

    def _recover(self, t_heal: float, run: dict[str, Any] | None = None) -> None:
        """Time until a new goal has the robot under way, and a new grant is given — and, for
        the data plane, the spans queued meanwhile drained into the lake; for the control API,
        the end of the run started through it landed there; the goal must then succeed (its
        drive time is not recovery time)."""
        c, row = self.c, self.row
        done: dict[str, float] = {}
        pending: list[Reply] = []
        waits = {"goal", "grant"}

        def under_way() -> bool:
            assert self.gw is not None
            fut = self.gw.call("robot_navigate_to", {"place": c.far_place()})
            while not fut.done():
                if c.moving():
                    pending.append(fut)
                    return True
                time.sleep(0.02)
            self.count(fut.result())  # refused or failed fast: the dependency is not back yet
            return False

        if wait_for(under_way):
            done["goal"] = time.monotonic()
        if wait_for(lambda: c.new_deployment() == "accepted"):
            done["grant"] = time.monotonic()
        if self.f.plane == "data":
            waits.add("drained")
            spool = Spool(c.spool_dir)
            if wait_for(lambda: not spool.segments()):  # the gateway replays what waits there
                done["drained"] = time.monotonic()
        if run is not None and c.control is not None:
            waits.add("run reported")
            control = c.control
            if wait_for(lambda: control.status(run) not in ("PENDING", "RUNNING")):
                done["run reported"] = time.monotonic()
                row.run = control.status(run)
                result = control.result(run) or {}
                self.run_tool_calls = int(result.get("tool_calls") or 0)
        if done.keys() == waits:
            row.recover_s = round(max(done.values()) - t_heal, 2)
        else:
            row.notes.append(f"not recovered: {sorted(waits - done.keys())}")
        if pending and (out := self.count(pending[0].result(DEADLINE_S))).get("status") != "succeeded":
            row.recover_s = None
            row.notes.append(f"the goal after the heal ended {out.get('status')}: {out.get('message')}")

    # -- a navigator agent process drives the patrol
    def _agent_fault(self) -> None:
        c, row = self.c, self.row
        # The nearest place first: the killed process has answered calls (and spans to lose) before
        # the long leg it is killed on.
        self.agent = self._agent_run(f"patrol {c.near_place()} {c.far_place()} dock")
        said: list[bytes] = []
        reader = threading.Thread(target=lambda: said.extend(self.agent.stdout), daemon=True)  # type: ignore[union-attr]
        reader.start()
        if not wait_for(lambda: sum(self.answered(b"".join(said))) > 0 and c.moving()):
            raise RuntimeError("agent: the robot never got under way on the patrol's second leg")
        t_sim = c.sim_now()
        self._inject()
        self.job("during", retry_s=1)
        if wait_for(c.at_rest, 30):
            row.halted_s = round((c.sim_now() - t_sim) / c.speed, 2)
        row.deployment = c.new_deployment()
        t_heal = self.heal()
        reader.join(10)  # the pipe closed with the killed process
        before = b"".join(said)
        n = sum(self.answered(before))
        row.notes.append(f"the killed agent had {n} tool call(s) answered; its rerun's are counted too")
        self.tally(before)
        # A person's rerun, or a supervisor's. From where the robot halted, the safety layer may
        # judge every route to a goal unsafe and ask for a person or another goal (its own
        # advice): then the next place is asked for, as that person would.
        for place in reversed(c.places_by_distance()):
            again = self._agent_run(f"Please go to the {place}.")
            under_way = wait_for(lambda: c.moving() or again.poll() is not None) and again.poll() is None  # noqa: B023
            t_moving = time.monotonic()
            out, _ = again.communicate(timeout=DEADLINE_S * 2)
            self.tally(out)
            if under_way and again.returncode == 0 and b"Arrived at" in out:
                row.recover_s = round(t_moving - t_heal, 2)  # the new run has the robot under way
                break
            if again.returncode == 0 and b"ended needs_approval" in b" ".join(out.split()):  # unwrapped
                row.notes.append(f"agent rerun: every route to the {place} judged unsafe from the halt")
                continue
            row.notes.append(f"agent rerun: exit {again.returncode}: {out.decode()[-200:]}")
            break

    @staticmethod
    def answered(out: bytes) -> tuple[int, int]:
        """The tool calls an agent process saw answered, from its own output: (ok, error).

        ``auraison run`` prints a line per answered call (``✓`` or ``✗``) as the answer arrives,
        before the model takes its next step; a call in flight at a SIGKILL was never answered
        and ends no span. So these lines are what the killed agent and its rerun were told, an
        account kept apart from the spans and the ledger it is checked against."""
        marks = [line.lstrip()[:1] for line in out.decode(errors="replace").splitlines()]
        return marks.count("✓"), marks.count("✗")

    def tally(self, out: bytes) -> None:
        ok, err = self.answered(out)
        self.ok_calls += ok
        self.err_calls += err

    def _agent_run(self, prompt: str) -> subprocess.Popen[bytes]:
        log = (self.c.work / "agent.log").open("ab")
        return subprocess.Popen(
            [sys.executable, "-m", "auraison", "run", "navigator", prompt],
            stdout=subprocess.PIPE,
            stderr=log,
            env=self.c.env(),
        )

    # -- what was lost or doubled, once the gateway closed (grants settle, spans flush)
    def _accounts(self, spans0: tuple[int, int], used0: int) -> None:
        c, row = self.c, self.row
        row.spans_expected = self.ok_calls + self.err_calls + self.burst_spans
        row.usage_expected = self.ok_calls + self.run_tool_calls  # the run's grant settles at its calls
        wait_for(lambda: c.spans()[1] - spans0[1] >= row.spans_expected, 30)
        rows, distinct = c.spans()
        row.spans_lost = max(0, row.spans_expected - (distinct - spans0[1]))
        row.spans_doubled = (rows - distinct) - (spans0[0] - spans0[1])
        used = c.used() - used0
        row.usage_lost = max(0, row.usage_expected - used)
        row.usage_doubled = max(0, used - row.usage_expected)


# ----------------------------------------------------------------------------- the table


def table(rows: list[Row], lease_s: float) -> str:
    head = (
        f"{'dependency':<12} {'plane':<10} {'fault':<9} {'robot':<16} {'agents go on':<12} "
        f"{'new deployment':<34} {'spans lost/dup':<14} {'usage lost/dup':<14} {'jobs lost/twice':<15} "
        f"{'recovered':<10} holds"
    )
    lines = [head, "-" * len(head)]
    for r in rows:
        robot = (
            (f"halted {r.halted_s:.2f} s" if r.halted_s is not None else "NOT halted")
            if r.fault.halts
            else ("kept going" if r.robot_kept_going else "STOPPED")
        )
        agents = "—" if r.fault.halts else ("yes" if r.agents_continued else "NO")
        spans = "—" if r.spans_lost is None else f"{r.spans_lost}/{r.spans_doubled} of {r.spans_expected}"
        usage = "—" if r.usage_lost is None else f"{r.usage_lost}/{r.usage_doubled} of {r.usage_expected}"
        rec = f"{r.recover_s:.1f} s" if r.recover_s is not None else "NO"
        jobs = "—" if r.jobs_lost is None else f"{r.jobs_lost}/{r.jobs_twice} of {r.jobs}"
        if r.fault.plane == "data":  # what the seed's data-plane column asks: queries fail, ingestion queued
            r.notes.insert(0, f"queries: {r.query or '—'}; ingestion: {r.queued} spans spooled, then drained")
        if r.fault.name == "control":
            r.notes.insert(0, f"the agent run started through the API: {r.run or 'no end landed'}")
        bad = r.failures(lease_s)
        lines.append(
            f"{r.fault.name:<12} {r.fault.plane:<10} {r.fault.how:<9} {robot:<16} {agents:<12} "
            f"{r.deployment[:34]:<34} {spans:<14} {usage:<14} {jobs:<15} {rec:<10} "
            f"{'yes' if not bad else 'NO'}"
        )
    for r in rows:
        if r.deployment.startswith("refused"):
            r.notes.insert(0, f"new deployment {r.deployment}")
        for why in r.failures(lease_s) + r.notes:
            lines.append(f"  {r.fault.name}: {why}")
    return "\n".join(lines)


def run(
    rows: list[str], speed: float, lease_s: float, work: Path, jobs: bool = True, ray_url: str = ""
) -> list[Row]:
    chaos = Chaos(
        work,
        speed=speed,
        lease_s=lease_s,
        jobs=jobs,
        ray_url=ray_url,
        s3="s3" in rows,
        control="control" in rows,
    )
    out = []
    try:
        for name in rows:
            try:
                out.append(RowRun(chaos, FAULTS[name]).run())
            except Exception as exc:  # a row that breaks is a row that fails, not a crash
                out.append(Row(FAULTS[name], notes=[f"the row broke: {first_line(exc)}"]))
                print(f"{name}: {type(exc).__name__}: {exc}", file=sys.stderr, flush=True)
    finally:
        chaos.close()
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rows", default=",".join(FAULTS), help=f"comma-separated, of {', '.join(FAULTS)}")
    ap.add_argument("--speed", type=float, default=8.0, help="simulator speed (× real time)")
    lease = "robot.motion_lease_s of the workload (default: the product's)"
    ap.add_argument("--lease", type=float, default=1.0, help=lease)
    ap.add_argument("--work", type=Path, help="keep the logs in this folder (default: a temporary one)")
    ap.add_argument("--no-jobs", action="store_true", help="leave out the Ray job stream")
    ap.add_argument("--ray", default="", help="a running Ray head's dashboard URL (default: ray's)")
    args = ap.parse_args()
    names = [n.strip() for n in args.rows.split(",") if n.strip()]
    unknown = set(names) - FAULTS.keys()
    if unknown:
        ap.error(f"unknown rows {sorted(unknown)}; known: {', '.join(FAULTS)}")
    import logging

    from ._common import machine

    logging.getLogger("nats.aio.client").setLevel(logging.CRITICAL)  # a cut NATS is the point here
    print(f"R1 chaos: {machine()}; sim ×{args.speed}, motion lease {args.lease} s", flush=True)
    with tempfile.TemporaryDirectory(prefix="auraison-chaos-") as tmp:
        work = args.work or Path(tmp)
        work.mkdir(parents=True, exist_ok=True)
        rows = run(names, args.speed, args.lease, work, jobs=not args.no_jobs, ray_url=args.ray)
        print(table(rows, args.lease))
    for plane, cost in SEED.items():
        print(f"  seed, {plane} plane down: {cost}")


if __name__ == "__main__":
    main()
