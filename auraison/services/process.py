"""Start and stop background processes by PID file, and only the ones we started.

Each process runs in its own session (process group), so stopping it also stops the children
it spawned (``ray start --block`` spawns a dozen). The PID file records the process start time
from ``/proc``: a recycled PID that now belongs to somebody else is never signalled.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

from auraison.errors import ServiceError

STOP_GRACE_S = 20.0
"""Seconds a stopped service gets after SIGTERM before SIGKILL, unless its spec says otherwise."""


@dataclass(frozen=True)
class ProcessSpec:
    """How to launch one background service and how to tell that it is ready."""

    name: str
    argv: list[str]
    ready: Callable[[], bool]
    env: Mapping[str, str] = field(default_factory=dict)
    cwd: Path | None = None
    ready_timeout_s: float = 60.0
    stop_timeout_s: float = STOP_GRACE_S
    """Seconds after SIGTERM before SIGKILL; the PID file keeps it, so ``stop`` needs no spec."""


@dataclass(frozen=True)
class PidRecord:
    name: str
    pid: int
    start_ticks: int
    argv: list[str]
    stop_timeout_s: float = STOP_GRACE_S  # PID files written before it was recorded

    def alive(self) -> bool:
        """True if the PID still runs *and* is the very process we started."""
        return _start_ticks(self.pid) == self.start_ticks


def _start_ticks(pid: int) -> int | None:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    fields = stat.rpartition(")")[2].split()
    if fields[0] == "Z":  # a zombie is dead for our purposes
        return None
    return int(fields[19])  # field 22 of stat: start time in clock ticks since boot


class ProcessManager:
    """Owns the PID files under ``run_dir``; one file per service name."""

    def __init__(self, run_dir: Path) -> None:
        self.run_dir = run_dir

    def pid_file(self, name: str) -> Path:
        return self.run_dir / f"{name}.pid"

    def log_file(self, name: str) -> Path:
        return self.run_dir / f"{name}.log"

    def record(self, name: str) -> PidRecord | None:
        path = self.pid_file(name)
        try:
            data = json.loads(path.read_text())
            return PidRecord(**data)
        except (OSError, ValueError, TypeError):
            return None

    def running(self, name: str) -> PidRecord | None:
        rec = self.record(name)
        return rec if rec is not None and rec.alive() else None

    def start(self, spec: ProcessSpec) -> tuple[PidRecord, bool]:
        """Start ``spec`` unless our copy already runs; returns (record, started_now)."""
        if (rec := self.running(spec.name)) is not None:
            return rec, False
        self.run_dir.mkdir(parents=True, exist_ok=True)
        self.pid_file(spec.name).unlink(missing_ok=True)  # stale
        log = open(self.log_file(spec.name), "ab")  # noqa: SIM115 - handed to the child
        try:
            proc = subprocess.Popen(
                spec.argv,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                cwd=spec.cwd,
                env={**os.environ, **spec.env},
                start_new_session=True,
            )
        except OSError as exc:
            raise ServiceError(f"{spec.name}: cannot start {spec.argv[0]}: {exc}") from exc
        finally:
            log.close()
        ticks = _start_ticks(proc.pid) or 0
        rec = PidRecord(spec.name, proc.pid, ticks, list(spec.argv), spec.stop_timeout_s)
        self.pid_file(spec.name).write_text(json.dumps(rec.__dict__))
        deadline = time.monotonic() + spec.ready_timeout_s
        while time.monotonic() < deadline:
            if proc.poll() is not None:
                self.pid_file(spec.name).unlink(missing_ok=True)
                raise ServiceError(
                    f"{spec.name} exited with code {proc.returncode} while starting; "
                    f"see {self.log_file(spec.name)}: {self._log_tail(spec.name)}"
                )
            if spec.ready():
                return rec, True
            time.sleep(0.1)  # polling a readiness probe, not synchronising on time
        self.stop(spec.name, timeout_s=spec.stop_timeout_s)
        raise ServiceError(
            f"{spec.name} was not ready after {spec.ready_timeout_s:.0f}s; see {self.log_file(spec.name)}"
        )

    def stop(self, name: str, timeout_s: float | None = None) -> bool:
        """Stop our process group for ``name`` (SIGTERM; SIGKILL after ``timeout_s``, by default
        its spec's ``stop_timeout_s``); False if nothing of ours was running."""
        rec = self.record(name)
        if rec is None:
            return False
        was_running = rec.alive()
        if was_running:
            self._signal_group(rec, signal.SIGTERM)
            deadline = time.monotonic() + (rec.stop_timeout_s if timeout_s is None else timeout_s)
            while rec.alive() and time.monotonic() < deadline:
                time.sleep(0.05)
            if rec.alive():
                self._signal_group(rec, signal.SIGKILL)
        self._reap(rec.pid)
        self.pid_file(name).unlink(missing_ok=True)
        return was_running

    @staticmethod
    def _signal_group(rec: PidRecord, sig: signal.Signals) -> None:
        try:
            os.killpg(rec.pid, sig)  # the child leads its own session: pgid == pid
        except ProcessLookupError:
            pass
        except PermissionError:
            os.kill(rec.pid, sig)

    @staticmethod
    def _reap(pid: int) -> None:
        with contextlib.suppress(ChildProcessError):
            os.waitpid(pid, os.WNOHANG)

    def _log_tail(self, name: str, lines: int = 3) -> str:
        try:
            text = self.log_file(name).read_text(errors="replace")
        except OSError:
            return ""
        return " | ".join(text.strip().splitlines()[-lines:])
