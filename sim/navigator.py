"""Nav2's ``navigate_to_pose`` behaviour: plan on the costmap, follow the path, recover.

A goal is checked and planned *before* any motion: unreachable, occupied or out-of-map goals
end ABORTED with a Nav2 error code while the robot stays put. A new goal preempts the active
one. The controller is a regulated pure pursuit: rotate in place toward the path when the
heading error is large, slow down in curves and near the goal, then turn to the goal's yaw.
Collisions or lack of progress trigger a back-up recovery and a replan (counted in feedback).
"""

from __future__ import annotations

import math
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from enum import IntEnum
from typing import Any

from auraison.geometry.planner import Plan, Planner
from auraison.geometry.pose import heading, wrap

from .physics import RobotState


# action_msgs/msg/GoalStatus
class GoalStatus(IntEnum):
    UNKNOWN = 0
    ACCEPTED = 1
    EXECUTING = 2
    CANCELING = 3
    SUCCEEDED = 4
    CANCELED = 5
    ABORTED = 6

    @property
    def terminal(self) -> bool:
        return self >= GoalStatus.SUCCEEDED


# nav2_msgs/action/FollowPath / NavigateToPose error codes (Jazzy)
FAILED_TO_MAKE_PROGRESS = 105
TIMEOUT = 9003

XY_TOLERANCE = 0.12
YAW_TOLERANCE = 0.25
LOOKAHEAD = 0.35
MAX_RECOVERIES = 4
PROGRESS_WINDOW_S = 6.0


@dataclass
class Goal:
    """One NavigateToPose goal, alive independently of the connection that sent it."""

    goal_id: str  # rosbridge id chosen by the client
    x: float
    y: float
    yaw: float
    stamp: float  # sim time accepted
    on_feedback: Callable[[Goal, dict[str, Any]], None] | None = None
    on_result: Callable[[Goal], None] | None = None
    uuid: bytes = field(default_factory=lambda: uuid.uuid4().bytes)
    status: GoalStatus = GoalStatus.ACCEPTED
    error_code: int = 0
    error_msg: str = ""
    plan: Plan | None = None
    path_index: int = 0
    recoveries: int = 0
    finished_at: float | None = None
    start_distance: float = 0.0
    backing_up: float = 0.0  # metres of back-up left
    progress_mark: tuple[float, float] = (0.0, math.inf)  # (sim time, best distance)
    final_turn: bool = False

    def result(self) -> dict[str, Any]:
        return {"error_code": self.error_code, "error_msg": self.error_msg}


class Navigator:
    """Owns goals; ``control`` turns the active one into a velocity command each tick."""

    def __init__(self, planner: Planner, max_v: Callable[[], float], max_w: Callable[[], float]):
        self.planner = planner
        self.max_v, self.max_w = max_v, max_w
        self.goals: dict[str, Goal] = {}
        self.active: Goal | None = None

    # ----------------------------------------------------------------- lifecycle
    def submit(self, goal: Goal, robot: RobotState, now: float) -> Goal:
        """Accept a goal; plan at once; preempt the previous one."""
        self._forget_old(now)
        if self.active is not None:
            self._finish(self.active, GoalStatus.ABORTED, now, 0, "preempted by a newer goal")
        self.goals[goal.goal_id] = goal
        goal.start_distance = robot.distance
        plan = self.planner.plan((robot.x, robot.y), (goal.x, goal.y))
        if not plan.ok:
            self._finish(goal, GoalStatus.ABORTED, now, plan.error_code, plan.error_msg)
            return goal
        goal.plan = plan
        goal.status = GoalStatus.EXECUTING
        goal.progress_mark = (now, self.remaining(goal, robot))
        self.active = goal
        return goal

    def cancel(self, goal_id: str, now: float) -> Goal | None:
        goal = self.goals.get(goal_id)
        if goal is None or goal.status.terminal:
            return goal
        self._finish(goal, GoalStatus.CANCELED, now, 0, "canceled")
        return goal

    def cancel_all(self, now: float) -> None:
        if self.active is not None:
            self._finish(self.active, GoalStatus.CANCELED, now, 0, "canceled")

    def _finish(self, goal: Goal, status: GoalStatus, now: float, code: int, msg: str) -> None:
        goal.status, goal.error_code, goal.error_msg = status, code, msg
        goal.finished_at = now
        if self.active is goal:
            self.active = None
        if goal.on_result is not None:
            goal.on_result(goal)

    def _forget_old(self, now: float, keep_s: float = 900.0) -> None:
        """Finished goals stay visible in the status array for a while (rcl result_timeout)."""
        for gid in [g for g, v in self.goals.items() if v.finished_at and now - v.finished_at > keep_s]:
            del self.goals[gid]

    # ------------------------------------------------------------------ feedback
    def remaining(self, goal: Goal, robot: RobotState) -> float:
        if goal.plan is None:
            return 0.0
        path = goal.plan.path
        i = min(goal.path_index, len(path) - 1)
        return math.dist((robot.x, robot.y), path[i]) + goal.plan.remaining_from(i)

    def feedback(self, goal: Goal, robot: RobotState, now: float) -> dict[str, float]:
        remaining = self.remaining(goal, robot)
        return {
            "distance_remaining": remaining,
            "navigation_time": now - goal.stamp,
            "estimated_time_remaining": remaining / max(self.max_v() * 0.8, 1e-3),
            "number_of_recoveries": goal.recoveries,
        }

    # ------------------------------------------------------------------- control
    def control(self, robot: RobotState, now: float, collided: bool) -> tuple[float, float] | None:
        """Velocity for the active goal, or None when idle (then cmd_vel drives)."""
        goal = self.active
        if goal is None or goal.plan is None:
            return None
        if goal.backing_up > 0:
            return -0.08, 0.0
        d_goal = math.dist((robot.x, robot.y), (goal.x, goal.y))
        if d_goal <= XY_TOLERANCE or goal.final_turn:
            goal.final_turn = True
            err = wrap(goal.yaw - robot.yaw)
            if abs(err) <= YAW_TOLERANCE and abs(robot.w) < 0.5:
                self._finish(goal, GoalStatus.SUCCEEDED, now, 0, "")
                return 0.0, 0.0
            return 0.0, max(-self.max_w(), min(self.max_w(), 2.0 * err))
        if collided or self._stalled(goal, robot, now):
            return self._recover(goal, robot, now)
        if now - goal.stamp > max(120.0, 6 * goal.plan.length / max(self.max_v(), 0.01)):
            self._finish(goal, GoalStatus.ABORTED, now, TIMEOUT, "navigation timed out")
            return 0.0, 0.0
        return self._pursue(goal, robot, d_goal)

    def _pursue(self, goal: Goal, robot: RobotState, d_goal: float) -> tuple[float, float]:
        path = goal.plan.path  # type: ignore[union-attr]
        i = goal.path_index
        best = min(range(i, min(i + 40, len(path))), key=lambda k: math.dist(path[k], (robot.x, robot.y)))
        goal.path_index = best
        j = best
        while j < len(path) - 1 and math.dist(path[j], (robot.x, robot.y)) < LOOKAHEAD:
            j += 1
        tx, ty = path[j]
        alpha = wrap(heading((robot.x, robot.y), (tx, ty)) - robot.yaw)
        max_v, max_w = self.max_v(), self.max_w()
        if abs(alpha) > 0.7:
            return 0.0, math.copysign(min(max_w, 1.5 + abs(alpha)), alpha)
        v = max_v * (1.0 - 0.6 * abs(alpha) / 0.7)
        v = min(v, 0.8 * d_goal + 0.04)
        lookahead = max(math.dist((tx, ty), (robot.x, robot.y)), 1e-3)
        w = v * 2 * math.sin(alpha) / lookahead + 0.8 * alpha
        return v, max(-max_w, min(max_w, w))

    def _stalled(self, goal: Goal, robot: RobotState, now: float) -> bool:
        mark_t, best = goal.progress_mark
        remaining = self.remaining(goal, robot)
        if remaining < best - 0.05:
            goal.progress_mark = (now, remaining)
            return False
        return now - mark_t > PROGRESS_WINDOW_S

    def _recover(self, goal: Goal, robot: RobotState, now: float) -> tuple[float, float]:
        goal.recoveries += 1
        if goal.recoveries > MAX_RECOVERIES:
            self._finish(
                goal,
                GoalStatus.ABORTED,
                now,
                FAILED_TO_MAKE_PROGRESS,
                f"failed to make progress after {MAX_RECOVERIES} recoveries",
            )
            return 0.0, 0.0
        plan = self.planner.plan((robot.x, robot.y), (goal.x, goal.y))
        if not plan.ok:
            self._finish(goal, GoalStatus.ABORTED, now, plan.error_code, plan.error_msg)
            return 0.0, 0.0
        goal.plan, goal.path_index = plan, 0
        goal.backing_up = 0.12
        goal.progress_mark = (now, self.remaining(goal, robot))
        return -0.08, 0.0

    def advance_backup(self, dist: float, collided: bool) -> None:
        """Count down the back-up recovery; a wall behind ends it early."""
        if self.active is not None and self.active.backing_up > 0:
            left = 0.0 if collided else self.active.backing_up - dist
            self.active.backing_up = max(0.0, left)
