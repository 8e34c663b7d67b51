"""``auraison rosmcp …``: the real ros-mcp (ros-mcp-server) in its own virtual env."""

from __future__ import annotations

import typer

from auraison.errors import UserError

from .output import err_console
from .state import get_settings

rosmcp_app = typer.Typer(
    help="The real ros-mcp (ros-mcp-server) in its own virtual env.", no_args_is_help=True
)


@rosmcp_app.command("install")
def rosmcp_install() -> None:
    """Build (once) the private venv of ros-mcp and print its executable's path."""
    from auraison.rosmcp import ensure_ros_mcp

    exe = ensure_ros_mcp(get_settings().cache_dir, progress=lambda m: err_console().print(m))
    print(exe)


@rosmcp_app.command("path")
def rosmcp_path() -> None:
    """Print the ros-mcp executable's path, or fail if it was not built yet."""
    from auraison.rosmcp import executable

    exe = executable(get_settings().cache_dir)
    if exe is None:
        raise UserError("ros-mcp is not built yet", "auraison rosmcp install")
    print(exe)
