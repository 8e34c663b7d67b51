"""Episodes for synthetic data: the simulator's physics and Nav2 stand-in driving to a goal in
a procedurally generated maze, with first-person frames and labels (pose, action, outcome).

Why in process and not over rosbridge: an episode is the simulation stepped as fast as the CPU
allows (hundreds of times real time), the same physics, planner and camera the rosbridge robot
has. ``auraison/sdg.py`` fans episodes out over Ray workers and writes the versioned lake
dataset; this module holds one episode and, like the rest of the simulator, nothing of
Auraison but ``geometry``.
"""

from __future__ import annotations

import io
import math
from dataclasses import dataclass, field
from typing import Any

from PIL import Image

from auraison.geometry.grid import World
from auraison.geometry.raycast import camera_pixels
from auraison.geometry.worldfile import maze_world

from .engine import SimConfig, Simulation


@dataclass(frozen=True)
class EpisodeSpec:
    """One episode: the maze is ``maze_world(world_seed, cells, cells, corridor)``; everything
    is seeded. Corridors of 4 cells (1 m) as in the built-in mazes: the burger's inflated
    footprint does not fit narrower ones."""

    dataset: str
    index: int
    world_seed: int
    cells: int = 3
    corridor: int = 4
    frame_dt_s: float = 0.5
    """Sim seconds between frames (labels are taken with each frame)."""
    max_s: float = 120.0
    """Sim seconds before an episode that has not ended is labelled ``timeout``."""
    width: int = 96
    height: int = 72

    @property
    def episode_id(self) -> str:
        return f"{self.dataset}-{self.index:06d}"


@dataclass
class Episode:
    spec: EpisodeSpec
    world: World
    outcome: str
    duration_s: float
    distance_m: float
    frames: list[dict[str, Any]] = field(default_factory=list)
    """Rows: step, t_s, x, y, yaw (pose), v, w (the commanded action), png (bytes)."""

    def row(self) -> dict[str, Any]:
        sx, sy, _ = self.world.start
        gx, gy, _ = self.world.places["goal"]
        return {
            "dataset": self.spec.dataset,
            "episode_id": self.spec.episode_id,
            "world": self.world.name,
            "world_seed": self.spec.world_seed,
            "start_x": sx,
            "start_y": sy,
            "goal_x": gx,
            "goal_y": gy,
            "outcome": self.outcome,
            "steps": len(self.frames),
            "duration_s": round(self.duration_s, 3),
            "distance_m": round(self.distance_m, 3),
        }


def png(pixels: Any) -> bytes:
    buf = io.BytesIO()
    Image.fromarray(pixels).save(buf, format="PNG", optimize=False, compress_level=1)
    return buf.getvalue()


def run_episode(spec: EpisodeSpec) -> Episode:
    """Drive to the maze's goal under the Nav2 stand-in; a frame and its labels every
    ``frame_dt_s`` of sim time. The action label is what the controller commanded (/cmd_vel)."""
    world = maze_world(spec.world_seed, spec.cells, spec.cells, spec.corridor)
    sim = Simulation(world, SimConfig(seed=spec.world_seed, epoch=0.0))
    action = [0.0, 0.0]

    def on_event(topic: str, msg: dict[str, Any]) -> None:
        if topic == "/cmd_vel":
            action[:] = [msg["linear"]["x"], msg["angular"]["z"]]

    sim.events.publish = on_event
    gx, gy, _ = world.places["goal"]
    goal = sim.navigate(spec.episode_id, gx, gy, 0.0)
    frames: list[dict[str, Any]] = []
    while True:
        r = sim.robot
        frames.append({
            "step": len(frames), "t_s": round(sim.t, 3), "x": r.x, "y": r.y, "yaw": r.yaw,
            "v": action[0], "w": action[1],
            "png": png(camera_pixels(world, r.x, r.y, r.yaw, spec.width, spec.height)),
        })  # fmt: skip
        if goal.status.terminal or sim.t >= spec.max_s:
            break
        sim.step(spec.frame_dt_s)
    outcome = goal.status.name.lower() if sim.t < spec.max_s else "timeout"
    if outcome == "succeeded" and math.hypot(sim.robot.x - gx, sim.robot.y - gy) > 0.5:
        outcome = "aborted"  # the navigator said so, but the robot is not there
    return Episode(spec, world, outcome, sim.t, sim.robot.distance, frames)
