"""P5 — simulator: physics rate vs real time, rosapi round trip, planning on the largest maze.

Run: ``python -m auraison.bench.sim_p5`` (or ``make bench``). Each figure is printed with a
ratio against a baseline measured in the same run on the same machine.
"""

from __future__ import annotations

import asyncio
import json
import time

from scipy.sparse.csgraph import dijkstra
from websockets.asyncio.client import connect
from websockets.asyncio.server import serve

from auraison.geometry.worldfile import load_world
from auraison.sim.bridge import RosbridgeServer
from auraison.sim.engine import SimConfig, Simulation

from ._common import machine, pct, report


def physics_rate(sim_seconds: float = 300.0) -> tuple[float, float]:
    """Sim seconds per wall second: navigating (planner + controller + physics) and idle."""
    world = load_world("maze_large")
    sim = Simulation(world, SimConfig(seed=0, epoch=0))
    sim.navigate("bench", *world.places["kitchen"])
    t0 = time.perf_counter()
    while sim.t < sim_seconds:
        sim.step(0.1)
    nav = sim.t / (time.perf_counter() - t0)
    idle = Simulation(world, SimConfig(seed=0, epoch=0))
    t0 = time.perf_counter()
    while idle.t < sim_seconds:
        idle.step(0.1)
    return nav, idle.t / (time.perf_counter() - t0)


async def rosapi_roundtrip(n: int = 3000) -> tuple[list[float], list[float]]:
    """call_service /rosapi/topics on loopback vs a bare websockets echo server (baseline)."""
    sim = Simulation(load_world("maze_small"), SimConfig(seed=0))
    server = RosbridgeServer(sim, "127.0.0.1", 0)
    await server.start()

    async def echo(ws) -> None:
        async for msg in ws:
            await ws.send(msg)

    frame = json.dumps({"op": "call_service", "id": "b", "service": "/rosapi/topics", "args": {}})
    async with serve(echo, "127.0.0.1", 0, compression=None) as echo_server:
        echo_port = echo_server.sockets[0].getsockname()[1]
        out = []
        for url in (server.url, f"ws://127.0.0.1:{echo_port}"):
            times = []
            async with connect(url, compression=None) as ws:
                for i in range(n + 200):
                    t0 = time.perf_counter()
                    await ws.send(frame)
                    await ws.recv()
                    if i >= 200:  # warm-up
                        times.append((time.perf_counter() - t0) * 1000)
            out.append(times)
    await server.stop()
    return out[0], out[1]


def planning(n: int = 50) -> tuple[list[float], list[float], float]:
    world = load_world("maze_large")
    sim = Simulation(world, SimConfig(seed=0, epoch=0))
    cm, planner = sim.costmap, sim.planner
    start, goal = world.places["dock"][:2], world.places["kitchen"][:2]
    plan_ms, raw_ms = [], []
    for _ in range(n):
        t0 = time.perf_counter()
        plan = planner.plan(start, goal)
        plan_ms.append((time.perf_counter() - t0) * 1000)
        sx, sy = cm.to_cell(*start)
        t0 = time.perf_counter()
        dijkstra(cm._graph, indices=sy * cm.shape[1] + sx, return_predecessors=True)
        raw_ms.append((time.perf_counter() - t0) * 1000)
    return plan_ms, raw_ms, plan.length


def main() -> None:
    print(f"P5 simulator benchmark — {machine()}")
    nav, idle = physics_rate()
    report(
        "physics, navigating on maze_large",
        f"{nav:,.0f}× real time",
        "≥ 20×",
        f"{nav / idle:.2f}× of idle stepping ({idle:,.0f}×)",
    )
    bridge, echo = asyncio.run(rosapi_roundtrip())
    report(
        "call_service /rosapi/topics round trip",
        f"p50 {pct(bridge, 50):.3f} ms, p99 {pct(bridge, 99):.3f} ms",
        "p50 ≤ 1 ms",
        f"{pct(bridge, 50) / pct(echo, 50):.2f}× bare websockets echo p50 ({pct(echo, 50):.3f} ms)",
    )
    plan_ms, raw_ms, length = planning()
    report(
        f"global plan dock→kitchen on maze_large ({length:.0f} m)",
        f"p50 {pct(plan_ms, 50):.1f} ms, p99 {pct(plan_ms, 99):.1f} ms",
        "≤ 50 ms",
        f"{pct(plan_ms, 50) / pct(raw_ms, 50):.1f}× the raw Dijkstra ({pct(raw_ms, 50):.2f} ms)",
    )


if __name__ == "__main__":
    main()
