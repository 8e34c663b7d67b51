"""Third-party MCP servers, served through the gateway as governed namespaces.

A server listed next to the gateway in ``.mcp.json`` is a path around AgentOps: ros-mcp's
``publish_for_durations`` on ``/cmd_vel`` would drive the robot with no policy, no trace and no
limit. So the gateway runs such servers itself (stdio subprocesses) and mounts each one like a
plane under its namespace — ros-mcp's tools become ``ros_*`` — where every call passes the same
middleware as the planes: policy (infra/policies/default.yaml), trace, limits, quota.

``ros`` is built in: the ros-mcp venv that ``auraison rosmcp install`` builds (ros-mcp pins
``fastmcp<3``, so it is never imported here), pointed at ``robot.rosbridge_url`` as soon as it
starts. Others come from the settings' ``proxies`` (name → command, args, env, like an
``.mcp.json`` entry). A proxy whose command does not exist is left out (its tools are absent;
``auraison doctor`` says how to install it) and never breaks the gateway.

Only tools are served: resources and prompts would be reads no policy sees. The subprocess
starts on first need, not with the gateway: the tool list it gave last time (kept in the cache
directory, keyed by the executable and its arguments) answers ``tools/list`` until a call
starts it, so a gateway start does not wait seconds for ros-mcp's imports.
"""

from __future__ import annotations

import asyncio
import json
import os
import shutil
from collections.abc import AsyncGenerator, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

import mcp.types as mcp_types
import structlog
from fastmcp import Client, FastMCP
from fastmcp.client.transports import StdioTransport
from fastmcp.server.providers.proxy import ProxyClient, ProxyProvider, ProxyTool
from fastmcp.tools.base import Tool

from auraison import rosmcp
from auraison.errors import ConfigError
from auraison.settings import ProxySettings, Settings

if TYPE_CHECKING:
    from auraison.runtime import Runtime

log = structlog.get_logger("auraison.proxy")

BUILTIN_ROS = "ros"
ROS_MCP_FIX = "auraison rosmcp install"


@dataclass(frozen=True)
class ProxySpec:
    """One proxied server, resolved: what to run and what to call once it has started."""

    name: str
    command: str
    args: list[str]
    env: dict[str, str] = field(default_factory=dict)
    on_start: tuple[tuple[str, dict[str, Any]], ...] = ()


@dataclass(frozen=True)
class Missing:
    """A configured proxy that cannot run here, and how to fix that."""

    name: str
    reason: str
    fix: str


def resolve_proxies(settings: Settings) -> tuple[list[ProxySpec], list[Missing]]:
    """The proxies this installation can run, and the ones it cannot (with the fix)."""
    from auraison.mcp_servers import PLANES

    configured = {BUILTIN_ROS: ProxySettings(), **settings.proxies}
    specs: list[ProxySpec] = []
    missing: list[Missing] = []
    for name, p in sorted(configured.items()):
        if not p.enabled:
            continue
        if name in PLANES or name == "approvals":
            raise ConfigError(
                f"proxies.{name}: '{name}' is a plane's namespace", "give the proxied server another name"
            )
        command, args = p.command, list(p.args)
        if name == BUILTIN_ROS and command is None:
            exe = rosmcp.executable(settings.cache_dir)
            if exe is None:
                why = f"ros-mcp=={rosmcp.ROS_MCP_VERSION} not built, so no ros_* tools"
                missing.append(Missing(name, why, ROS_MCP_FIX))
                continue
            command, args = str(exe), args or ["--transport", "stdio"]
        if command is None:
            raise ConfigError(f"proxies.{name}: no command", f"set proxies.{name}.command (as in .mcp.json)")
        if _which(command) is None:
            fix = f"install it or fix proxies.{name}.command"
            missing.append(Missing(name, f"command {command!r} not found", fix))
            continue
        on_start = _ros_connect(settings) if name == BUILTIN_ROS else ()
        specs.append(ProxySpec(name, command, args, dict(p.env), on_start))
    return specs, missing


def proxy_servers(rt: Runtime) -> dict[str, FastMCP]:
    """One FastMCP server per runnable proxy, by namespace (mounted by the gateway); each
    backend is the runtime's (``rt.proxies``), and its subprocess ends when the runtime closes."""
    settings = rt.settings
    specs, missing = resolve_proxies(settings)
    for m in missing:
        log.warning("proxied MCP server left out", proxy=m.name, reason=m.reason, fix=m.fix)
    workdir = settings.data_dir / "proxies"  # type: ignore[operator]
    servers = {}
    for spec in specs:
        backend = rt.proxies[spec.name] = StdioBackend(spec, workdir, settings.cache_dir / "proxies")
        rt.on_close(backend.close)
        servers[spec.name] = build_proxy(backend)
    return servers


def build_proxy(backend: StdioBackend) -> FastMCP:
    server = FastMCP(f"proxy:{backend.spec.name}")
    server.add_provider(ToolsOnlyProxy(backend))
    return server


class StdioBackend:
    """One long-lived subprocess per proxy (the transport keeps it alive between calls), started
    on first use; the ``on_start`` calls run again whenever it has (re)started."""

    def __init__(self, spec: ProxySpec, workdir: Path, catalog_dir: Path) -> None:
        self.spec = spec
        cwd = workdir / spec.name  # ros-mcp writes ./camera/ images here
        cwd.mkdir(parents=True, exist_ok=True)
        self.transport = StdioTransport(
            spec.command,
            spec.args,
            env=spec.env or None,
            cwd=str(cwd),
            keep_alive=True,
            log_file=workdir / f"{spec.name}.log",
        )
        # The handshake era: every MCP server speaks it (ros-mcp's fastmcp 2 speaks nothing else).
        self._base = ProxyClient(self.transport, mode="legacy")
        self._catalog = catalog_dir / f"{spec.name}.json"
        self._started_session: object | None = None
        self._lock = asyncio.Lock()
        self.starts = 0

    @property
    def running(self) -> bool:
        session = getattr(self.transport, "_session", None)
        return session is not None and not _dead(self.transport)

    async def client(self) -> Client:
        """A fresh client on the shared subprocess (the proxy's ``client_factory``)."""
        if self.spec.on_start and not self._started():
            async with self._lock:
                if not self._started():
                    await self._start()
        return self._base.new()

    def _started(self) -> bool:
        return self.running and getattr(self.transport, "_session", None) is self._started_session

    async def _start(self) -> None:
        async with self._base.new() as c:
            for tool, args in self.spec.on_start:
                result = await c.call_tool_mcp(tool, args)
                if result.is_error:
                    log.warning("proxy start-up call failed", proxy=self.spec.name, tool=tool)
        self._started_session = getattr(self.transport, "_session", None)
        self.starts += 1

    # ------------------------------------------------------------------ catalog
    def catalog_key(self) -> dict[str, Any]:
        exe = _which(self.spec.command)
        stat = Path(exe).stat() if exe else None
        return {
            "command": exe,
            "args": self.spec.args,
            "env": sorted(self.spec.env),
            "mtime_ns": stat.st_mtime_ns if stat else None,
            "size": stat.st_size if stat else None,
        }

    def load_catalog(self) -> list[mcp_types.Tool] | None:
        try:
            data = json.loads(self._catalog.read_text())
            if data.get("key") != self.catalog_key():
                return None
            return [mcp_types.Tool.model_validate(t) for t in data["tools"]]
        except (OSError, ValueError, KeyError, TypeError):
            return None  # absent, stale or damaged: list from the server instead

    def save_catalog(self, tools: Sequence[mcp_types.Tool]) -> None:
        self._catalog.parent.mkdir(parents=True, exist_ok=True)
        tmp = self._catalog.with_suffix(f".{os.getpid()}.tmp")
        payload = {
            "key": self.catalog_key(),
            "tools": [t.model_dump(mode="json", by_alias=True) for t in tools],
        }
        tmp.write_text(json.dumps(payload))
        tmp.replace(self._catalog)

    async def close(self) -> None:
        await self.transport.close()
        self._started_session = None


class ToolsOnlyProxy(ProxyProvider):
    """ProxyProvider serving tools only, listed from the remembered catalog while the subprocess
    has not started (a call starts it)."""

    def __init__(self, backend: StdioBackend) -> None:
        super().__init__(backend.client)
        self.backend = backend

    async def _list_tools(self) -> Sequence[Tool]:
        if not self.backend.running and (remembered := self.backend.load_catalog()) is not None:
            return [
                ProxyTool.from_mcp_tool(self.client_factory, t, identity=self.identity) for t in remembered
            ]
        tools = await super()._list_tools()
        self.backend.save_catalog([t.to_mcp_tool() for t in tools])
        return tools

    async def _list_resources(self) -> Sequence[Any]:
        return []

    async def _list_resource_templates(self) -> Sequence[Any]:
        return []

    async def _list_prompts(self) -> Sequence[Any]:
        return []

    @asynccontextmanager
    async def lifespan(self) -> AsyncGenerator[None, None]:
        try:
            yield
        finally:
            await self.backend.close()  # the subprocess ends with the gateway


def _ros_connect(settings: Settings) -> tuple[tuple[str, dict[str, Any]], ...]:
    """ros-mcp starts aimed at 127.0.0.1:9090; aim it at the robot the robot plane drives."""
    url = urlsplit(settings.robot.rosbridge_url)
    return (("connect_to_robot", {"ip": url.hostname or "127.0.0.1", "port": url.port or 9090}),)


def _which(command: str) -> str | None:
    if os.sep in command:
        path = Path(command).expanduser()
        return str(path) if path.is_file() and os.access(path, os.X_OK) else None
    return shutil.which(command)


def _dead(transport: StdioTransport) -> bool:
    check = getattr(transport, "_is_session_dead", None)
    return bool(check()) if callable(check) else False
