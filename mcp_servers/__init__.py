"""One MCP server per plane (``robot``, ``world``, ``cluster``, ``lake``, ``billing``), each a
FastMCP server built by ``build_server(rt)`` over the process's ``Runtime``, and the gateway that
mounts them — with any proxied third-party MCP servers (``proxy.py``) — behind AgentOps."""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from fastmcp import FastMCP

    from auraison.runtime import Runtime

# namespace -> module providing ``build_server(rt) -> FastMCP``; the gateway mounts the ones
# that exist, so a plane appears as soon as its package lands.
PLANES: dict[str, str] = {
    "robot": "auraison.mcp_servers.robot.server",
    "world": "auraison.mcp_servers.world.server",
    "cluster": "auraison.mcp_servers.cluster.server",
    "lake": "auraison.mcp_servers.lake.server",
    "billing": "auraison.mcp_servers.billing.server",
}


def plane_servers(rt: Runtime) -> dict[str, FastMCP]:
    """The plane servers of this installation and the proxied MCP servers, by namespace.
    Third-party servers (ros-mcp as ``ros_*``) are governed like the planes: one guarded path."""
    from auraison.mcp_servers.proxy import proxy_servers

    servers = {name: importlib.import_module(module).build_server(rt) for name, module in PLANES.items()}
    servers.update(proxy_servers(rt))
    return servers
