"""The robot plane's data: what its tools take and return (pydantic, JSON-schema'd for MCP)."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, Field

from .lease import LeaseStatus


class Pose(BaseModel):
    x: float = Field(description="metres, map frame")
    y: float = Field(description="metres, map frame")
    yaw: float = Field(0.0, description="radians, counter-clockwise from +x")


class Place(Pose):
    name: str
    distance_m: float | None = Field(None, description="straight-line distance from the robot now")


class Navigation(BaseModel):
    state: Literal["idle", "navigating", "succeeded", "aborted", "canceled"] = "idle"
    goal: Pose | None = None
    goal_id: str | None = None
    distance_remaining_m: float | None = None
    message: str = ""


class RobotState(BaseModel):
    pose: Pose
    linear_mps: float
    angular_rps: float
    navigation: Navigation
    estop_at: float | None = Field(None, description="unix time of the last e-stop, if any")
    connected: bool
    rosbridge_url: str
    max_linear_mps: float
    max_angular_rps: float
    lease: LeaseStatus | None = Field(
        None,
        description="the dead-man lease motion runs under; absent until a motion has run",
        exclude_if=lambda v: v is None,  # a process that never moved reads as it always did
    )


class Sector(BaseModel):
    name: str
    bearing_deg: float = Field(description="centre of the sector; 0 = straight ahead, +90 = left")
    min_distance_m: float | None = Field(description="nearest return in the sector; None = nothing in range")


class ScanSummary(BaseModel):
    sectors: list[Sector]
    closest_m: float | None
    closest_bearing_deg: float | None
    beams_without_return: int
    range_max_m: float


class PathPlan(BaseModel):
    reachable: bool
    goal: Pose
    length_m: float | None = None
    eta_s: float | None = None
    waypoints: list[tuple[float, float]] = Field(
        default_factory=list, description="at most 20, start to goal"
    )
    min_clearance_m: float | None = None
    error_code: int = 0
    reason: str = ""


class NavOutcome(BaseModel):
    """How a goal ended. The collision monitor's last line ends one ``canceled``, its message
    starting ``collision monitor:`` and saying what was how far ahead."""

    status: Literal["succeeded", "aborted", "canceled", "refused", "timeout"]
    goal: Pose
    reached: bool
    distance_travelled_m: float
    duration_s: float
    final_pose: Pose
    error_code: int = 0
    message: str = ""
    number_of_recoveries: int = 0


class DriveResult(BaseModel):
    linear_mps: float
    angular_rps: float
    duration_s: float
    clamped: bool = Field(description="True if the request exceeded the robot's limits")
    stopped_early: bool = Field(description="True if an e-stop or the collision monitor ended the drive")
    stop_reason: Literal["estop", "obstacle", "no_scan"] | None = Field(
        None,
        description="why it stopped early: an e-stop, an obstacle in the stop zone, or no laser scan "
        "to check the path against",
    )
    stop_detail: str = Field("", description="the monitor's words, e.g. the distance to the obstacle")
    obstacle_distance_m: float | None = Field(
        None, description="free path left before the footprint would touch, when an obstacle stopped it"
    )
    slowed: bool = Field(False, description="True if the slowdown zone scaled the speed down")
    distance_travelled_m: float
    final_pose: Pose
