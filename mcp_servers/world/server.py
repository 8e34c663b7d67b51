"""The ``world`` MCP server: Cosmos predict / transfer / reason (``world_*`` on the gateway).

The ``local`` backend is a stand-in (kinematic rollout, pass-through transfer, geometric critic)
and says so in every answer (``stand_in: true``); ``openai`` and ``nim`` call real endpoints.
"""

from __future__ import annotations

import base64
import itertools
import math
from typing import TYPE_CHECKING, Annotated, Any

from fastmcp import FastMCP
from fastmcp.exceptions import ToolError
from fastmcp.utilities.types import Image
from mcp.types import ToolAnnotations
from pydantic import Field

from auraison.mcp_servers.robot.rosbridge import RobotUnavailable
from auraison.mcp_servers.toolcall import plane_tool, serve_tools

from .models import Frame, Verdict
from .remote import WorldBackendError

if TYPE_CHECKING:
    from auraison.runtime import Runtime

READ = ToolAnnotations(readOnlyHint=True, destructiveHint=False, openWorldHint=True)
Point = tuple[
    Annotated[float, Field(ge=-1000, le=1000, allow_inf_nan=False, strict=True)],
    Annotated[float, Field(ge=-1000, le=1000, allow_inf_nan=False, strict=True)],
]

MAX_PATH_M = 200.0
"""Ten times across the largest built-in maze. The rollout puts a point every ``speed × 0.5 s``
and runs on the event loop: an unbounded path (500 points ±1 km apart: 700 km), or a crawl of
1e-300 m/s, would stall the whole gateway — the e-stop included — and eat its memory. With
this bound and ``MIN_SPEED_MPS`` a rollout has at most 8000 points."""
MIN_SPEED_MPS = 0.05


def bounded(path: list[tuple[float, float]]) -> list[tuple[float, float]]:
    pts = [tuple(p) for p in path]
    length = sum(math.dist(a, b) for a, b in itertools.pairwise(pts))
    if length > MAX_PATH_M:
        raise ToolError(
            f"path is {length:.0f} m long, at most {MAX_PATH_M:.0f} m; pass the path plan_path gave"
        )
    return pts  # type: ignore[return-value]


async def world_and_costmap(rt: Runtime):
    """The robot's map and its costmap (the world model plans on what the robot plane drives)."""
    try:
        w = await rt.robot.world()
    except RobotUnavailable as exc:
        raise ToolError(f"no map: {exc}") from None
    return w, rt.robot.planner(w, 0.0).costmap


@plane_tool(READ)
async def predict(
    rt: Runtime,
    path: Annotated[
        list[Point], Field(min_length=2, max_length=500, description="[[x, y], …] from plan_path")
    ],
    speed_mps: Annotated[float, Field(ge=MIN_SPEED_MPS, le=2, allow_inf_nan=False, strict=True)] = 0.18,
) -> list[Any]:
    """Predict the robot's trajectory along a planned path and render frames of it."""
    pts = bounded(path)
    w, _ = await world_and_costmap(rt)
    from auraison.geometry.planner import densify

    try:
        pred = await rt.world.predict(w, densify(pts, 0.05), speed_mps)
    except WorldBackendError as exc:
        raise ToolError(str(exc)) from None
    head = pred.model_dump(exclude={"frames"}) | {"frames": [f.model_dump() for f in pred.frames]}
    return [head, *[Image(data=base64.b64decode(f.data), format=f.format) for f in pred.frames[:4]]]


@plane_tool(READ)
async def transfer(
    rt: Runtime, frames: Annotated[list[Frame], Field(min_length=1, max_length=32)]
) -> list[Frame]:
    """Make synthetic frames photoreal (the local stand-in passes them through unchanged)."""
    try:
        return await rt.world.transfer(frames)
    except WorldBackendError as exc:
        raise ToolError(str(exc)) from None


@plane_tool(READ)
async def reason(
    rt: Runtime,
    frames: Annotated[list[Frame], Field(min_length=1, max_length=32)],
    question: Annotated[str, Field(min_length=3, max_length=2000)] = "Is it safe to execute this motion?",
    path: Annotated[
        list[Point] | None, Field(max_length=500, description="the planned path, for the geometric check")
    ] = None,
) -> Verdict:
    """Go / no-go / uncertain with a rationale. With ``path``, geometry is checked too and a
    critic's go never overrides a failed geometric check."""
    model = rt.world
    try:
        if path:
            from auraison.geometry.planner import densify

            from . import local

            pts = bounded(path)
            w, cm = await world_and_costmap(rt)
            pred = local.predict(w, densify(pts, 0.05), 0.18)
            return await model.assess(w, cm, pred, frames, question)
        verdict = await model.critic(frames, question)
    except WorldBackendError as exc:
        raise ToolError(str(exc)) from None
    if verdict is None:
        raise ToolError("the local stand-in judges geometry only: pass the planned `path` too")
    return verdict


TOOLS = (predict, transfer, reason)


def build_server(rt: Runtime) -> FastMCP:
    """The world tools over the runtime's world model and its one robot connection (the map
    and costmap come from the robot the robot plane drives)."""
    stand_in = (
        " (local stand-in: kinematic rollout, pass-through, geometric critic)"
        if rt.world.backend == "local"
        else ""
    )
    mcp = FastMCP("world", instructions=f"Cosmos world-model tools, backend {rt.world.backend}{stand_in}.")
    return serve_tools(mcp, rt, TOOLS)
