"""One MCP server per plane (``robot``, ``world``, ``cluster``, ``lake``, ``billing``), each a
FastMCP server exposed by ``build_server(settings)``, and the gateway that mounts them."""

# namespace -> module providing ``build_server(settings) -> FastMCP``; the gateway mounts the
# ones that exist, so a plane appears as soon as its package lands.
PLANES: dict[str, str] = {
    "robot": "auraison.mcp_servers.robot.server",
    "world": "auraison.mcp_servers.world.server",
    "cluster": "auraison.mcp_servers.cluster.server",
    "lake": "auraison.mcp_servers.lake.server",
    "billing": "auraison.mcp_servers.billing.server",
}
