"""The ``robot`` MCP server: robot-level tools with safety built in (mounted by the gateway as
``robot_*``). Entry points only validate input, call ``RobotService`` and shape the result."""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Annotated, Any

from fastmcp import Context, FastMCP
from fastmcp.exceptions import ToolError
from fastmcp.utilities.types import Image
from mcp.types import ToolAnnotations
from pydantic import Field

from auraison.agentops.factory import default_identity
from auraison.agentops.middleware import current_identity
from auraison.identity import Identity
from auraison.mcp_servers.toolcall import guarded, plane_tool, serve_tools

from .loop import SafeNavOutcome
from .loop import navigate_safely as navigate_safely_loop
from .models import DriveResult, Navigation, NavOutcome, PathPlan, Place, RobotState, ScanSummary
from .service import RobotError, RobotService

if TYPE_CHECKING:
    from auraison.agentops.engine import AgentOps
    from auraison.runtime import Runtime

Polygon = list[tuple[float, float]]

READ = ToolAnnotations(readOnlyHint=True, destructiveHint=False, openWorldHint=True)
MOVES = ToolAnnotations(readOnlyHint=False, destructiveHint=True, openWorldHint=True)

Coordinate = Annotated[
    float | None,
    Field(
        default=None,
        ge=-1000,
        le=1000,
        allow_inf_nan=False,
        strict=True,
        description="metres in the map frame",
    ),
]
Yaw = Annotated[
    float | None,
    Field(
        default=None,
        ge=-2 * math.pi,
        le=2 * math.pi,
        allow_inf_nan=False,
        strict=True,
        description="final heading in radians (optional)",
    ),
]
PlaceName = Annotated[
    str | None,
    Field(
        default=None,
        min_length=1,
        max_length=64,
        pattern=r"^[A-Za-z0-9_\-]+$",
        description="a named place (see list_places)",
    ),
]


def geofence_for(engine: AgentOps, who: Identity, tool: str = "robot_navigate_safely") -> Polygon | None:
    """The geofence the caller's policy puts on ``tool`` (the engine's current policy), for the
    route check to hold the whole route inside it — not only the goal, which the engine's
    guardrail already checked."""
    for _, c in engine.policy.constraints_for(who.tenant, str(who.role), tool):
        if c.geofence is not None:
            return [(float(x), float(y)) for x, y in c.geofence.polygon]
    return None


@plane_tool(READ)
async def get_state(rt: Runtime) -> RobotState:
    """Pose (map frame), velocity, navigation status, last e-stop and the connection."""
    return await guarded(rt.robot.state())


@plane_tool(READ)
async def list_places(rt: Runtime) -> list[Place]:
    """Named places you can navigate to, with their distance from the robot."""
    return await guarded(rt.robot.list_places())


@plane_tool(READ)
async def get_map(rt: Runtime, max_px: Annotated[int, Field(ge=100, le=1200)] = 480) -> list[Any]:
    """The occupancy map as a PNG (walls, places, the robot) plus its metadata."""
    png, meta = await guarded(rt.robot.map_png(max_px))
    return [meta, Image(data=png, format="png")]


@plane_tool(READ)
async def get_scan_summary(rt: Runtime) -> ScanSummary:
    """Nearest obstacle per 45° sector from the 360° lidar (never the raw 360 ranges)."""
    return await guarded(rt.robot.scan_summary())


@plane_tool(READ)
async def get_camera_image(rt: Runtime) -> Image:
    """The robot's camera, as a JPEG image."""
    return Image(data=await guarded(rt.robot.camera_jpeg()), format="jpeg")


@plane_tool(READ)
async def plan_path(
    rt: Runtime, place: PlaceName = None, x: Coordinate = None, y: Coordinate = None, yaw: Yaw = None
) -> PathPlan:
    """Dry run: is the goal reachable, how long, how soon, by which waypoints. Never moves."""
    goal = _goal(rt.robot, place, x, y, yaw)
    return (await guarded(rt.robot.plan(goal)))[0]


@plane_tool(MOVES)
async def navigate_to(
    rt: Runtime,
    ctx: Context,
    place: PlaceName = None,
    x: Coordinate = None,
    y: Coordinate = None,
    yaw: Yaw = None,
    timeout_s: Annotated[float | None, Field(default=None, gt=0, le=3600)] = None,
) -> NavOutcome:
    """Drive to a place or x/y (Nav2): plans first and refuses unreachable goals without moving;
    reports progress while driving; returns the outcome, distance travelled and time."""
    goal = _goal(rt.robot, place, x, y, yaw)
    return await guarded(rt.robot.navigate(goal, ctx.report_progress, timeout_s))


@plane_tool(MOVES)
async def navigate_safely(
    rt: Runtime,
    ctx: Context,
    place: PlaceName = None,
    x: Coordinate = None,
    y: Coordinate = None,
    yaw: Yaw = None,
) -> SafeNavOutcome:
    """Predict → transfer → reason before driving: executes only a route judged safe, tries
    a wider-clearance re-plan and a detour via a place on no-go, else asks for a human."""
    goal = _goal(rt.robot, place, x, y, yaw)
    fence = geofence_for(rt.engine, current_identity(default_identity(rt.settings)))
    return await guarded(navigate_safely_loop(rt.robot, rt.world, goal, ctx.report_progress, fence))


@plane_tool(MOVES)
async def cancel_navigation(rt: Runtime) -> Navigation:
    """Cancel the active navigation goal (the robot stops where it is)."""
    return await guarded(rt.robot.cancel())


@plane_tool(MOVES)
async def drive(
    rt: Runtime,
    linear: Annotated[
        float,
        Field(
            ge=-10,
            le=10,
            allow_inf_nan=False,
            strict=True,
            description="m/s, clamped to the robot's limit",
        ),
    ],
    angular: Annotated[
        float, Field(ge=-20, le=20, allow_inf_nan=False, strict=True, description="rad/s, clamped")
    ] = 0.0,
    duration: Annotated[
        float,
        Field(gt=0, le=30, allow_inf_nan=False, strict=True, description="seconds; stops at the end"),
    ] = 1.0,
) -> DriveResult:
    """Velocity for a fixed time, then stop. A collision monitor watches the lidar: it slows the
    robot near obstacles and stops it short of them (stopped_early, stop_reason, stop_detail).
    Prefer navigate_to for getting somewhere: drive does not steer round anything."""
    return await guarded(rt.robot.drive(linear, angular, duration))


@plane_tool(ToolAnnotations(readOnlyHint=False, destructiveHint=False, idempotentHint=True))
async def stop(rt: Runtime) -> RobotState:
    """E-stop: zero velocity now and cancel navigation. Always allowed; never queued."""
    return await guarded(rt.robot.stop())


TOOLS = (
    get_state,
    list_places,
    get_map,
    get_scan_summary,
    get_camera_image,
    plan_path,
    navigate_to,
    navigate_safely,
    cancel_navigation,
    drive,
    stop,
)


def build_server(rt: Runtime) -> FastMCP:
    """The robot tools over the runtime's one ``RobotService`` (one rosbridge connection per
    process, shared with the world plane)."""
    mcp = FastMCP(
        "robot",
        instructions="A TurtleBot3 behind rosbridge (the built-in maze sim or a real robot). "
        "Read state and plan freely; motion tools move a real machine: plan first, stop anytime.",
    )
    return serve_tools(mcp, rt, TOOLS)


def _goal(service: RobotService, place: str | None, x: float | None, y: float | None, yaw: float | None):
    try:
        return service.resolve_goal(place, x, y, yaw)
    except RobotError as exc:
        raise ToolError(str(exc)) from None
