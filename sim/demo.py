"""A self-contained demo: serve a world, drive the robot to a named place over rosbridge
(as any client would: ``send_action_goal`` with feedback), then draw the driven path."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from websockets.asyncio.client import connect

from auraison.geometry.grid import World
from auraison.geometry.render import render, save_png

from .bridge import RosbridgeServer
from .engine import ACTION, ACTION_TYPE, SimConfig, Simulation
from .navigator import GoalStatus


@dataclass
class DemoResult:
    status: GoalStatus
    error_msg: str
    sim_seconds: float
    distance_m: float
    png: Path
    trajectory: Path


async def drive_to(
    world: World, place: str, out_dir: Path, speed: float = 8.0, say: Callable[[str], None] = print
) -> DemoResult:
    if place not in world.places:
        raise KeyError(f"{world.name} has no place {place!r}; try one of {sorted(world.places)}")
    sim = Simulation(world, SimConfig(seed=0))
    server = RosbridgeServer(sim, "127.0.0.1", 0, speed)
    await server.start()
    try:
        x, y, _ = world.places[place]
        say(f"simulator on {server.url} ({speed:g}× real time); to {place} ({x:g}, {y:g})")
        goal = {
            "op": "send_action_goal",
            "id": f"demo-{place}",
            "action": ACTION,
            "action_type": ACTION_TYPE,
            "feedback": True,
            "args": {
                "pose": {
                    "header": {"frame_id": "map"},
                    "pose": {"position": {"x": x, "y": y}, "orientation": {"z": 0.0, "w": 1.0}},
                }
            },
        }
        async with connect(server.url) as ws:
            await ws.send(json.dumps(goal))
            last = -1.0
            async for raw in ws:
                frame = json.loads(raw)
                if frame["op"] == "action_feedback":
                    rem = frame["values"]["distance_remaining"]
                    if last < 0 or last - rem >= 1.0:
                        last = rem
                        say(f"  {rem:5.1f} m to go")
                elif frame["op"] == "action_result":
                    break
        status = GoalStatus(frame["status"])
        values = frame["values"] if isinstance(frame["values"], dict) else {}
        traj, png = await asyncio.to_thread(_write_outputs, world, place, sim, out_dir)
        return DemoResult(status, values.get("error_msg", ""), sim.t, sim.robot.distance, png, traj)
    finally:
        await server.stop()


def _write_outputs(world: World, place: str, sim: Simulation, out_dir: Path) -> tuple[Path, Path]:
    out_dir.mkdir(parents=True, exist_ok=True)
    traj = out_dir / f"{world.name}-{place}.json"
    traj.write_text(json.dumps([[round(px, 3), round(py, 3)] for px, py in sim.trail.points]))
    png = save_png(render(world, sim.trail.points), out_dir / f"{world.name}-{place}.png")
    return traj, png


def run_demo(world: World, place: str, out_dir: Path, speed: float = 8.0) -> DemoResult:
    return asyncio.run(drive_to(world, place, out_dir, speed))
