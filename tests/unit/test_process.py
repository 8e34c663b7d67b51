"""The PID-file process manager starts, finds and stops only its own processes."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path

import pytest

from auraison.errors import ServiceError
from auraison.services.process import ProcessManager, ProcessSpec, _start_ticks

SLEEPER = [sys.executable, "-c", "import time; time.sleep(600)"]


def spec(name: str = "sleeper", argv: list[str] | None = None, ready=lambda: True) -> ProcessSpec:
    return ProcessSpec(name, argv or SLEEPER, ready=ready, ready_timeout_s=5, stop_timeout_s=5)


def test_start_is_idempotent_and_stop_kills(tmp_path: Path) -> None:
    pm = ProcessManager(tmp_path)
    rec, started = pm.start(spec())
    try:
        assert started and rec.alive()
        again, started_again = pm.start(spec())
        assert not started_again and again.pid == rec.pid
    finally:
        assert pm.stop("sleeper") is True
    assert not rec.alive() and pm.record("sleeper") is None
    assert pm.stop("sleeper") is False  # nothing left to stop


def test_stop_never_signals_a_process_it_did_not_start(tmp_path: Path) -> None:
    """A PID file that points at a foreign process (PID reuse) leaves that process alone."""
    foreign = subprocess.Popen(SLEEPER)
    try:
        pm = ProcessManager(tmp_path)
        (tmp_path / "sleeper.pid").write_text(
            json.dumps({"name": "sleeper", "pid": foreign.pid, "start_ticks": 1, "argv": SLEEPER})
        )
        assert pm.running("sleeper") is None
        assert pm.stop("sleeper") is False
        assert foreign.poll() is None  # still alive
    finally:
        foreign.kill()
        foreign.wait()


def test_stop_takes_down_the_children_too(tmp_path: Path) -> None:
    pm = ProcessManager(tmp_path)
    parent = [
        sys.executable,
        "-c",
        "import subprocess,sys,time; "
        "p=subprocess.Popen([sys.executable,'-c','import time; time.sleep(600)']);"
        f"open(r'{tmp_path / 'child'}','w').write(str(p.pid)); time.sleep(600)",
    ]
    pm.start(spec("family", parent, ready=lambda: (tmp_path / "child").exists()))
    child = int((tmp_path / "child").read_text())
    assert _start_ticks(child) is not None
    pm.stop("family")
    deadline = time.monotonic() + 5
    while _start_ticks(child) is not None and time.monotonic() < deadline:
        time.sleep(0.02)  # polling for the exit, bounded
    assert _start_ticks(child) is None, "the child outlived its stopped parent"


def test_a_process_that_dies_while_starting_is_reported_with_its_log(tmp_path: Path) -> None:
    pm = ProcessManager(tmp_path)
    bad = [sys.executable, "-c", "import sys; print('boom: port taken'); sys.exit(3)"]
    with pytest.raises(ServiceError, match=r"exited with code 3.*boom: port taken"):
        pm.start(spec("bad", bad, ready=lambda: False))
    assert pm.record("bad") is None


def test_never_ready_is_stopped_and_reported(tmp_path: Path) -> None:
    pm = ProcessManager(tmp_path)
    s = ProcessSpec("slow", SLEEPER, ready=lambda: False, ready_timeout_s=0.5, stop_timeout_s=5)
    with pytest.raises(ServiceError, match="not ready"):
        pm.start(s)
    assert pm.record("slow") is None
