"""Predict → Transfer → Reason → Execute, with a behaviour-tree-like fallback.

``navigate_safely`` tries candidates in order until one gets a ``go``:

1. the Nav2 plan to the goal;
2. a re-plan with a larger clearance;
3. an alternative route through a waypoint (the named place whose detour is shortest);
4. escalate: ask a human (the outcome says ``needs_approval`` and nothing moves).

A candidate other than the first is executed as a sequence of Nav2 goals along its corners, so
the robot follows the route that was judged, not whatever Nav2 would pick. An unreachable goal
is refused before any prediction, with zero motion. Every step is recorded in the outcome.
"""

from __future__ import annotations

import itertools
import math
from typing import Literal

import numpy as np
from pydantic import BaseModel

from auraison.geometry.pose import heading
from auraison.mcp_servers.world.backend import WorldModel
from auraison.mcp_servers.world.models import Verdict

from .models import NavOutcome, Pose
from .service import Progress, RobotService

EXTRA_CLEARANCE = 0.15
QUESTION = (
    "The robot will follow the shown trajectory through a maze. Is it safe to execute "
    "without touching walls or entering unknown space?"
)


class Step(BaseModel):
    candidate: str
    stage: Literal["plan", "predict", "transfer", "reason", "execute", "escalate"]
    ok: bool
    detail: str


class SafeNavOutcome(BaseModel):
    status: Literal["succeeded", "aborted", "canceled", "refused", "timeout", "needs_approval"]
    chosen: str | None
    steps: list[Step]
    verdict: Verdict | None = None
    navigation: NavOutcome | None = None


async def navigate_safely(
    robot: RobotService,
    world_model: WorldModel,
    goal: Pose,
    progress: Progress | None = None,
    geofence: list[tuple[float, float]] | None = None,
) -> SafeNavOutcome:
    world = await robot.world()
    if geofence and _fence_holds_map(world, geofence):
        geofence = None  # no route through this map can leave it: nothing to check
    start = (await robot.pose())[0]
    max_v, _ = await robot.limits()
    steps: list[Step] = []
    last_verdict: Verdict | None = None
    for name, route in await _candidates(robot, world, start, goal):
        if route is None:
            steps.append(Step(candidate=name, stage="plan", ok=False, detail="no such route"))
            continue
        path = route
        steps.append(
            Step(candidate=name, stage="plan", ok=True, detail=f"{_length(path):.1f} m, {len(path)} corners")
        )
        costmap = robot.planner(world, 0.0).costmap
        dense = _densify(path)
        prediction = await world_model.predict(world, dense, 0.8 * max_v)
        steps.append(
            Step(
                candidate=name,
                stage="predict",
                ok=True,
                detail=f"{len(prediction.trajectory)} poses, {len(prediction.frames)} frames by "
                f"{prediction.backend}",
            )
        )
        frames = await world_model.transfer(prediction.frames)
        kind = "synthetic" if frames and frames[0].synthetic else "photoreal"
        steps.append(
            Step(
                candidate=name,
                stage="transfer",
                ok=True,
                detail=f"{len(frames)} frames ({kind})",
            )
        )
        verdict = await world_model.assess(world, costmap, prediction, frames, QUESTION, geofence)
        last_verdict = verdict
        steps.append(
            Step(
                candidate=name,
                stage="reason",
                ok=verdict.verdict == "go",
                detail=f"{verdict.verdict} ({verdict.confidence:.2f}): {verdict.rationale}",
            )
        )
        if verdict.verdict != "go":
            continue
        outcome = await _execute(robot, name, path, goal, progress)
        steps.append(
            Step(
                candidate=name,
                stage="execute",
                ok=outcome.status == "succeeded",
                detail=f"{outcome.status}: {outcome.distance_travelled_m} m in {outcome.duration_s} s",
            )
        )
        return SafeNavOutcome(
            status=outcome.status, chosen=name, steps=steps, verdict=verdict, navigation=outcome
        )
    if not any(s.stage == "plan" and s.ok for s in steps):
        return SafeNavOutcome(status="refused", chosen=None, steps=steps)
    steps.append(
        Step(
            candidate="human",
            stage="escalate",
            ok=False,
            detail="every candidate was judged unsafe: ask a human to approve or choose another goal",
        )
    )
    return SafeNavOutcome(status="needs_approval", chosen=None, steps=steps, verdict=last_verdict)


async def _candidates(robot: RobotService, world, start: Pose, goal: Pose):
    out = []
    base = robot.planner(world, 0.0).plan((start.x, start.y), (goal.x, goal.y))
    if not base.ok:  # unreachable for Nav2 itself: refuse, nothing else can help
        return [("nav2 plan", None)]
    out.append(("nav2 plan", base.corners))
    wide = robot.planner(world, EXTRA_CLEARANCE).plan((start.x, start.y), (goal.x, goal.y))
    out.append(
        (
            f"re-plan with +{EXTRA_CLEARANCE:.2f} m clearance",
            wide.corners if wide.ok else None,
        )
    )
    via = _via_place(robot, world, start, goal)
    out.append((f"via {via[0]}" if via else "via a place", via[1] if via else None))
    return out


def _via_place(robot: RobotService, world, start: Pose, goal: Pose):
    planner = robot.planner(world, EXTRA_CLEARANCE)
    best = None
    for name, (px, py, _) in robot.places.items():
        if math.dist((px, py), (goal.x, goal.y)) < 0.3 or math.dist((px, py), (start.x, start.y)) < 0.3:
            continue
        a = planner.plan((start.x, start.y), (px, py))
        b = robot.planner(world, 0.0).plan((px, py), (goal.x, goal.y))
        if a.ok and b.ok and (best is None or a.length + b.length < best[2]):
            best = (name, a.corners + b.corners[1:], a.length + b.length)
    return (best[0], best[1]) if best else None


async def _execute(
    robot: RobotService, name: str, corners: list[tuple[float, float]], goal: Pose, progress: Progress | None
) -> NavOutcome:
    if name == "nav2 plan":
        return await robot.navigate(goal, progress)
    async with robot.lease.hold(f"navigate_safely via {name}"):  # one lease for the whole route
        return await _follow_route(robot, corners, goal, progress)


async def _follow_route(
    robot: RobotService, corners: list[tuple[float, float]], goal: Pose, progress: Progress | None
) -> NavOutcome:
    hops = [
        Pose(x=x, y=y, yaw=heading((x, y), corners[i + 1])) for i, (x, y) in enumerate(corners[1:-1], start=1)
    ]
    travelled, duration, outcome = 0.0, 0.0, None
    for hop in [*hops, goal]:
        outcome = await robot.navigate(hop, progress)
        travelled += outcome.distance_travelled_m
        duration += outcome.duration_s
        if outcome.status != "succeeded":
            break
    assert outcome is not None
    reached = (
        outcome.status == "succeeded"
        and math.dist((outcome.final_pose.x, outcome.final_pose.y), (goal.x, goal.y)) <= 0.25
    )
    return outcome.model_copy(
        update={
            "goal": goal,
            "distance_travelled_m": round(travelled, 2),
            "duration_s": round(duration, 2),
            "reached": reached,
        }
    )


def _fence_holds_map(world, fence: list[tuple[float, float]]) -> bool:
    """True if every free cell's corners lie inside the fence (routes only cross free cells)."""
    from auraison.agentops.guardrails import inside
    from auraison.geometry.grid import FREE

    res, (ox, oy) = world.resolution, world.origin
    iys, ixs = np.nonzero(world.grid == FREE)
    corners = {
        (ix + dx, iy + dy)
        for ix, iy in zip(ixs.tolist(), iys.tolist(), strict=True)
        for dx in (0, 1)
        for dy in (0, 1)
    }
    return all(inside(ox + cx * res, oy + cy * res, fence) for cx, cy in corners)


def _length(path: list[tuple[float, float]]) -> float:
    return sum(math.dist(a, b) for a, b in itertools.pairwise(path))


def _densify(path: list[tuple[float, float]]) -> list[tuple[float, float]]:
    from auraison.geometry.planner import densify

    return densify(path, 0.05) if len(path) > 1 else path
