"""Robot use cases over rosbridge: state, places, map, scan, camera, planning and motion.

The service is the only place that talks to the robot; the MCP server is a thin shell over it,
so the gateway (and tests) can drive the same code. Motion always honours the robot's own limits
(read from its parameters), and ``stop`` never waits behind anything else.
"""

from __future__ import annotations

import asyncio
import base64
import io
import itertools
import math
import time
from collections.abc import Awaitable, Callable
from typing import Any

import numpy as np
import structlog

from auraison.errors import UserError
from auraison.geometry.grid import FREE, UNKNOWN, WALL, World
from auraison.geometry.planner import Costmap, CostmapConfig, Plan, Planner
from auraison.geometry.pose import quaternion, yaw_of
from auraison.settings import CollisionMonitorSettings

from .collision import CollisionMonitor, Decision, Zones
from .lease import MotionLease
from .models import (
    DriveResult,
    Navigation,
    NavOutcome,
    PathPlan,
    Place,
    Pose,
    RobotState,
    ScanSummary,
    Sector,
)
from .motion import governed_drive
from .rosbridge import RobotUnavailable, RosbridgeClient, ServiceFailed

log = structlog.get_logger("auraison.robot")

NODE = "/turtlebot3_sim"
ACTION = "/navigate_to_pose"
ESTOP_TOPIC = "/auraison/estop"
"""The robot's own e-stop (``std_msgs/String``, the reason): the robot side — the simulator's
motion watchdog — cancels any goal and zeroes the velocity, whichever client sent the goal."""
ACTION_TYPE = "nav2_msgs/action/NavigateToPose"
STATUS = {4: "succeeded", 5: "canceled", 6: "aborted"}
SECTORS = ("front", "front-left", "left", "back-left", "back", "back-right", "right", "front-right")

Progress = Callable[[float, float | None, str], Awaitable[None]]


class RobotError(UserError):
    """A robot request that cannot be done as asked; the message says what to do instead."""


def world_from_map(msg: dict[str, Any], places: dict[str, tuple[float, float, float]]) -> World:
    """An OccupancyGrid as a planning world (-1 unknown, ≥ 65 occupied, the rest free)."""
    info = msg["info"]
    data = np.asarray(msg["data"], dtype=np.int16).reshape(info["height"], info["width"])
    grid = np.where(data < 0, UNKNOWN, np.where(data >= 65, WALL, FREE)).astype(np.int8)
    origin = info["origin"]["position"]
    return World(
        name="map",
        description="",
        resolution=float(info["resolution"]),
        origin=(float(origin["x"]), float(origin["y"])),
        grid=grid,
        start=(0.0, 0.0, 0.0),
        places=dict(places),
    )


class _RosbridgeDrivePort:
    """The drive loop's port onto rosbridge: wall clock, /cmd_vel, and the e-stop event."""

    def __init__(self, client: RosbridgeClient, stop: asyncio.Event) -> None:
        self.client, self.stop = client, stop

    def now(self) -> float:
        return time.monotonic()

    async def publish(self, v: float, w: float) -> None:
        twist = {"linear": {"x": v, "y": 0.0, "z": 0.0}, "angular": {"x": 0.0, "y": 0.0, "z": w}}
        await self.client.publish("/cmd_vel", "geometry_msgs/msg/Twist", twist)

    async def wait(self, seconds: float) -> bool:
        try:
            await asyncio.wait_for(self.stop.wait(), max(seconds, 0.0))
            return True
        except TimeoutError:
            return False


class RobotService:
    def __init__(
        self,
        client: RosbridgeClient,
        places: dict[str, tuple[float, float, float]],
        collision: CollisionMonitorSettings | None = None,
        lease_ttl_s: float = 1.0,
    ) -> None:
        self.client = client
        self.lease = MotionLease(client.publish, self._lease_halt, lease_ttl_s)
        self.monitor = CollisionMonitor(Zones.from_settings(collision or CollisionMonitorSettings()))
        self._monitor_fed = False
        self._fresh = asyncio.Event()
        self.places = places
        self._world: World | None = None
        self._planners: dict[float, Planner] = {}
        self._limits: tuple[float, float] | None = None
        self.nav = Navigation()
        self._goal_task: str | None = None
        self._stop = asyncio.Event()
        self.estop_at: float | None = None

    # ------------------------------------------------------------------ reading
    async def limits(self) -> tuple[float, float]:
        if self._limits is None:
            got = []
            for name, fallback in (("max_linear_speed", 0.22), ("max_angular_speed", 2.84)):
                try:
                    v = await self.client.call_service("/rosapi/get_param", {"name": f"{NODE}:{name}"})
                    got.append(float(v.get("value") or fallback) if v.get("successful", True) else fallback)
                except (ServiceFailed, ValueError):
                    got.append(fallback)
            self._limits = (got[0], got[1])
        return self._limits

    async def pose(self) -> tuple[Pose, float, float]:
        odom = await self.client.sample("/odom", "nav_msgs/msg/Odometry", max_age_s=0.2)
        p = odom["pose"]["pose"]
        t = odom["twist"]["twist"]
        pose = Pose(
            x=round(p["position"]["x"], 4),
            y=round(p["position"]["y"], 4),
            yaw=round(yaw_of(p["orientation"]), 4),
        )
        return pose, round(t["linear"]["x"], 4), round(t["angular"]["z"], 4)

    async def state(self) -> RobotState:
        pose, v, w = await self.pose()
        max_v, max_w = await self.limits()
        return RobotState(
            pose=pose,
            linear_mps=v,
            angular_rps=w,
            navigation=self.nav,
            estop_at=self.estop_at,
            connected=self.client.connected,
            rosbridge_url=self.client.url,
            max_linear_mps=max_v,
            max_angular_rps=max_w,
            lease=self.lease.status if self.lease.status.state != "idle" else None,
        )

    async def list_places(self) -> list[Place]:
        try:
            pose: Pose | None = (await self.pose())[0]
        except RobotUnavailable:
            pose = None
        return [
            Place(
                name=n,
                x=x,
                y=y,
                yaw=yaw,
                distance_m=round(math.dist((x, y), (pose.x, pose.y)), 2) if pose else None,
            )
            for n, (x, y, yaw) in sorted(self.places.items())
        ]

    async def world(self) -> World:
        if self._world is None:
            msg = await self.client.sample("/map", "nav_msgs/msg/OccupancyGrid", max_age_s=1e9)
            self._world = world_from_map(msg, self.places)
        return self._world

    def planner(self, world: World, extra_clearance: float = 0.0) -> Planner:
        key = round(extra_clearance, 3)
        if key not in self._planners:
            cfg = CostmapConfig(safety_margin=CostmapConfig().safety_margin + extra_clearance)
            self._planners[key] = Planner(Costmap(world, cfg))
        return self._planners[key]

    async def scan_summary(self) -> ScanSummary:
        scan = await self.client.sample("/scan", "sensor_msgs/msg/LaserScan", max_age_s=0.5)
        ranges = scan["ranges"]
        inc, a0 = scan["angle_increment"], scan["angle_min"]
        best: list[float | None] = [None] * len(SECTORS)
        closest, closest_b = None, None
        for i, r in enumerate(ranges):
            if r is None or not math.isfinite(r):
                continue
            bearing = math.degrees(a0 + i * inc)
            bearing = (bearing + 180) % 360 - 180
            s = int(((bearing + 22.5) % 360) // 45)
            if best[s] is None or r < best[s]:
                best[s] = r
            if closest is None or r < closest:
                closest, closest_b = r, bearing
        return ScanSummary(
            sectors=[
                Sector(
                    name=n,
                    bearing_deg=(45.0 * k + 180) % 360 - 180,
                    min_distance_m=round(best[k], 2) if best[k] is not None else None,
                )
                for k, n in enumerate(SECTORS)
            ],
            closest_m=round(closest, 2) if closest is not None else None,
            closest_bearing_deg=round(closest_b, 1) if closest_b is not None else None,
            beams_without_return=sum(r is None for r in ranges),
            range_max_m=scan["range_max"],
        )

    async def camera_jpeg(self) -> bytes:
        img = await self.client.sample(
            "/camera/image_raw/compressed", "sensor_msgs/msg/CompressedImage", max_age_s=0.5
        )
        data = img["data"]
        return base64.b64decode(data) if isinstance(data, str) else bytes(data)

    async def map_png(
        self, max_px: int = 480, path: list[tuple[float, float]] | None = None
    ) -> tuple[bytes, dict[str, Any]]:
        from auraison.geometry.render import render

        world = await self.world()
        try:
            pose = (await self.pose())[0]
            trail = path or [(pose.x, pose.y)]
        except RobotUnavailable:
            trail = path
        img = render(world, trail, size=max_px, title=f"map {world.width}×{world.height} cells")
        buf = io.BytesIO()
        img.save(buf, format="PNG", optimize=True)
        w, h = world.size_m
        meta = {
            "width_cells": world.width,
            "height_cells": world.height,
            "resolution_m": world.resolution,
            "origin": list(world.origin),
            "size_m": [w, h],
            "places": sorted(self.places),
        }
        return buf.getvalue(), meta

    # ----------------------------------------------------------------- planning
    def resolve_goal(self, place: str | None, x: float | None, y: float | None, yaw: float | None) -> Pose:
        if place is not None:
            if x is not None or y is not None:
                raise RobotError("give either a place name or x/y, not both")
            if place not in self.places:
                raise RobotError(f"unknown place {place!r}; known places: {', '.join(sorted(self.places))}")
            px, py, pyaw = self.places[place]
            return Pose(x=px, y=py, yaw=pyaw if yaw is None else yaw)
        if x is None or y is None:
            raise RobotError(f"give a place name ({', '.join(sorted(self.places))}) or both x and y")
        return Pose(x=x, y=y, yaw=yaw or 0.0)

    async def plan(self, goal: Pose, extra_clearance: float = 0.0) -> tuple[PathPlan, Plan]:
        world = await self.world()
        pose = (await self.pose())[0]
        planner = self.planner(world, extra_clearance)
        plan = planner.plan((pose.x, pose.y), (goal.x, goal.y))
        if not plan.ok:
            return PathPlan(
                reachable=False, goal=goal, error_code=plan.error_code, reason=plan.error_msg
            ), plan
        max_v, max_w = await self.limits()
        step = max(1, len(plan.path) // 19)
        waypoints = [(round(px, 2), round(py, 2)) for px, py in plan.path[::step]]
        if waypoints[-1] != (round(goal.x, 2), round(goal.y, 2)):
            waypoints.append((round(goal.x, 2), round(goal.y, 2)))
        clearance = min(planner.costmap.clearance_at(px, py) for px, py in plan.path)
        eta = plan.length / (0.8 * max_v) + abs(goal.yaw - pose.yaw) / max_w
        return PathPlan(
            reachable=True,
            goal=goal,
            length_m=round(plan.length, 2),
            eta_s=round(eta, 1),
            waypoints=waypoints,
            min_clearance_m=round(clearance, 3),
        ), plan

    # ------------------------------------------------------------------- motion
    async def watch(self, limit_s: float = 2.0) -> CollisionMonitor:
        """Feed the collision monitor every odometry and scan message from now on, and wait
        (bounded) until it can place a scan; if it cannot, its checks stop linear motion."""
        if not self._monitor_fed:
            self._monitor_fed = True

            def on_odom(msg: dict[str, Any]) -> None:
                self.monitor.on_odom(msg, time.monotonic())
                self._fresh.set()

            def on_scan(msg: dict[str, Any]) -> None:
                self.monitor.on_scan(msg)
                self._fresh.set()

            await self.client.listen("/odom", "nav_msgs/msg/Odometry", on_odom)
            await self.client.listen("/scan", "sensor_msgs/msg/LaserScan", on_scan)
        fresh = self._fresh
        deadline = time.monotonic() + limit_s
        while self.monitor.points_now() is None and (left := deadline - time.monotonic()) > 0:
            fresh.clear()
            try:
                await asyncio.wait_for(fresh.wait(), left)
            except TimeoutError:
                break
        return self.monitor

    def _last_line(self) -> Decision | None:
        """Under navigation: the current motion, judged at the nominal period (Nav2 drives it)."""
        now = self.monitor.latest
        if now is None or abs(now.v) < 0.02:
            return None
        decision = self.monitor.check(now.v, now.w, nominal=True)
        return decision if decision.stop and decision.free_m is not None else None

    async def navigate(
        self, goal: Pose, progress: Progress | None = None, timeout_s: float | None = None
    ) -> NavOutcome:
        planned, _ = await self.plan(goal)
        start_pose = (await self.pose())[0]
        if not planned.reachable:  # refused before any motion, as Nav2 would
            return NavOutcome(
                status="refused",
                goal=goal,
                reached=False,
                distance_travelled_m=0.0,
                duration_s=0.0,
                final_pose=start_pose,
                error_code=planned.error_code,
                message=planned.reason,
            )
        self._stop.clear()
        if self.monitor.zones.enabled:
            await self.watch()
        t0 = time.monotonic()
        trail = [(start_pose.x, start_pose.y)]
        queue: asyncio.Queue[dict[str, Any]] = asyncio.Queue()

        def on_feedback(values: dict[str, Any]) -> None:
            queue.put_nowait(values)

        args = {
            "pose": {
                "header": {"frame_id": "map"},
                "pose": {
                    "position": {"x": goal.x, "y": goal.y, "z": 0.0},
                    "orientation": quaternion(goal.yaw),
                },
            }
        }
        last: dict[str, Any] = {}
        async with self.lease.hold("navigate"):  # dead-man: halts if the caller vanishes
            gid, result = await self.client.send_goal(ACTION, ACTION_TYPE, args, on_feedback)
            self.nav = Navigation(
                state="navigating", goal=goal, goal_id=gid, distance_remaining_m=planned.length_m
            )
            budget = timeout_s or max(60.0, 4 * (planned.eta_s or 60))
            try:
                while not result.done():
                    if time.monotonic() - t0 > budget:
                        await self.client.cancel_goal(ACTION, gid)
                        self.nav = self.nav.model_copy(update={"state": "canceled", "message": "timeout"})
                        return await self._outcome(
                            "timeout", goal, trail, t0, 0, f"no result within {budget:.0f}s", last
                        )
                    if self.monitor.zones.enabled and (halt := self._last_line()) is not None:
                        await self.client.cancel_goal(ACTION, gid)
                        await self._halt()
                        why = f"collision monitor: {halt.reason}"
                        log.warning("navigation stopped by the collision monitor", reason=halt.reason)
                        self.nav = self.nav.model_copy(update={"state": "canceled", "message": why})
                        return await self._outcome("canceled", goal, trail, t0, 0, why, last)
                    try:
                        fb = await asyncio.wait_for(queue.get(), 0.1)
                    except TimeoutError:
                        continue
                    last = fb
                    p = fb["current_pose"]["pose"]["position"]
                    trail.append((p["x"], p["y"]))
                    rem = float(fb.get("distance_remaining") or 0.0)
                    self.nav = self.nav.model_copy(update={"distance_remaining_m": round(rem, 2)})
                    if progress is not None:
                        done = max(0.0, (planned.length_m or 0) - rem)
                        await progress(done, planned.length_m, f"{rem:.1f} m to go")
                frame = result.result()
            except asyncio.CancelledError:  # the caller gave up: do not leave the robot driving
                await self.client.cancel_goal(ACTION, gid)
                self.nav = self.nav.model_copy(update={"state": "canceled", "message": "request cancelled"})
                raise
            values = frame.get("values") if isinstance(frame.get("values"), dict) else {}
            status = STATUS.get(int(frame.get("status", 0)), "aborted")
            msg = values.get("error_msg", "") if values else str(frame.get("values"))
            self.nav = self.nav.model_copy(
                update={
                    "state": status,
                    "message": msg,
                    "distance_remaining_m": 0.0 if status == "succeeded" else self.nav.distance_remaining_m,
                }
            )
            return await self._outcome(
                status, goal, trail, t0, int(values.get("error_code", 0) if values else 0), msg, last
            )

    async def _outcome(
        self,
        status: str,
        goal: Pose,
        trail: list[tuple[float, float]],
        t0: float,
        code: int,
        msg: str,
        last: dict[str, Any],
    ) -> NavOutcome:
        final = (await self.pose())[0]
        trail.append((final.x, final.y))
        dist = sum(math.dist(a, b) for a, b in itertools.pairwise(trail))
        reached = status == "succeeded" and math.dist((final.x, final.y), (goal.x, goal.y)) <= 0.25
        return NavOutcome(
            status=status,
            goal=goal,
            reached=reached,
            distance_travelled_m=round(dist, 2),
            duration_s=round(time.monotonic() - t0, 2),
            final_pose=final,
            error_code=code,
            message=msg,
            number_of_recoveries=int(last.get("number_of_recoveries", 0)),
        )

    async def cancel(self) -> Navigation:
        if self.nav.state == "navigating" and self.nav.goal_id:
            await self.client.cancel_goal(ACTION, self.nav.goal_id)
            self.nav = self.nav.model_copy(update={"state": "canceled", "message": "canceled by request"})
        return self.nav

    async def drive(
        self, linear: float, angular: float, duration: float, rate_hz: float = 10.0
    ) -> DriveResult:
        """Hold a velocity for a time; the collision monitor judges every command it sends."""
        max_v, max_w = await self.limits()
        v = max(-max_v, min(max_v, linear))
        w = max(-max_w, min(max_w, angular))
        clamped = (v, w) != (linear, angular)
        start = (await self.pose())[0]
        self._stop.clear()
        monitor = await self.watch() if self.monitor.zones.enabled else self.monitor
        try:
            async with self.lease.hold("drive"):
                run = await governed_drive(
                    _RosbridgeDrivePort(self.client, self._stop), monitor, v, w, duration, rate_hz
                )
        finally:
            await self._halt()  # always end stopped, even if the caller was cancelled
        if run.stop_reason in ("obstacle", "no_scan"):
            log.info("drive stopped by the collision monitor", reason=run.stop_detail)
        end = (await self.pose())[0]
        return DriveResult(
            linear_mps=v,
            angular_rps=w,
            duration_s=round(run.duration_s, 2),
            clamped=clamped,
            stopped_early=run.stopped_early,
            stop_reason=run.stop_reason,  # type: ignore[arg-type]
            stop_detail=run.stop_detail,
            obstacle_distance_m=run.obstacle_m,
            slowed=run.min_scale < 1.0,
            distance_travelled_m=round(math.dist((start.x, start.y), (end.x, end.y)), 3),
            final_pose=end,
        )

    async def _halt(self) -> None:
        zero = {"linear": {"x": 0.0, "y": 0.0, "z": 0.0}, "angular": {"x": 0.0, "y": 0.0, "z": 0.0}}
        await self.client.publish("/cmd_vel", "geometry_msgs/msg/Twist", zero)

    async def _lease_halt(self, reason: str) -> None:
        """The motion lease ended early: stop the drive loop, zero velocity, cancel the goal."""
        self._stop.set()
        await self._halt()
        if self.nav.state == "navigating" and self.nav.goal_id:
            await self.client.cancel_goal(ACTION, self.nav.goal_id)
            self.nav = self.nav.model_copy(update={"state": "canceled", "message": f"lease: {reason}"})

    async def aclose(self) -> None:
        """The caller's session is over: halt a motion still under the lease, then disconnect."""
        try:
            await self.lease.close()
        finally:
            await self.client.close()

    async def stop(self) -> RobotState:
        """E-stop: zero velocity now, abort any drive loop, cancel the active goal."""
        self._stop.set()
        self.estop_at = time.time()
        await self._halt()
        # The robot's own e-stop: a goal another process sent (a gateway, an agent run) halts too.
        await self.client.publish(ESTOP_TOPIC, "std_msgs/msg/String", {"data": "robot plane e-stop"})
        await self.cancel()
        return await self.state()
