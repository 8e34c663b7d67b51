"""S1 — the collision monitor under random drives: contacts, and how far from walls it stops.

Each case puts the robot at a random free pose (random heading) in one of the built-in mazes
and runs a random sequence of drive commands (forward, backward, arcs, rotations in place,
0.5-6 s each) through the robot plane's own drive loop (``motion.governed_drive``) and
collision monitor. The loop talks to the simulator's physics in lockstep instead of over
rosbridge, with the robot's real timing kept: commands every 0.1 s, odometry at 30 Hz, a
360-beam scan at 5 Hz with a random phase (so each judgement sees a scan 0-0.2 s old), the
sim's acceleration limits and cmd_vel watchdog. The same sequences run once more with the
monitor disabled: the baseline's contacts show what the monitor prevents.

Run: ``python -m auraison.bench.robot_s1 [--cases 510 --seed 1 --drives 3]``.
"""

from __future__ import annotations

import argparse
import asyncio
import math
import random
import time
from dataclasses import dataclass, field

import numpy as np

from auraison.geometry.grid import FREE, World
from auraison.geometry.worldfile import BUILTIN, load_world
from auraison.mcp_servers.robot.collision import CollisionMonitor, Zones
from auraison.mcp_servers.robot.motion import governed_drive
from auraison.sim.engine import SimConfig, Simulation
from auraison.sim.physics import ROBOT_RADIUS, RobotState

from ._common import machine, median, pct, report

TICK = 0.01  # s of sim time per physics step
ODOM_PERIOD, SCAN_PERIOD = 1 / 30, 1 / 5


class LockstepPort:
    """The drive loop's port onto a ``Simulation`` stepped by hand: sim time is the clock, and
    odometry and scans reach the monitor at the rates the rosbridge server publishes them."""

    def __init__(self, sim: Simulation, monitor: CollisionMonitor, rng: random.Random) -> None:
        self.sim, self.monitor = sim, monitor
        self.next_odom = sim.t
        self.next_scan = sim.t + rng.uniform(0, SCAN_PERIOD)
        self.min_gap = math.inf
        self._deliver()

    def now(self) -> float:
        return self.sim.t

    async def publish(self, v: float, w: float) -> None:
        self.sim.command_velocity(v, w)

    async def wait(self, seconds: float) -> bool:
        end = self.sim.t + seconds
        while end - self.sim.t > 1e-9:
            self.sim.step(min(TICK, end - self.sim.t))
            self._deliver()
        return False

    def _deliver(self) -> None:
        t = self.sim.t
        if t >= self.next_odom - 1e-9:
            self.next_odom += ODOM_PERIOD
            self.monitor.on_odom(self.sim.sample("/odom"), received=t)  # type: ignore[arg-type]
            r = self.sim.robot
            self.min_gap = min(self.min_gap, gap(self.sim.world, r.x, r.y))
        if t >= self.next_scan - 1e-9:
            self.next_scan += SCAN_PERIOD
            self.monitor.on_scan(self.sim.sample("/scan"))  # type: ignore[arg-type]


def gap(world: World, x: float, y: float, window: float = 0.6) -> float:
    """Exact distance from the footprint's edge to the nearest wall or unknown cell (or border)."""
    res, (ox, oy) = world.resolution, world.origin
    wm, hm = world.size_m
    border = min(x - ox, ox + wm - x, y - oy, oy + hm - y)
    x0, x1 = max(0, math.floor((x - window - ox) / res)), math.floor((x + window - ox) / res)
    y0, y1 = max(0, math.floor((y - window - oy) / res)), math.floor((y + window - oy) / res)
    iy, ix = np.nonzero(world.grid[y0 : y1 + 1, x0 : x1 + 1] != FREE)
    best = border
    if len(ix):
        cx0, cy0 = ox + (ix + x0) * res, oy + (iy + y0) * res
        dx = np.maximum(np.maximum(cx0 - x, 0), x - (cx0 + res))
        dy = np.maximum(np.maximum(cy0 - y, 0), y - (cy0 + res))
        best = min(best, float(np.sqrt(dx * dx + dy * dy).min()))
    return best - ROBOT_RADIUS


@dataclass
class Tally:
    cases: int = 0
    drives: int = 0
    contacts: int = 0
    cases_with_contact: int = 0
    obstacle_stops: int = 0
    slowed: int = 0
    blind_stops: int = 0
    stop_gaps: list[float] = field(default_factory=list)  # footprint-to-wall gap at rest after a stop
    min_gaps: list[float] = field(default_factory=list)  # closest approach per case
    sim_s: float = 0.0

    def add(self, other: Tally) -> None:
        for k, v in vars(other).items():
            setattr(self, k, getattr(self, k) + v)


def random_case(world: World, sim: Simulation, rng: random.Random, drives: int):
    wm, hm = world.size_m
    while True:
        x, y = world.origin[0] + rng.uniform(0, wm), world.origin[1] + rng.uniform(0, hm)
        if sim.costmap.is_free(x, y) and gap(world, x, y) > 0.03:
            break
    seq = []
    for _ in range(drives):
        v = 0.0 if rng.random() < 0.15 else rng.uniform(-0.3, 0.3)
        w = 0.0 if rng.random() < 0.4 else rng.uniform(-3.0, 3.0)
        seq.append((v, w, rng.uniform(0.5, 6.0)))
    return (x, y, rng.uniform(-math.pi, math.pi)), seq


async def run_case(
    sim: Simulation, pose: tuple[float, float, float], seq, zones: Zones, rng: random.Random
) -> Tally:
    """One case on ``sim``: place the robot, then each drive as ``RobotService.drive`` runs it."""
    sim.robot = RobotState(*pose)
    sim.cmd, sim.cmd_time = (0.0, 0.0), -math.inf
    monitor = CollisionMonitor(zones)
    port = LockstepPort(sim, monitor, rng)
    before, t0 = sim.robot.collisions, sim.t
    out = Tally(cases=1)
    max_v, max_w = sim.max_v(), sim.max_w()
    for v, w, duration in seq:
        v, w = max(-max_v, min(max_v, v)), max(-max_w, min(max_w, w))
        run = await governed_drive(port, monitor, v, w, duration)
        await port.publish(0.0, 0.0)  # the service's _halt
        out.drives += 1
        out.slowed += run.min_scale < 1.0
        if run.stop_reason == "obstacle":
            out.obstacle_stops += 1
            for _ in range(100):  # let it come to rest (bounded), then measure the gap
                if sim.robot.v == 0.0:
                    break
                await port.wait(TICK)
            out.stop_gaps.append(gap(sim.world, sim.robot.x, sim.robot.y))
        elif run.stop_reason == "no_scan":
            out.blind_stops += 1
        await port.wait(0.02)  # the tool's round trip before the next command
    await port.wait(0.5)  # coast out anything left
    out.contacts = sim.robot.collisions - before
    out.cases_with_contact = int(out.contacts > 0)
    out.min_gaps.append(port.min_gap)
    out.sim_s = sim.t - t0
    return out


async def run_cases(world_name: str, n: int, seed: int, drives: int, zones: Zones) -> Tally:
    world = load_world(world_name)
    sim = Simulation(world, SimConfig(seed=seed))
    rng = random.Random(f"{world_name}/{seed}")
    total = Tally()
    for _ in range(n):
        pose, seq = random_case(world, sim, rng, drives)
        total.add(await run_case(sim, pose, seq, zones, random.Random(rng.random())))
    return total


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--cases", type=int, default=510, help="in all, split over the three worlds")
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--drives", type=int, default=3, help="drive commands per case")
    ap.add_argument("--no-baseline", action="store_true", help="skip the monitor-disabled rerun")
    args = ap.parse_args()
    zones = Zones()
    print(
        f"S1 collision monitor — {machine()}; {args.cases} cases × {args.drives} drives, seed {args.seed}; "
        f"stop {zones.stop_m} m, slowdown {zones.slowdown_m} m beyond a {zones.footprint_m} m footprint"
    )
    per = [args.cases // len(BUILTIN) + (i < args.cases % len(BUILTIN)) for i in range(len(BUILTIN))]
    on, off = Tally(), Tally()
    t0 = time.perf_counter()
    for name, n in zip(BUILTIN, per, strict=True):
        t = asyncio.run(run_cases(name, n, args.seed, args.drives, zones))
        on.add(t)
        report(
            f"{name}: contacts with the monitor",
            f"{t.contacts} in {t.cases} cases ({t.drives} drives)",
            "0",
            f"{t.obstacle_stops} stopped early, {t.slowed} slowed",
        )
    wall = time.perf_counter() - t0
    if not args.no_baseline:
        for name, n in zip(BUILTIN, per, strict=True):
            off.add(asyncio.run(run_cases(name, n, args.seed, args.drives, Zones(enabled=False))))
    gaps = on.stop_gaps or [math.nan]
    report(
        "all worlds: contacts with the monitor",
        f"{on.contacts} in {on.cases} cases, {on.drives} drives",
        "0",
        f"baseline without it: {off.contacts} contacts in {off.cases_with_contact} cases"
        if not args.no_baseline
        else "",
    )
    report(
        "stopped early: gap footprint→wall at rest",
        f"{on.obstacle_stops} stops; min {min(gaps):.3f} m, p50 {median(gaps):.3f} m, "
        f"p95 {pct(gaps, 95):.3f} m",
    )
    report(
        "closest approach per case",
        f"min {min(on.min_gaps):.3f} m, p5 {pct(on.min_gaps, 5):.3f} m; "
        f"{on.blind_stops} stops for want of a scan",
    )
    report("simulated", f"{on.sim_s:.0f} sim s in {wall:.0f} s wall ({on.sim_s / wall:.0f}× real time)")


if __name__ == "__main__":
    main()
