"""The composition root: one process's world, built once and closed once.

``Runtime(settings)`` is the only place where real adapters are chosen and wired (cosmicpython's
``bootstrap``): the AgentOps engine with its quota ledger, one robot connection shared by the
robot and world planes, one management store, one lake, one control plane, and the proxied MCP
servers. Each is built on first use — a process that only answers a hook never opens a lake, and
a service that is down at start is just one whose first call reports the outage — and each
registers its own close. Gateway, agents, CLI and HTTP API take what they need from here; tests
pass in-memory fakes through the same constructor.

    async with Runtime(settings) as rt:
        gateway = rt.gateway()

``aclose`` settles the quota grants first (what was served is counted), then closes the rest in
reverse order of opening.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Awaitable, Callable
from contextlib import AsyncExitStack
from pathlib import Path
from typing import TYPE_CHECKING, Any, Self, TypeVar

from auraison.settings import Settings

if TYPE_CHECKING:
    from fastmcp import FastMCP

    from auraison.agentops.engine import AgentOps
    from auraison.lakehouse.catalog import Lake
    from auraison.lakehouse.embeddings import Embedder
    from auraison.mcp_servers.billing.grants import GrantLedger
    from auraison.mcp_servers.billing.service import Billing
    from auraison.mcp_servers.cluster.service import ControlPlane
    from auraison.mcp_servers.proxy import StdioBackend
    from auraison.mcp_servers.robot.places import Places
    from auraison.mcp_servers.robot.service import RobotService
    from auraison.mcp_servers.world.backend import WorldModel

T = TypeVar("T")
Closer = Callable[[], Awaitable[None] | None]
FIRST = ("robot", "grants", "engine")
"""Closed before the rest, in this order: the robot plane halts a motion still under its lease
(the session is over, and a goal must not run on while slower closes wait on the network), grants
settle (what was served is counted), then the engine flushes its spans — into a lake that is
still open."""


class Runtime:
    """Every shared resource of one process, by plane; see the module docstring."""

    def __init__(
        self,
        settings: Settings,
        *,
        engine: AgentOps | None = None,
        robot: RobotService | None = None,
        world: WorldModel | None = None,
        lake: Lake | None = None,
        billing: Billing | None = None,
        control: ControlPlane | None = None,
    ) -> None:
        self.settings = settings
        self._built: dict[str, Any] = {
            k: v
            for k, v in {
                "engine": engine,
                "robot": robot,
                "world": world,
                "lake": lake,
                "billing": billing,
                "control": control,
            }.items()
            if v is not None
        }
        self._closers: list[tuple[str, Closer]] = []
        self._lock = threading.RLock()  # planes build from worker threads too (lake, billing)
        self._servers: dict[str, FastMCP] | None = None
        self.proxies: dict[str, StdioBackend] = {}
        """The proxied MCP servers' backends (their subprocesses end when the runtime closes)."""
        if engine is not None:  # a given engine still sees robot places as the gateway shows them
            from auraison.mcp_servers.robot.places import policy_view

            engine.arg_views.setdefault("robot_*", policy_view(self.places))

    # ------------------------------------------------------------------ building blocks
    def _once(self, name: str, build: Callable[[], T], close: Callable[[T], Any] | None = None) -> T:
        """Build ``name`` on first use (a failed build is retried on the next use) and register
        its close; what the constructor was given is the caller's to close."""
        with self._lock:
            if name not in self._built:
                value = build()
                self._built[name] = value
                if close is not None:
                    self._closers.append((name, lambda: close(value)))
            return self._built[name]

    @property
    def engine(self) -> AgentOps:
        """The one AgentOps engine; with ``agentops.quotas = "management"`` it draws on the
        management plane through block grants (settled at close). It traces through the
        process's one tracer and meter providers (set globally: FastMCP's SERVER spans and
        Pydantic AI's instrumentation land with AgentOps's), to which this runtime attaches its
        exporters — spans to the lake, spans and metrics to OTLP when configured — until it closes
        (and flushes them)."""
        from auraison.agentops.factory import build_agentops, span_processors, trace_sink
        from auraison.agentops.metrics import metric_exporters
        from auraison.agentops.tracing import Attached
        from auraison.mcp_servers.robot.places import policy_view

        attached: list[Attached] = []

        def build() -> AgentOps:
            ao = self.settings.agentops
            sink = trace_sink(self.settings, lambda: self.lake)
            exported = Attached(
                span_processors(self.settings, sink),
                metric_exporters(ao.otlp_endpoint),
                ao.metrics_interval_s,
            )
            attached.append(exported)
            engine = build_agentops(
                self.settings,
                sink=sink,
                ledger=self.grant_ledger,
                tracer_provider=exported.provider,
                meter_provider=exported.meter_provider,
            )
            # The robot plane shows the guardrails where a place name leads (its x/y).
            engine.arg_views["robot_*"] = policy_view(self.places)
            return engine

        return self._once("engine", build, lambda e: asyncio.to_thread(attached.pop().close))

    @property
    def grant_ledger(self) -> GrantLedger | None:
        if self.settings.agentops.quotas != "management":
            return None
        from auraison.mcp_servers.billing.grants import GrantLedger

        block = self.settings.agentops.quota_block
        journal = grant_journal(self.settings)
        # The store opens on the first grant (a gateway starts while the management plane is down).
        return self._once(
            "grants", lambda: GrantLedger(lambda: self.billing, block=block, journal=journal), _close_ledger
        )

    @property
    def billing(self) -> Billing:
        """The management plane (its store opened and migrated once)."""
        from auraison.mcp_servers.billing.service import Billing

        return self._once("billing", lambda: Billing.from_settings(self.settings), lambda b: b.store.close())

    @property
    def robot(self) -> RobotService:
        """The one robot connection the robot and world planes share (connects on first use)."""
        from auraison.mcp_servers.robot.rosbridge import RosbridgeClient
        from auraison.mcp_servers.robot.service import RobotService

        s = self.settings.robot

        def build() -> RobotService:
            return RobotService(RosbridgeClient(s.rosbridge_url), self.places, s.collision, s.motion_lease_s)

        # Closing the robot is the end of the caller's session: a motion still running halts.
        return self._once("robot", build, lambda r: r.aclose())

    @property
    def places(self) -> Places:
        """The configured world's named places (loaded once: the engine and the robot share it)."""
        from auraison.mcp_servers.robot.places import places_for

        return self._once("places", lambda: places_for(self.settings))

    @property
    def world(self) -> WorldModel:
        from auraison.mcp_servers.world.backend import WorldModel

        return self._once("world", lambda: WorldModel(self.settings.world))

    @property
    def lake(self) -> Lake:
        """The one lake of this process (a DuckLake catalog is attached once per process)."""
        from auraison.lakehouse.catalog import Lake

        return self._once("lake", lambda: Lake(self.settings), lambda lake: lake.close())

    @property
    def embedder(self) -> Embedder:
        """The lake's embedder for documents and search (a local model loads once per process)."""
        from auraison.lakehouse.embeddings import build_embedder

        return self._once("embedder", lambda: build_embedder(self.settings))

    @property
    def control(self) -> ControlPlane:
        from auraison.mcp_servers.cluster.agents import BillingGrantor
        from auraison.mcp_servers.cluster.service import ControlPlane

        def build() -> ControlPlane:
            grantor = BillingGrantor(lambda: self.billing)
            return ControlPlane(self.settings, grantor=grantor, lake=lambda: self.lake)

        return self._once("control", build)

    # ------------------------------------------------------------------------- servers
    def plane_servers(self) -> dict[str, FastMCP]:
        """Every plane server and proxied MCP server of this installation, by namespace."""
        if self._servers is None:
            from auraison.mcp_servers import plane_servers

            self._servers = plane_servers(self)
        return self._servers

    def gateway(self, *, http: bool = False, servers: dict[str, FastMCP] | None = None) -> FastMCP:
        """The gateway over this runtime's planes (``servers`` replaces them: tests, benchmarks)."""
        from auraison.mcp_servers.gateway import build_gateway

        return build_gateway(self, servers=servers, http=http)

    # ------------------------------------------------------------------------- closing
    def on_close(self, closer: Closer) -> None:
        """Register something else to close with the runtime (e.g. a proxied server)."""
        self._closers.append(("", closer))

    async def aclose(self) -> None:
        """Close everything this runtime opened — ``FIRST`` first: the robot halts, quota grants
        settle what was served, spans flush — then the rest in reverse order of opening. What
        it closed is built again if used afterwards; calling it twice is harmless."""
        while True:  # flushing spans may open the lake after all: close what closing opened
            with self._lock:
                closers, self._closers = self._closers, []
                for name, _ in closers:
                    self._built.pop(name, None)
                self._servers = None
            if not closers:
                return
            first = sorted((c for c in closers if c[0] in FIRST), key=lambda c: FIRST.index(c[0]))
            async with AsyncExitStack() as stack:
                for name, closer in closers:
                    if name not in FIRST:
                        stack.push_async_callback(_call, closer)
                for _, closer in first:
                    await _call(closer)

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()


async def _call(closer: Closer) -> None:
    result = closer()
    if asyncio.iscoroutine(result) or isinstance(result, Awaitable):
        await result


def grant_journal(settings: Settings) -> Path:
    """Where this home's grant ledgers journal their blocks' spend (``GrantLedger``'s journal)."""
    return settings.run_dir / "grants"


async def _close_ledger(ledger: GrantLedger) -> None:
    await ledger.close()
