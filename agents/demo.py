"""``auraison demo``: the whole stack on embedded defaults, no API key, no network.

Starts the maze simulator on a free loopback port, runs the navigator agent (the offline
stand-in model unless ANTHROPIC_API_KEY is set) through the gateway and AgentOps to a named
place, then writes a PNG of the maze with the driven path and points at the trace file. The demo
succeeds only if the simulated robot ends at the place (measured in the simulator, not taken
from the model's words): otherwise ``DemoFailed`` — so a CI step that runs it proves something.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

from auraison.agentops.factory import trace_file
from auraison.errors import AuraisonError, UserError
from auraison.geometry.render import render, save_png
from auraison.geometry.worldfile import load_world
from auraison.settings import Settings
from auraison.sim.bridge import RosbridgeServer
from auraison.sim.engine import SimConfig, Simulation

from .runner import OnCall, OnProgress, RunResult, run

ARRIVED_WITHIN_M = 0.5
"""How close to the named place the robot must end (Nav2's goal tolerance is 0.12 m)."""


@dataclass
class DemoResult:
    run: RunResult
    png: Path
    trace_file: Path
    sim_url: str
    distance_m: float
    off_by_m: float
    """Distance from where the robot ended to the named place."""


class DemoFailed(AuraisonError):
    """The robot did not reach the place; ``result`` still holds the run, the PNG and the trace."""

    def __init__(self, message: str, result: DemoResult) -> None:
        super().__init__(message)
        self.result = result


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
    if place not in w.places:
        raise UserError(f"no place {place!r} in {w.name}", f"choose from {', '.join(sorted(w.places))}")
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
    x, y, _ = w.places[place]
    off_by = math.hypot(sim.robot.x - x, sim.robot.y - y)
    res = DemoResult(result, png, trace_file(s), server.url, round(sim.robot.distance, 2), round(off_by, 2))
    if off_by > ARRIVED_WITHIN_M:
        first = result.output.strip().splitlines()[0] if result.output.strip() else "no answer"
        raise DemoFailed(
            f"the robot did not reach the {place}: it ended {off_by:.2f} m away "
            f"({res.distance_m} m driven; the agent said: {first}); map: {png}, trace id {result.trace_id}",
            res,
        )
    return res
