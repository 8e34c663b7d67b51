"""Build, on demand, the private virtual environment that runs the real ``ros-mcp``.

``ros-mcp`` 3.1.2 (ros-mcp-server) pins ``fastmcp<3`` and installs top-level ``config``
packages, so it can never live in Auraison's environment: it runs as a subprocess from its own
venv under the cache directory. The build is locked (concurrent callers wait, then reuse it)
and marked complete only at the end, so an interrupted build is redone, not trusted.
"""

from __future__ import annotations

import fcntl
import shutil
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

from auraison.errors import UserError

ROS_MCP_VERSION = "3.1.2"
_MARKER = ".auraison-complete"


def venv_dir(cache_dir: Path, version: str = ROS_MCP_VERSION) -> Path:
    return cache_dir / f"ros-mcp-{version}"


def executable(cache_dir: Path, version: str = ROS_MCP_VERSION) -> Path | None:
    """The ``ros-mcp`` executable if a complete venv exists, else ``None``."""
    root = venv_dir(cache_dir, version)
    exe = root / "bin" / "ros-mcp"
    marker = root / _MARKER
    if exe.is_file() and marker.is_file() and marker.read_text().strip() == version:
        return exe
    return None


def ensure_ros_mcp(
    cache_dir: Path,
    version: str = ROS_MCP_VERSION,
    progress: Callable[[str], None] = lambda _msg: None,
) -> Path:
    """Return the path of ``ros-mcp``, building its venv first if needed (cached after)."""
    if (exe := executable(cache_dir, version)) is not None:
        return exe
    cache_dir.mkdir(parents=True, exist_ok=True)
    root = venv_dir(cache_dir, version)
    with open(cache_dir / f".ros-mcp-{version}.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if (exe := executable(cache_dir, version)) is not None:
            return exe  # another process built it while we waited
        if root.exists():
            progress(f"removing incomplete build at {root}")
            shutil.rmtree(root)
        progress(f"creating virtual environment {root}")
        _run([sys.executable, "-m", "venv", str(root)])
        python = root / "bin" / "python"
        progress(f"installing ros-mcp=={version} (one time; cached afterwards)")
        uv = shutil.which("uv") or _sibling("uv")
        if uv:
            _run([uv, "pip", "install", "--quiet", "--python", str(python), f"ros-mcp=={version}"])
        else:
            _run([str(python), "-m", "pip", "install", "--quiet", f"ros-mcp=={version}"])
        exe = root / "bin" / "ros-mcp"
        if not exe.is_file():
            raise UserError(f"ros-mcp=={version} installed no 'ros-mcp' executable in {root}")
        (root / _MARKER).write_text(version)
        progress(f"ros-mcp ready: {exe}")
        return exe


def _sibling(name: str) -> str | None:
    candidate = Path(sys.executable).parent / name
    return str(candidate) if candidate.is_file() else None


def _run(cmd: list[str]) -> None:
    proc = subprocess.run(cmd, capture_output=True, text=True, check=False)
    if proc.returncode != 0:
        tail = (proc.stderr or proc.stdout).strip().splitlines()[-5:]
        raise UserError(
            f"command failed ({proc.returncode}): {' '.join(cmd)}: {' | '.join(tail)}",
            "check that PyPI is reachable, then run `auraison rosmcp install` again",
        )
