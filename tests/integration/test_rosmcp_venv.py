"""The ros-mcp builder makes a working private venv once and reuses it after."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from auraison import rosmcp


def test_build_then_cached(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    messages: list[str] = []
    exe = rosmcp.ensure_ros_mcp(tmp_path, progress=messages.append)
    assert exe.is_file() and exe.name == "ros-mcp"
    assert any("installing ros-mcp==3.1.2" in m for m in messages)
    # ros-mcp's own deps stay in its venv: it pins fastmcp<3, Auraison runs fastmcp 4
    probe = "import fastmcp; print(fastmcp.__version__)"
    out = subprocess.run(
        [str(exe.parent / "python"), "-c", probe], capture_output=True, text=True, check=True
    )
    assert out.stdout.startswith("2.")

    def no_builds(*a: object, **k: object) -> None:
        raise AssertionError("a cached venv must not be rebuilt")

    monkeypatch.setattr(rosmcp, "_run", no_builds)
    again: list[str] = []
    assert rosmcp.ensure_ros_mcp(tmp_path, progress=again.append) == exe
    assert again == []


def test_incomplete_build_is_redone(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    root = rosmcp.venv_dir(tmp_path)
    (root / "bin").mkdir(parents=True)
    (root / "bin" / "ros-mcp").write_text("#!/bin/sh\n")  # no completion marker
    assert rosmcp.executable(tmp_path) is None
    calls: list[list[str]] = []
    monkeypatch.setattr(rosmcp, "_run", lambda cmd: calls.append(cmd))
    with pytest.raises(Exception, match="no 'ros-mcp' executable"):
        rosmcp.ensure_ros_mcp(tmp_path)  # the stub run installs nothing
    assert calls and calls[0][1:3] == ["-m", "venv"]
    assert not (root / "bin" / "ros-mcp").exists()  # the stale half-build was removed
