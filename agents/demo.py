"""``auraison demo``: the whole stack on embedded defaults, no API key, no network.

Starts the maze simulator on a free loopback port, runs the navigator agent (the offline
stand-in model unless ANTHROPIC_API_KEY is set) through the gateway and AgentOps to a named
place, then writes a PNG of the maze with the driven path and points at the trace file.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from auraison.agentops.factory import trace_file
from auraison.settings import Settings
from auraison.sim.bridge import RosbridgeServer
from auraison.sim.engine import SimConfig, Simulation
from auraison.sim.render import render, save_png
from auraison.sim.world import load_world

from .runner import OnCall, OnProgress, RunResult, run


@dataclass
class DemoResult:
    run: RunResult
    png: Path
    trace_file: Path
    sim_url: str
    distance_m: float


async def demo(
    settings: Settings,
    place: str = "kitchen",
    world: str = "maze_small",
    speed: float = 8.0,
    out_dir: Path = Path("out"),
    on_call: OnCall | None = None,
    on_progress: OnProgress | None = None,
) -> DemoResult:
    w = load_world(world)
    sim = Simulation(w, SimConfig(seed=0))
    server = RosbridgeServer(sim, "127.0.0.1", 0, speed)
    await server.start()
    try:
        robot = settings.robot.model_copy(update={"rosbridge_url": server.url, "world": world})
        s = settings.model_copy(update={"robot": robot})
        result = await run(
            "navigator", f"Please go to the {place}.", settings=s, on_call=on_call, on_progress=on_progress
        )
    finally:
        await server.stop()
    png = save_png(
        render(w, sim.trail.points, title=f"auraison demo: {world} → {place}"),
        out_dir / f"demo-{world}-{place}.png",
    )
    return DemoResult(result, png, trace_file(s), server.url, round(sim.robot.distance, 2))
