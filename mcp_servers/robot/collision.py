"""The collision monitor: a stop zone and a slowdown zone ahead of the direction of travel.

Modelled on Nav2's Collision Monitor, and kept in the robot plane (the simulator stays a
faithful robot that knows nothing of it). It is fed the robot's own odometry and laser scans
as they arrive and judges every velocity the plane is about to command:

* the scan's returns are placed where they were seen (the odometry pose at the scan's stamp),
  then brought into the robot's frame *now*, so a scan up to its period old still lines up;
* the commanded (v, w) is projected as an arc, and the footprint disc is swept along it (the
  rear for a negative v) to find the free path length before contact;
* the robot still covers ``reach`` after a decision: one control period plus the odometry's
  own age at speed, then the braking distance. A free length within ``reach + stop`` stops
  the motion; within ``reach + slowdown`` the speed is scaled down, the arc kept.

Rotation in place sweeps nothing and is always allowed. Everything here is pure and
synchronous, so it is tested without a simulator; ``motion.py`` runs it in the drive loop.
"""

from __future__ import annotations

import bisect
import itertools
import math
from collections import deque
from dataclasses import dataclass
from typing import Any

import numpy as np

from auraison.geometry.pose import wrap, yaw_of
from auraison.settings import CollisionMonitorSettings

STEP_M = 0.01  # arc sampling along the path
RANGE_ERROR_M = 0.01  # the LDS-01's range resolution (and the sim's ray step)
POSE_TOLERANCE_S = 0.1  # a scan further than this from any odometry cannot be placed
NOMINAL_ODOM_S = 1 / 30  # a TurtleBot3's odometry period


@dataclass(frozen=True)
class Zones:
    """Zone sizes and the robot's limits that set the stopping distance."""

    footprint_m: float = 0.105
    stop_m: float = 0.05
    slowdown_m: float = 0.30
    min_scale: float = 0.3  # slowest fraction of the command inside the slowdown zone
    decel_mps2: float = 2.5  # TurtleBot3 linear acceleration limit (Nav2 config)
    control_period_s: float = 0.1  # the plane's nominal command period
    max_scan_age_s: float = 2.0  # robot time; older scans are not trusted at all
    enabled: bool = True

    @classmethod
    def from_settings(cls, s: CollisionMonitorSettings) -> Zones:
        return cls(
            footprint_m=s.footprint_radius_m,
            stop_m=s.stop_distance_m,
            slowdown_m=max(s.slowdown_distance_m, s.stop_distance_m),
            enabled=s.enabled,
        )

    def reach(self, speed: float, period_s: float) -> float:
        """Distance still covered after a decision: the period at speed, then braking."""
        return speed * period_s + speed * speed / (2 * self.decel_mps2)


@dataclass(frozen=True)
class Decision:
    """What to do with one command: scale it (1 = as asked, 0 = stop) and why."""

    scale: float
    stop: bool
    reason: str = ""
    free_m: float | None = None  # free path length before the footprint touches (None: clear)
    direction: str = "ahead"

    @property
    def slowed(self) -> bool:
        return 0.0 < self.scale < 1.0


ALLOW = Decision(scale=1.0, stop=False)


@dataclass(frozen=True)
class Odom:
    stamp: float
    x: float
    y: float
    yaw: float
    v: float
    w: float
    received: float = 0.0  # the monitor's clock when it arrived


def stamp_of(msg: dict[str, Any]) -> float:
    st = msg.get("header", {}).get("stamp", {})
    return float(st.get("sec", 0)) + float(st.get("nanosec", 0)) * 1e-9


def odom_from_msg(msg: dict[str, Any], received: float = 0.0) -> Odom:
    p = msg["pose"]["pose"]
    twist = msg["twist"]["twist"]
    return Odom(
        stamp=stamp_of(msg),
        x=float(p["position"]["x"]),
        y=float(p["position"]["y"]),
        yaw=yaw_of(p["orientation"]),
        v=float(twist["linear"]["x"]),
        w=float(twist["angular"]["z"]),
        received=received,
    )


def scan_points(msg: dict[str, Any]) -> np.ndarray:
    """A LaserScan's valid returns as (N, 2) points in the robot frame (None/NaN/out of range dropped)."""
    ranges = np.array([np.nan if r is None else float(r) for r in msg["ranges"]], dtype=float)
    angles = float(msg["angle_min"]) + np.arange(len(ranges)) * float(msg["angle_increment"])
    ok = np.isfinite(ranges) & (ranges >= float(msg["range_min"])) & (ranges <= float(msg["range_max"]))
    r, a = ranges[ok], angles[ok]
    return np.column_stack((r * np.cos(a), r * np.sin(a)))


def free_path(points: np.ndarray, v: float, w: float, radius: float, horizon_m: float) -> float | None:
    """Path length along the arc of (v, w) before a disc of ``radius`` touches a point.

    Only points ahead of the direction of travel at each sample count, so a robot already
    touching something behind (or beside) may still move away from it. None: clear within
    ``horizon_m``."""
    if abs(v) < 1e-6 or len(points) == 0:
        return None
    s = 1.0 if v > 0 else -1.0
    k = w / abs(v)
    d = np.arange(0.0, horizon_m + STEP_M, STEP_M)
    theta = k * d
    if abs(k) < 1e-9:
        px, py = s * d, np.zeros_like(d)
    else:
        px, py = s * np.sin(theta) / k, s * (1 - np.cos(theta)) / k
    dx = points[None, :, 0] - px[:, None]
    dy = points[None, :, 1] - py[:, None]
    ahead = (dx * np.cos(theta)[:, None] + dy * np.sin(theta)[:, None]) * s > 0
    hit = ((dx * dx + dy * dy) < radius * radius) & ahead
    rows = np.flatnonzero(hit.any(axis=1))
    return max(0.0, float(d[rows[0]]) - STEP_M) if len(rows) else None  # the last clear sample


class CollisionMonitor:
    """Keeps recent odometry and the latest scan; ``check`` judges one command."""

    def __init__(self, zones: Zones | None = None, history: int = 256) -> None:
        self.zones = zones or Zones()
        self._odom: deque[Odom] = deque(maxlen=history)
        self._scans: deque[tuple[float, np.ndarray]] = deque(maxlen=4)

    # ------------------------------------------------------------------ inputs
    def on_odom(self, msg: dict[str, Any], received: float) -> None:
        """One odometry message, and when it arrived by the drive loop's clock."""
        o = odom_from_msg(msg, received)
        if self._odom and o.stamp < self._odom[-1].stamp:
            self._odom.clear()  # the robot's clock went back (a restarted sim): start over
        self._odom.append(o)

    def on_scan(self, msg: dict[str, Any]) -> None:
        self._scans.append((stamp_of(msg), scan_points(msg)))

    @property
    def latest(self) -> Odom | None:
        return self._odom[-1] if self._odom else None

    def odom_interval(self) -> float:
        """Typical gap between odometry samples (robot time): how stale the latest may be."""
        if len(self._odom) < 2:
            return 0.05
        tail = list(self._odom)[-10:]
        gaps = sorted(b.stamp - a.stamp for a, b in itertools.pairwise(tail))
        return gaps[len(gaps) // 2]

    def time_ratio(self) -> float:
        """Robot seconds per second of the loop's clock (a sim at 8x real time: about 8)."""
        if len(self._odom) < 2:
            return 1.0
        a, b = self._odom[0], self._odom[-1]
        if b.received - a.received < 0.2:
            return 1.0
        return max(1.0, (b.stamp - a.stamp) / (b.received - a.received))

    def pose_at(self, t: float, max_gap_s: float = math.inf) -> tuple[float, float, float] | None:
        """The odometry pose at robot time ``t``, interpolated between samples at most
        ``max_gap_s`` apart; None if no sample is near enough."""
        h = self._odom
        if not h:
            return None
        stamps = [o.stamp for o in h]
        i = bisect.bisect_left(stamps, t)
        if i == 0:
            first = h[0]
            still = abs(first.v) < 1e-3 and abs(first.w) < 1e-3
            return (first.x, first.y, first.yaw) if still or first.stamp - t <= POSE_TOLERANCE_S else None
        if i == len(h):  # newer than the odometry: carry the last twist forward a little
            last = h[-1]
            dt = t - last.stamp
            if dt > max(POSE_TOLERANCE_S, 1.5 * self.odom_interval()):
                return None
            mid = last.yaw + last.w * dt / 2
            return (
                last.x + last.v * dt * math.cos(mid),
                last.y + last.v * dt * math.sin(mid),
                last.yaw + last.w * dt,
            )
        a, b = h[i - 1], h[i]
        if b.stamp - a.stamp > max_gap_s:
            near = a if t - a.stamp <= b.stamp - t else b
            return (near.x, near.y, near.yaw) if abs(t - near.stamp) <= 1e-3 else None
        f = (t - a.stamp) / (b.stamp - a.stamp) if b.stamp > a.stamp else 1.0
        return (a.x + f * (b.x - a.x), a.y + f * (b.y - a.y), a.yaw + f * wrap(b.yaw - a.yaw))

    def points_now(self, max_gap_s: float = math.inf) -> np.ndarray | None:
        """The newest scan that odometry can place, in the robot frame at the latest odometry;
        None if there is none (no scan yet, or all too old)."""
        if not self._odom:
            return None
        now = self._odom[-1]
        for stamp, pts in reversed(self._scans):
            if now.stamp - stamp > self.zones.max_scan_age_s:
                return None
            seen = self.pose_at(stamp, max_gap_s)
            if seen is None:
                continue
            sx, sy, syaw = seen
            c, s = math.cos(syaw), math.sin(syaw)
            wx, wy = sx + c * pts[:, 0] - s * pts[:, 1], sy + s * pts[:, 0] + c * pts[:, 1]
            c, s = math.cos(now.yaw), math.sin(now.yaw)
            dx, dy = wx - now.x, wy - now.y
            return np.column_stack((c * dx + s * dy, -s * dx + c * dy))
        return None

    # ------------------------------------------------------------------ verdict
    def check(self, v: float, w: float, period_s: float | None = None, nominal: bool = False) -> Decision:
        """Judge (v, w) about to be commanded for the next ``period_s`` of robot time.

        ``nominal``: judge the robot as if it ran at its own rates (the last line under Nav2,
        which commands the robot itself): a fixed stopping distance, and only a scan that
        odometry places closely (a sim far faster than real time spaces them too widely)."""
        z = self.zones
        if not z.enabled or abs(v) < 1e-6:
            return ALLOW  # rotation in place sweeps nothing
        direction = "ahead" if v > 0 else "behind"
        pts = self.points_now(POSE_TOLERANCE_S if nominal else math.inf)
        if pts is None:
            return Decision(0.0, True, "no recent laser scan to check the path against", None, direction)
        if nominal:
            latency = z.control_period_s + NOMINAL_ODOM_S
        else:
            latency = max(period_s or 0.0, z.control_period_s) + self.odom_interval()
        now = self._odom[-1]
        horizon = z.reach(abs(v), latency) + z.slowdown_m + 0.05
        free = free_path(pts, v, w, z.footprint_m + RANGE_ERROR_M, horizon)
        if free is None:
            return Decision(1.0, False, "", None, direction)
        margin = free - z.reach(abs(v), latency)
        scale = 1.0
        if margin < z.slowdown_m and z.slowdown_m > z.stop_m:
            scale = min(1.0, max(z.min_scale, (margin - z.stop_m) / (z.slowdown_m - z.stop_m)))
        speed = max(abs(v) * scale, abs(now.v))
        zone = z.reach(speed, latency) + z.stop_m
        if free <= zone:
            return Decision(
                0.0,
                True,
                f"obstacle {free:.2f} m {direction} along the path, inside the stop zone "
                f"({zone:.2f} m at {speed:.2f} m/s)",
                round(free, 3),
                direction,
            )
        reason = f"obstacle {free:.2f} m {direction}: slowed to {scale:.0%}" if scale < 1 else ""
        return Decision(scale, False, reason, round(free, 3), direction)
