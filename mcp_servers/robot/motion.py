"""The drive loop: a velocity held for a time, every command first judged by the collision monitor.

The loop talks to the robot through a small port (a clock, a publish, a wait) so the same code
runs against rosbridge in ``RobotService.drive`` and against the simulator's physics stepped in
lockstep by the collision benchmark (``bench/robot_s1.py``): what the benchmark counts is what the
tool does.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

from .collision import CollisionMonitor

SCAN_WAIT_S = 2.0  # at most this long (loop clock) for a first scan before a move is refused


class DrivePort(Protocol):
    def now(self) -> float:
        """The loop's clock (seconds; wall time for a real robot)."""

    async def publish(self, v: float, w: float) -> None:
        """Send one velocity command."""

    async def wait(self, seconds: float) -> bool:
        """Let ``seconds`` pass; True if an e-stop cut the wait short."""


@dataclass
class DriveRun:
    stopped_early: bool = False
    stop_reason: str | None = None  # "estop" | "obstacle" | "no_scan"
    stop_detail: str = ""
    obstacle_m: float | None = None
    min_scale: float = 1.0
    duration_s: float = 0.0


async def governed_drive(
    port: DrivePort, monitor: CollisionMonitor, v: float, w: float, duration: float, rate_hz: float = 10.0
) -> DriveRun:
    """Hold (v, w) for ``duration``, re-judging it each period; return how it ended.

    The caller halts the robot afterwards (always, also on cancellation)."""
    run = DriveRun()
    t0 = port.now()
    while monitor.zones.enabled and v != 0 and monitor.points_now() is None and port.now() - t0 < SCAN_WAIT_S:
        if await port.wait(0.02):  # the first scan is at most one scan period away
            run.stopped_early, run.stop_reason, run.stop_detail = True, "estop", "e-stop"
            return run
    t0 = port.now()
    last_stamp: float | None = None
    while (left := duration - (port.now() - t0)) > 1e-6:
        # The period as the robot lives it (a sim run faster than real time lives longer ones):
        # the last one measured by odometry, or the nominal one at the robot's clock rate.
        latest = monitor.latest
        period = monitor.time_ratio() / rate_hz
        if latest is not None and last_stamp is not None:
            period = max(period, latest.stamp - last_stamp)
        last_stamp = latest.stamp if latest is not None else None
        decision = monitor.check(v, w, period)
        if decision.stop:
            run.stopped_early = True
            run.stop_reason = "obstacle" if decision.free_m is not None else "no_scan"
            run.stop_detail = decision.reason
            run.obstacle_m = decision.free_m
            break
        run.min_scale = min(run.min_scale, decision.scale)
        await port.publish(v * decision.scale, w * decision.scale)
        if await port.wait(min(1 / rate_hz, left)):
            run.stopped_early, run.stop_reason, run.stop_detail = True, "estop", "e-stop"
            break
    run.duration_s = port.now() - t0
    return run
