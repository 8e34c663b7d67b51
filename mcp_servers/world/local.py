"""The local stand-ins for Cosmos (named so everywhere they appear):

* predict — a kinematic rollout of the planned path at the robot's speed, with first-person
  frames rendered from the map along it;
* transfer — pass-through (the frames stay synthetic);
* reason — a geometric critic: clearance along the rollout, collisions, unknown space, geofence.
"""

from __future__ import annotations

import base64
import itertools
import math

from auraison.agentops.guardrails import inside
from auraison.geometry.grid import UNKNOWN, World
from auraison.geometry.planner import Costmap
from auraison.geometry.pose import heading
from auraison.geometry.raycast import camera_jpeg

from .models import Check, Frame, Prediction, TrajectoryPoint, Verdict

ROBOT_RADIUS = 0.105
BACKEND = "local (stand-in)"


def rollout(path: list[tuple[float, float]], speed: float, dt: float = 0.5) -> list[TrajectoryPoint]:
    """Where the robot will be every ``dt`` seconds following ``path`` at ``speed``."""
    if len(path) < 2:
        x, y = path[0] if path else (0.0, 0.0)
        return [TrajectoryPoint(t=0.0, x=x, y=y, yaw=0.0)]
    out, t, carry = [], 0.0, 0.0
    step = speed * dt
    for (x0, y0), (x1, y1) in itertools.pairwise(path):
        seg = math.dist((x0, y0), (x1, y1))
        yaw = heading((x0, y0), (x1, y1))
        s = carry
        while s <= seg:
            f = s / seg if seg else 0.0
            out.append(TrajectoryPoint(t=round(t, 3), x=x0 + f * (x1 - x0), y=y0 + f * (y1 - y0), yaw=yaw))
            t += dt
            s += step
        carry = s - seg
    last = path[-1]
    out.append(TrajectoryPoint(t=round(t, 3), x=last[0], y=last[1], yaw=out[-1].yaw))
    return out


def predict(world: World, path: list[tuple[float, float]], speed: float, n_frames: int = 4) -> Prediction:
    traj = rollout(path, speed)
    picks = [traj[round(i * (len(traj) - 1) / max(n_frames - 1, 1))] for i in range(min(n_frames, len(traj)))]
    frames = [
        Frame(t=p.t, data=base64.b64encode(camera_jpeg(world, p.x, p.y, p.yaw)).decode()) for p in picks
    ]
    return Prediction(trajectory=traj, frames=frames, backend=BACKEND, stand_in=True)


def transfer(frames: list[Frame]) -> list[Frame]:
    return [f.model_copy() for f in frames]  # pass-through: still synthetic


def critic(
    world: World,
    costmap: Costmap,
    trajectory: list[TrajectoryPoint],
    min_clearance: float,
    geofence: list[tuple[float, float]] | None = None,
) -> Verdict:
    """Geometry says go / no_go / uncertain; the first failing check explains why."""
    clearances = [(costmap.clearance_at(p.x, p.y), p) for p in trajectory]
    worst, at = min(clearances, key=lambda c: c[0])
    checks = [
        Check(
            name="collision",
            ok=worst >= ROBOT_RADIUS,
            detail=f"closest approach {worst:.2f} m at ({at.x:.2f}, {at.y:.2f}); "
            f"robot radius {ROBOT_RADIUS} m",
        ),
        Check(
            name="clearance",
            ok=worst >= min_clearance,
            detail=f"minimum clearance {worst:.2f} m (wanted ≥ {min_clearance:.2f} m)",
        ),
        Check(
            name="known_space",
            ok=not any(_cell(world, p.x, p.y) == UNKNOWN for p in trajectory),
            detail="the rollout stays in mapped space",
        ),
    ]
    if geofence:
        outside = [p for p in trajectory if not inside(p.x, p.y, geofence)]
        checks.append(
            Check(
                name="geofence",
                ok=not outside,
                detail=f"{len(outside)} rollout points outside the geofence"
                if outside
                else "inside the geofence",
            )
        )
    failed = [c for c in checks if not c.ok]
    if any(c.name in ("collision", "known_space", "geofence") for c in failed):
        verdict, conf = "no_go", 0.95
    elif failed:
        verdict, conf = "no_go", min(0.9, 0.5 + (min_clearance - worst) / min_clearance)
    else:
        verdict, conf = "go", min(0.95, 0.6 + (worst - min_clearance))
    rationale = "; ".join(c.detail for c in failed) if failed else f"clear path: {checks[1].detail}"
    return Verdict(
        verdict=verdict,
        rationale=rationale,
        confidence=round(max(conf, 0.0), 2),
        checks=checks,
        backend=BACKEND,
        stand_in=True,
    )


def _cell(world: World, x: float, y: float) -> int:
    ix, iy = world.to_cell(x, y)
    if 0 <= ix < world.width and 0 <= iy < world.height:
        return int(world.grid[iy, ix])
    return UNKNOWN  # outside the map counts as unknown space
