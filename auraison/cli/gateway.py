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
    import asyncio
    import contextlib
    import os
    import signal

    from auraison.runtime import Runtime

    if transport not in ("stdio", "http"):
        raise UserError(f"unknown transport {transport!r}", "use stdio or http")
    rt = Runtime(get_settings())
    server = rt.gateway(http=transport == "http")
    kwargs: dict[str, object] = {}
    if transport == "http":
        err_console().print(f"auraison gateway on http://{host}:{port}/mcp (bearer token required)")
        kwargs = {"host": host, "port": port}

    async def serve() -> None:
        # Close on the serving loop when the client goes (stdin closed, SIGTERM, Ctrl-C): quota
        # grants settle what they served, connections and proxied servers end cleanly. SIGTERM
        # stops serving but never interrupts the close itself; a crash skips it, and grant
        # expiry is the crash path.
        async def terminate() -> None:
            # The stdio reader blocks in a thread that cancelling cannot interrupt: close the
            # runtime (grants settle) and leave at once.
            await rt.aclose()
            os._exit(0)

        loop = asyncio.get_running_loop()
        loop.add_signal_handler(signal.SIGTERM, lambda: loop.create_task(terminate()))
        try:
            await server.run_async(transport=transport, show_banner=False, **kwargs)
        finally:
            await rt.aclose()

    with contextlib.suppress(asyncio.CancelledError):
        asyncio.run(serve())
