"""``auraison gateway``: every plane's tools behind AgentOps, over stdio or HTTP."""

from __future__ import annotations

from typing import Annotated

import typer

from auraison.errors import UserError

from .output import err_console
from .state import get_settings


def gateway(
    transport: Annotated[str, typer.Option(help="stdio (Claude Code, agents) or http")] = "stdio",
    host: Annotated[str, typer.Option(help="HTTP bind address")] = "127.0.0.1",
    port: Annotated[int, typer.Option(min=1, max=65535, help="HTTP port")] = 8700,
) -> None:
    """Serve every plane's tools behind AgentOps (HTTP: streamable at /mcp, bearer tokens)."""
    from auraison.mcp_servers.gateway import build_gateway

    if transport not in ("stdio", "http"):
        raise UserError(f"unknown transport {transport!r}", "use stdio or http")
    server = build_gateway(get_settings(), http=transport == "http")
    if transport == "stdio":
        server.run(transport="stdio", show_banner=False)
    else:
        err_console().print(f"auraison gateway on http://{host}:{port}/mcp (bearer token required)")
        server.run(transport="http", host=host, port=port, show_banner=False)
