"""P7 — navigation quality: per world, random reachable goals and unreachable ones, sent
through the rosbridge ``/navigate_to_pose`` action exactly as a client would.

Run: ``python -m auraison.bench.nav_p7 [--reachable 20] [--unreachable 10] [--speed 50]``.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import math
import random
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from websockets.asyncio.client import connect

from auraison.geometry.worldfile import BUILTIN, load_world
from auraison.sim.bridge import RosbridgeServer
from auraison.sim.engine import ACTION, ACTION_TYPE, SimConfig, Simulation
from auraison.sim.navigator import GoalStatus

from ._common import machine, report


def pick_goals(sim: Simulation, rng: random.Random, n_ok: int, n_bad: int) -> list[tuple[float, float, bool]]:
    w = sim.world
    free = [
        (ix, iy)
        for iy in range(w.height)
        for ix in range(w.width)
        if sim.costmap.is_free(*w.cell_center(ix, iy))
    ]
    walls = [(ix, iy) for iy in range(w.height) for ix in range(w.width) if w.grid[iy, ix] != 0]
    goals = [(*w.cell_center(*rng.choice(free)), True) for _ in range(n_ok)]
    wm, hm = w.size_m
    for i in range(n_bad):
        if i % 2:
            goals.append((*w.cell_center(*rng.choice(walls)), False))  # inside a wall
        else:  # outside the map, on any side
            goals.append((rng.choice([-2.0, wm + 2.0]), rng.uniform(-2, hm + 2), False))
    rng.shuffle(goals)
    return goals


@asynccontextmanager
async def served(name: str, speed: float, seed: int) -> AsyncIterator[tuple[Simulation, RosbridgeServer]]:
    sim = Simulation(load_world(name), SimConfig(seed=seed))
    server = RosbridgeServer(sim, "127.0.0.1", 0, speed)
    await server.start()
    try:
        yield sim, server
    finally:
        await server.stop()


def tally(stats: dict[str, float], ok: bool, reached: bool, refused: bool, moved: bool) -> None:
    if ok:
        stats["reachable"] += 1
        stats["reached"] += reached
    else:
        stats["unreachable"] += 1
        stats["refused"] += refused
        stats["moved_on_refusal"] += refused and moved


def new_stats() -> dict[str, float]:
    return dict.fromkeys(("reached", "reachable", "refused", "unreachable", "moved_on_refusal", "sim_s"), 0)


async def run_world_via_robot(name: str, n_ok: int, n_bad: int, speed: float, seed: int) -> dict[str, float]:
    """The same goals through the robot MCP server's ``navigate_to`` tool (an in-memory client)."""
    import tempfile

    from fastmcp import Client

    from auraison.mcp_servers.robot.server import build_server
    from auraison.runtime import Runtime
    from auraison.settings import Settings

    stats, rng = new_stats(), random.Random(seed)
    async with served(name, speed, seed) as (sim, server):
        settings = Settings(home=tempfile.mkdtemp(), robot={"rosbridge_url": server.url, "world": name})
        async with Runtime(settings) as rt, Client(build_server(rt)) as c:
            for x, y, ok in pick_goals(sim, rng, n_ok, n_bad):
                odometer, t0 = sim.robot.distance, sim.t
                res = await c.call_tool(
                    "navigate_to", {"x": round(x, 3), "y": round(y, 3)}, raise_on_error=False, timeout=600
                )
                stats["sim_s"] += sim.t - t0
                out = res.structured_content or {}
                tally(
                    stats,
                    ok,
                    out.get("status") == "succeeded" and bool(out.get("reached")),
                    res.is_error or out.get("status") == "refused",
                    sim.robot.distance != odometer,
                )
    return stats


async def run_world(name: str, n_ok: int, n_bad: int, speed: float, seed: int) -> dict[str, float]:
    """Goals as raw rosbridge ``send_action_goal`` frames, as any ROS client sends them."""
    stats, rng = new_stats(), random.Random(seed)
    async with served(name, speed, seed) as (sim, server), connect(server.url, max_size=None) as ws:
        for i, (x, y, ok) in enumerate(pick_goals(sim, rng, n_ok, n_bad)):
            odometer, t0 = sim.robot.distance, sim.t
            goal = {
                "header": {"frame_id": "map"},
                "pose": {"position": {"x": x, "y": y}, "orientation": {"w": 1.0}},
            }
            await ws.send(
                json.dumps(
                    {
                        "op": "send_action_goal",
                        "id": f"p7-{i}",
                        "action": ACTION,
                        "action_type": ACTION_TYPE,
                        "args": {"pose": goal},
                    }
                )
            )
            while True:
                frame = json.loads(await asyncio.wait_for(ws.recv(), 300))
                if frame["op"] == "action_result" and frame["id"] == f"p7-{i}":
                    break
            status = GoalStatus(frame["status"])
            stats["sim_s"] += sim.t - t0
            near = math.dist((sim.robot.x, sim.robot.y), (x, y)) <= 0.25
            tally(
                stats,
                ok,
                status is GoalStatus.SUCCEEDED and near,
                status is GoalStatus.ABORTED,
                sim.robot.distance != odometer,
            )
    return stats


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--reachable", type=int, default=20)
    ap.add_argument("--unreachable", type=int, default=10)
    ap.add_argument("--speed", type=float, default=50.0)
    ap.add_argument("--seed", type=int, default=7)
    ap.add_argument(
        "--through",
        choices=["action", "robot"],
        default="action",
        help="send goals as raw rosbridge actions, or through the robot server's navigate_to",
    )
    args = ap.parse_args()
    run = run_world if args.through == "action" else run_world_via_robot
    print(
        f"P7 navigation benchmark — {machine()}; {args.speed:g}× real time, seed {args.seed}, "
        f"through {'the /navigate_to_pose action' if args.through == 'action' else 'robot navigate_to'}"
    )
    total_ok = total_reach = total_ref = total_bad = 0
    for name in BUILTIN:
        t0 = time.perf_counter()
        s = asyncio.run(run(name, args.reachable, args.unreachable, args.speed, args.seed))
        wall = time.perf_counter() - t0
        total_ok += s["reached"]
        total_reach += s["reachable"]
        total_ref += s["refused"] - s["moved_on_refusal"]
        total_bad += s["unreachable"]
        report(
            f"{name}: reachable goals reached",
            f"{s['reached']}/{s['reachable']}",
            "≥ 95%",
            f"{s['sim_s'] / wall:.0f}× real time over {s['sim_s']:.0f} sim s",
        )
        report(
            f"{name}: unreachable refused before motion",
            f"{s['refused'] - s['moved_on_refusal']}/{s['unreachable']}",
            "100%",
        )
    report("all worlds: reached", f"{100 * total_ok / total_reach:.1f}%", "≥ 95%")
    report("all worlds: refused before any motion", f"{100 * total_ref / total_bad:.1f}%", "100%")


if __name__ == "__main__":
    main()
