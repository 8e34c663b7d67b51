"""``auraison model …``: the offline stand-in model, served to clients that speak to Claude.

``auraison model serve`` exposes the stand-in (``auraison.agents.offline``) as a local Anthropic
Messages API endpoint (``auraison.agents.messages_api``), so the real Claude Code CLI runs with
no network and no key: ``ANTHROPIC_BASE_URL=<the printed URL> claude -p "/navigate kitchen"``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from auraison.errors import UserError

model_app = typer.Typer(help="The offline stand-in model, as a local Messages API.", no_args_is_help=True)


@model_app.command("serve")
def serve(
    host: Annotated[str, typer.Option(help="bind address")] = "127.0.0.1",
    port: Annotated[int, typer.Option(min=0, max=65535, help="port (0: a free one)")] = 8787,
    record: Annotated[
        Path | None, typer.Option(help="write every request and answer to this JSON file")
    ] = None,
) -> None:
    """Serve the offline stand-in as an Anthropic Messages API; prints the URL it is bound to
    (the first line on stdout) for ANTHROPIC_BASE_URL."""
    import socket
    import sys

    import uvicorn

    from auraison.agents.messages_api import Exchanges, create_app

    if record is not None and not record.parent.is_dir():
        raise UserError(f"cannot record to {record}: {record.parent} is not a folder")
    sock = socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, port))
    except OSError as exc:
        raise UserError(
            f"cannot listen on {host}:{port}: {exc.strerror}", "pick another --port, or 0"
        ) from None
    bound = sock.getsockname()[1]
    shown = f"[{host}]" if ":" in host else host
    sys.stdout.write(f"http://{shown}:{bound}\n")
    sys.stdout.flush()
    sys.stderr.write(
        f"auraison model serve: the offline stand-in (auraison-offline-stand-in) on http://{shown}:{bound}; "
        f"ANTHROPIC_BASE_URL=http://{shown}:{bound} ANTHROPIC_API_KEY=offline-stand-in claude ...\n"
    )
    app = create_app(Exchanges(record))
    server = uvicorn.Server(uvicorn.Config(app, log_level="warning", access_log=False))
    server.run(sockets=[sock])
