"""The simulation: world, robot, sensors, Nav2 navigator and parameters, on one sim clock.

``Simulation`` is pure and deterministic for a given seed: ``step(dt)`` advances it, and the
rosbridge server (``bridge.py``) drives it in real time (or ``speed`` times faster) and turns
its samples and events into wire frames. Tests step it directly.
"""

from __future__ import annotations

import json
import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from auraison.geometry.grid import World
from auraison.geometry.planner import Costmap, Planner
from auraison.geometry.raycast import camera_jpeg

from . import messages as m
from . import sensors
from .navigator import Goal, GoalStatus, Navigator
from .physics import MAX_ANGULAR, MAX_LINEAR, Body, RobotState, finite

NODE = "/turtlebot3_sim"
ACTION = "/navigate_to_pose"
ACTION_TYPE = "nav2_msgs/action/NavigateToPose"
LEASE_TOPIC = "/auraison/motion_lease"  # the robot plane's dead-man heartbeat (see MotionWatchdog)
ESTOP_TOPIC = "/auraison/estop"  # an e-stop from any client halts every motion, whoever sent it


@dataclass(frozen=True)
class TopicInfo:
    type: str
    publishers: tuple[str, ...] = ()
    subscribers: tuple[str, ...] = ()
    rate_hz: float = 0.0  # 0: event-driven
    latched: bool = False
    hidden: bool = False


TOPICS: dict[str, TopicInfo] = {
    "/cmd_vel": TopicInfo("geometry_msgs/msg/Twist", (), (NODE,)),
    "/goal_pose": TopicInfo("geometry_msgs/msg/PoseStamped", (), ("/bt_navigator",)),
    "/odom": TopicInfo("nav_msgs/msg/Odometry", (NODE,), (), 30.0),
    "/scan": TopicInfo("sensor_msgs/msg/LaserScan", (NODE,), (), 5.0),
    "/camera/image_raw/compressed": TopicInfo("sensor_msgs/msg/CompressedImage", (NODE,), (), 5.0),
    "/map": TopicInfo("nav_msgs/msg/OccupancyGrid", ("/map_server",), ("/bt_navigator",), latched=True),
    "/tf": TopicInfo("tf2_msgs/msg/TFMessage", (NODE,), (), 30.0),
    "/tf_static": TopicInfo("tf2_msgs/msg/TFMessage", ("/robot_state_publisher",), (), latched=True),
    "/amcl_pose": TopicInfo("geometry_msgs/msg/PoseWithCovarianceStamped", (NODE,), (), 5.0),
    "/plan": TopicInfo("nav_msgs/msg/Path", ("/bt_navigator",), (), latched=True),
    "/collision": TopicInfo("std_msgs/msg/Bool", (NODE,), ()),
    "/rosout": TopicInfo("rcl_interfaces/msg/Log", (NODE, "/bt_navigator"), ()),
    "/parameter_events": TopicInfo("rcl_interfaces/msg/ParameterEvent", (NODE,), ()),
    LEASE_TOPIC: TopicInfo("std_msgs/msg/String", (), ("/motion_watchdog",)),
    ESTOP_TOPIC: TopicInfo("std_msgs/msg/String", (), ("/motion_watchdog",)),
    f"{ACTION}/_action/status": TopicInfo(
        "action_msgs/msg/GoalStatusArray", ("/bt_navigator",), (), latched=True, hidden=True
    ),
    f"{ACTION}/_action/feedback": TopicInfo(
        "nav2_msgs/action/NavigateToPose_FeedbackMessage", ("/bt_navigator",), (), hidden=True
    ),
}

DEFAULT_PARAMS: dict[str, Any] = {
    f"{NODE}:max_linear_speed": MAX_LINEAR,
    f"{NODE}:max_angular_speed": MAX_ANGULAR,
    f"{NODE}:cmd_vel_timeout": 0.5,
    f"{NODE}:odom_noise": 0.0,
    f"{NODE}:scan_noise": 0.0,
    f"{NODE}:use_sim_time": False,
    f"{NODE}:robot_model": "burger",
    "/bt_navigator:xy_goal_tolerance": 0.12,
    "/bt_navigator:yaw_goal_tolerance": 0.25,
    "/map_server:yaml_filename": "",
}
HARD_LIMITS = {f"{NODE}:max_linear_speed": MAX_LINEAR, f"{NODE}:max_angular_speed": MAX_ANGULAR}


@dataclass
class SimConfig:
    seed: int | None = None
    physics_hz: float = 100.0
    control_hz: float = 20.0
    feedback_hz: float = 5.0
    cmd_vel_timeout: float = 0.5  # 0 disables the watchdog (real TB3 keeps the last command)
    odom_noise: float = 0.0
    scan_noise: float = 0.0
    epoch: float | None = None  # stamp of t=0; None: wall clock at start (0 in lockstep)
    # False: no built-in motion watchdog (lease expiry, e-stop); the robot is then halted only by
    # an external one, as a real robot is by ``auraison robot watchdog`` (tests prove that node)
    watchdog: bool = True


@dataclass
class Events:
    """Callbacks the bridge installs to hear about goal progress and sim events."""

    publish: Callable[[str, dict[str, Any]], None] = lambda topic, msg: None


@dataclass
class LeaseHalt:
    """One halt by the motion watchdog: who held the lease, when it was last renewed and when
    the robot was stopped (sim seconds), and whether a goal or a velocity was cut."""

    holder: str
    renewed_at: float
    halted_at: float
    goal_canceled: bool
    was_moving: bool


@dataclass
class MotionWatchdog:
    """The robot side of the robot plane's dead-man lease.

    The robot plane publishes a heartbeat on ``/auraison/motion_lease`` while a motion it
    commanded runs (``mcp_servers/robot/lease.py``). The check lives here, on the robot,
    because the process that holds the lease may be the one that dies: a SIGKILLed gateway
    sends no cancel, and a Nav2 goal outlives its rosbridge connection (as on a real robot).
    When a holder's heartbeats stop for its lease's time to live, the watchdog cancels the
    active goal and zeroes the velocity. Several holders (gateway processes) may hold leases at
    once; each is watched on its own. Times are sim seconds; the bridge scales the wall-time TTL
    by its speed, so a lease of 1 s is 1 s of the robot's life at any speed."""

    leases: dict[str, tuple[float, float]] = field(default_factory=dict)  # holder → (renewed, deadline)
    halts: list[LeaseHalt] = field(default_factory=list)

    def renew(self, holder: str, now: float, ttl: float) -> None:
        self.leases[holder] = (now, now + ttl)

    def release(self, holder: str) -> None:
        self.leases.pop(holder, None)

    def expired(self, now: float) -> tuple[str, float] | None:
        """The first holder whose lease ran out (its name and last renewal), if any."""
        for holder, (renewed, deadline) in self.leases.items():
            if now > deadline:
                return holder, renewed
        return None


@dataclass
class Trail:
    """The driven path, for rendering."""

    points: list[tuple[float, float]] = field(default_factory=list)

    def add(self, x: float, y: float) -> None:
        if not self.points or math.dist(self.points[-1], (x, y)) >= 0.05:
            self.points.append((x, y))


class Simulation:
    def __init__(self, world: World, config: SimConfig | None = None) -> None:
        self.world = world
        self.cfg = config or SimConfig()
        self.events = Events()
        self.body = Body(world)
        self.costmap = Costmap(world)
        self.planner = Planner(self.costmap)
        self.params: dict[str, Any] = dict(DEFAULT_PARAMS)
        self.params[f"{NODE}:cmd_vel_timeout"] = self.cfg.cmd_vel_timeout
        self.params[f"{NODE}:odom_noise"] = self.cfg.odom_noise
        self.params[f"{NODE}:scan_noise"] = self.cfg.scan_noise
        self.params["/map_server:yaml_filename"] = world.source
        self.nav = Navigator(self.planner, self.max_v, self.max_w)
        self.epoch = self.cfg.epoch if self.cfg.epoch is not None else time.time()
        self._map_msg: dict[str, Any] | None = None
        self.watchdog = MotionWatchdog()
        self.reset()

    # --------------------------------------------------------------------- state
    def reset(self) -> None:
        """Back to the start pose; active goals are canceled; the clock keeps running."""
        if hasattr(self, "t"):
            self.nav.cancel_all(self.t)
        else:
            self.t = 0.0
        x, y, yaw = self.world.start
        self.robot = RobotState(x, y, yaw)
        self.rng = np.random.default_rng(self.cfg.seed)
        self.cmd = (0.0, 0.0)
        self.cmd_time = -math.inf
        self._nav_cmd: tuple[float, float] | None = None
        self._next_control = self.t
        self._next_feedback = self.t
        self.trail = Trail()
        self.trail.add(x, y)

    def max_v(self) -> float:
        return float(self.params[f"{NODE}:max_linear_speed"])

    def max_w(self) -> float:
        return float(self.params[f"{NODE}:max_angular_speed"])

    def stamp_time(self) -> float:
        return self.epoch + self.t

    # ------------------------------------------------------------------ commands
    def command_velocity(self, v: float, w: float) -> bool:
        """A /cmd_vel sample. Non-finite values are refused (returns False); others clamped."""
        if not finite(v, w):
            return False
        self.cmd = (
            max(-self.max_v(), min(self.max_v(), v)),
            max(-self.max_w(), min(self.max_w(), w)),
        )
        self.cmd_time = self.t
        self.events.publish("/cmd_vel", m.twist(*self.cmd))  # other subscribers see it, as in ROS
        return True

    def navigate(
        self,
        goal_id: str,
        x: float,
        y: float,
        yaw: float,
        on_feedback: Callable[[Goal, dict[str, Any]], None] | None = None,
        on_result: Callable[[Goal], None] | None = None,
    ) -> Goal:
        goal = Goal(goal_id, x, y, yaw, self.t, on_feedback, on_result)
        if not finite(x, y, yaw):
            goal.status = GoalStatus.ABORTED
            goal.error_code, goal.error_msg = 206, "goal pose is not a finite number"
            goal.finished_at = self.t
            self.nav.goals[goal_id] = goal
            if on_result:
                on_result(goal)
        else:
            self.nav.submit(goal, self.robot, self.t)
            if goal.plan is not None and goal.status is GoalStatus.EXECUTING:
                self.events.publish("/plan", self.path_msg(goal.plan.path))
        self._nav_cmd = None
        self._next_control = self.t
        self.publish_status()
        return goal

    def cancel(self, goal_id: str) -> Goal | None:
        goal = self.nav.cancel(goal_id, self.t)
        if goal is not None:
            self.publish_status()
        return goal

    def cancel_request(self, uuid: bytes, stamp: float) -> tuple[int, list[Goal]]:
        """The action's ``cancel_goal`` service, with ROS 2's rules: a zero ``uuid`` and a zero
        ``stamp`` cancel every goal; a zero ``uuid`` and a stamp, every goal accepted at or
        before it; a ``uuid``, that goal (and with a stamp, those before it too). Returns
        ``(return_code, goals canceling)``; nothing to cancel is ERROR_REJECTED (1), as in rclcpp."""
        everyone, known = not any(uuid), {g.uuid: g for g in self.nav.goals.values()}
        if not everyone and uuid not in known:
            return 2, []  # ERROR_UNKNOWN_GOAL_ID
        if not everyone and known[uuid].status.terminal and stamp == 0:
            return 3, []  # ERROR_GOAL_TERMINATED
        chosen = [
            g
            for g in self.nav.goals.values()
            if not g.status.terminal
            and ((everyone and stamp == 0) or g.uuid == uuid or (stamp and self.epoch + g.stamp <= stamp))
        ]
        for goal in chosen:
            self.cancel(goal.goal_id)
        return (0 if chosen else 1), chosen

    # ---------------------------------------------------------------------- time
    def step(self, dt: float) -> None:
        """Advance sim time by ``dt`` seconds in fixed physics steps."""
        h = 1.0 / self.cfg.physics_hz
        n = max(1, round(dt / h))
        for _ in range(n):
            self._tick(dt / n)

    def _tick(self, h: float) -> None:
        self.t += h
        r = self.robot
        active_before = self.nav.active
        if self.t >= self._next_control:
            self._next_control += 1.0 / self.cfg.control_hz
            self._nav_cmd = self.nav.control(r, self.t, r.in_collision)
            if self.nav.active is not None and self._nav_cmd is not None:
                self.events.publish("/cmd_vel", m.twist(*self._nav_cmd))  # Nav2's controller output
        if self.nav.active is not None and self._nav_cmd is not None:
            v, w = self._nav_cmd
        else:
            timeout = float(self.params[f"{NODE}:cmd_vel_timeout"])
            stale = timeout > 0 and self.t - self.cmd_time > timeout
            v, w = (0.0, 0.0) if stale else self.cmd
        before = r.distance
        collided = self.body.step(r, v, w, h, self.max_v(), self.max_w())
        self.nav.advance_backup(r.distance - before, collided)
        self.trail.add(r.x, r.y)
        if collided and self._collision_new(r):
            self.events.publish("/collision", {"data": True})
            self.events.publish(
                "/rosout",
                m.log(
                    self.stamp_time(),
                    30,
                    NODE[1:],
                    f"collision at ({r.x:.2f}, {r.y:.2f}): motion stopped",
                ),
            )
        if (lapsed := self.watchdog.expired(self.t)) is not None:
            self._lease_halt(*lapsed)
        goal = self.nav.active or active_before
        if goal is not None and goal.status is GoalStatus.EXECUTING and self.t >= self._next_feedback:
            self._next_feedback = self.t + 1.0 / self.cfg.feedback_hz
            self._send_feedback(goal)
        if active_before is not None and self.nav.active is not active_before:
            self.publish_status()  # a goal finished during this tick

    def lease_message(self, holder: str, state: str, ttl: float) -> None:
        """A heartbeat of the robot plane's motion lease (``ttl`` in sim seconds)."""
        if not self.cfg.watchdog:
            return
        if state == "held" and ttl > 0 and math.isfinite(ttl):
            self.watchdog.renew(holder, self.t, ttl)
        else:
            self.watchdog.release(holder)

    def estop(self, by: str) -> None:
        """An e-stop on ``/auraison/estop``: cancel the active goal, whoever sent it, and zero the
        velocity. A client's own stop can cancel only the goal it sent (a Nav2 goal belongs to
        its sender); the console's e-stop must stop a goal a gateway or an agent run sent too."""
        if not self.cfg.watchdog:
            return
        goal = self.nav.active
        if goal is not None:
            self.cancel(goal.goal_id)
        self.cmd, self.cmd_time, self._nav_cmd = (0.0, 0.0), -math.inf, None
        self.events.publish(
            "/rosout",
            m.log(self.stamp_time(), 30, "motion_watchdog", f"e-stop by {by or 'a client'}: robot halted"),
        )

    def _lease_halt(self, holder: str, renewed_at: float) -> None:
        """A lease holder went silent: cancel the goal and zero the velocity, and say why."""
        r, goal = self.robot, self.nav.active
        moving = abs(r.v) > 1e-3 or abs(r.w) > 1e-3 or goal is not None
        self.watchdog.halts.append(LeaseHalt(holder, renewed_at, self.t, goal is not None, moving))
        self.watchdog.release(holder)
        if goal is not None:
            self.cancel(goal.goal_id)
        self.cmd, self.cmd_time, self._nav_cmd = (0.0, 0.0), -math.inf, None
        self.events.publish(
            "/rosout",
            m.log(
                self.stamp_time(),
                30,
                "motion_watchdog",
                f"motion lease of {holder or 'an unnamed holder'} expired "
                f"({self.t - renewed_at:.2f} s without a heartbeat): robot halted",
            ),
        )

    _last_collision_count = 0

    def _collision_new(self, r: RobotState) -> bool:
        new = r.collisions != self._last_collision_count
        self._last_collision_count = r.collisions
        return new

    def _send_feedback(self, goal: Goal) -> None:
        r = self.robot
        fb = self.nav.feedback(goal, r, self.t)
        values = {
            "current_pose": m.pose_stamped(self.stamp_time(), r.x, r.y, r.yaw),
            "navigation_time": m.duration(fb["navigation_time"]),
            "estimated_time_remaining": m.duration(fb["estimated_time_remaining"]),
            "number_of_recoveries": int(fb["number_of_recoveries"]),
            "distance_remaining": round(fb["distance_remaining"], 3),
        }
        if goal.on_feedback is not None:
            goal.on_feedback(goal, values)
        self.events.publish(
            f"{ACTION}/_action/feedback",
            {
                "goal_id": {"uuid": m.goal_status(goal.uuid, 0, 0)["goal_info"]["goal_id"]["uuid"]},
                "feedback": values,
            },
        )

    def publish_status(self) -> None:
        self.events.publish(f"{ACTION}/_action/status", self.status_msg())

    # ------------------------------------------------------------------ samples
    def sample(self, topic: str) -> dict[str, Any] | None:
        """The current message of a periodic or latched topic (None if it has none)."""
        r, t = self.robot, self.stamp_time()
        if topic == "/odom":
            noise = float(self.params[f"{NODE}:odom_noise"])
            dx, dy = self.rng.normal(0, noise, 2) if noise > 0 else (0.0, 0.0)
            return m.odometry(t, r.x + dx, r.y + dy, r.yaw, r.v, r.w)
        if topic == "/scan":
            ranges = sensors.laser_ranges(
                self.world, r.x, r.y, r.yaw, float(self.params[f"{NODE}:scan_noise"]), self.rng
            )
            return m.laser_scan(
                t,
                ranges,
                sensors.ANGLE_INCREMENT,
                sensors.ANGLE_MAX,
                sensors.RANGE_MIN,
                sensors.RANGE_MAX,
                0.2,
            )
        if topic == "/camera/image_raw/compressed":
            return m.compressed_image(t, camera_jpeg(self.world, r.x, r.y, r.yaw))
        if topic == "/map":
            return self.map_msg()
        if topic == "/tf":
            return {
                "transforms": [
                    m.transform(t, "map", "odom", 0, 0, 0),
                    m.transform(t, "odom", "base_footprint", r.x, r.y, r.yaw),
                ]
            }
        if topic == "/tf_static":
            return {
                "transforms": [
                    m.transform(t, "base_footprint", "base_link", 0, 0, 0),
                    m.transform(t, "base_link", "base_scan", -0.032, 0, 0),
                ]
            }
        if topic == "/amcl_pose":
            return {
                "header": m.header(t, "map"),
                "pose": {"pose": m.pose(r.x, r.y, r.yaw), "covariance": m.COV_POSE},
            }
        if topic == f"{ACTION}/_action/status":
            return self.status_msg()
        if topic == "/plan":
            goal = self.nav.active
            return self.path_msg(goal.plan.path) if goal and goal.plan else None
        return None

    def map_msg(self) -> dict[str, Any]:
        if self._map_msg is None:
            w = self.world
            self._map_msg = {
                "header": m.header(self.epoch, "map"),
                "info": {
                    "map_load_time": m.stamp(self.epoch),
                    "resolution": w.resolution,
                    "width": w.width,
                    "height": w.height,
                    "origin": m.pose(w.origin[0], w.origin[1], 0.0),
                },
                "data": w.grid.ravel().astype(int).tolist(),
            }
        return self._map_msg

    def status_msg(self) -> dict[str, Any]:
        goals = sorted(self.nav.goals.values(), key=lambda g: g.stamp)
        return {"status_list": [m.goal_status(g.uuid, self.epoch + g.stamp, int(g.status)) for g in goals]}

    def path_msg(self, path: list[tuple[float, float]]) -> dict[str, Any]:
        t = self.stamp_time()
        step = max(1, len(path) // 200)
        return {
            "header": m.header(t, "map"),
            "poses": [m.pose_stamped(t, x, y, 0.0) for x, y in path[::step]],
        }

    # ------------------------------------------------------------------ params
    def set_param(self, name: str, raw: str) -> tuple[bool, str]:
        """rosapi set_param: ``raw`` is JSON text. Types are kept; hard limits hold."""
        if name not in self.params and ":" not in name:
            return False, f"malformed parameter name {name!r}: expected /node:param"
        try:
            value = json.loads(raw)
        except (TypeError, ValueError):
            return False, f"value {raw!r} is not valid JSON"
        old = self.params.get(name)
        if old is not None:
            if isinstance(old, float) and isinstance(value, int) and not isinstance(value, bool):
                value = float(value)
            if type(old) is not type(value):
                return False, f"{name} is a {type(old).__name__}, got {type(value).__name__}"
        if name in HARD_LIMITS and not (0 <= value <= HARD_LIMITS[name]):
            return False, f"{name} must be within 0..{HARD_LIMITS[name]} (TurtleBot3 burger)"
        if isinstance(value, float) and not math.isfinite(value):
            return False, "value must be finite"
        self.params[name] = value
        self.events.publish(
            "/parameter_events", {"stamp": m.stamp(self.stamp_time()), "node": name.split(":")[0]}
        )
        return True, ""
