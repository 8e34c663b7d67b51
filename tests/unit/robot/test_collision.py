"""The collision monitor's zones over hand-made scans and odometry (no simulator)."""

from __future__ import annotations

import math

import numpy as np
import pytest

from auraison.mcp_servers.robot.collision import CollisionMonitor, Zones, free_path, scan_points

R = 0.105


def wall_scan(stamp: float, wall_x: float | None = None, wall_y: float | None = None) -> dict:
    """A 360-beam scan (robot frame) of an infinite wall at x = wall_x and/or y = wall_y."""
    ranges: list[float | None] = []
    for i in range(360):
        a = math.radians(i)
        hits = []
        if wall_x is not None and math.cos(a) * wall_x > 1e-9:
            hits.append(wall_x / math.cos(a))
        if wall_y is not None and math.sin(a) * wall_y > 1e-9:
            hits.append(wall_y / math.sin(a))
        r = min(hits, default=math.inf)
        ranges.append(round(r, 3) if 0.12 <= r <= 3.5 else None)
    sec = math.floor(stamp)
    return {
        "header": {"stamp": {"sec": sec, "nanosec": int((stamp - sec) * 1e9)}, "frame_id": "base_scan"},
        "angle_min": 0.0,
        "angle_max": math.radians(359),
        "angle_increment": math.radians(1),
        "range_min": 0.12,
        "range_max": 3.5,
        "ranges": ranges,
    }


def odom(stamp: float, x: float = 0.0, y: float = 0.0, yaw: float = 0.0, v: float = 0.0, w: float = 0.0):
    sec = math.floor(stamp)
    return {
        "header": {"stamp": {"sec": sec, "nanosec": int((stamp - sec) * 1e9)}},
        "pose": {
            "pose": {
                "position": {"x": x, "y": y, "z": 0.0},
                "orientation": {"x": 0.0, "y": 0.0, "z": math.sin(yaw / 2), "w": math.cos(yaw / 2)},
            }
        },
        "twist": {"twist": {"linear": {"x": v}, "angular": {"z": w}}},
    }


def monitor_facing(wall_x: float | None, wall_y: float | None = None, v: float = 0.0) -> CollisionMonitor:
    m = CollisionMonitor(Zones())
    for k in range(4):
        m.on_odom(odom(10 + k / 30, v=v), received=k / 30)
    m.on_scan(wall_scan(10.05, wall_x, wall_y))
    return m


def test_free_path_forward_and_backward_use_their_own_side() -> None:
    ahead = scan_points(wall_scan(0.0, wall_x=0.5))
    assert free_path(ahead, 0.2, 0.0, R, 1.0) == pytest.approx(0.5 - R, abs=0.011)
    assert free_path(ahead, -0.2, 0.0, R, 1.0) is None  # reversing away from it
    behind = scan_points(wall_scan(0.0, wall_x=-0.4))
    assert free_path(behind, -0.1, 0.0, R, 1.0) == pytest.approx(0.4 - R, abs=0.011)
    assert free_path(behind, 0.1, 0.0, R, 1.0) is None


def test_an_arc_meets_a_wall_that_the_straight_line_misses() -> None:
    side = scan_points(wall_scan(0.0, wall_y=0.3))  # a wall along the left, parallel to travel
    assert free_path(side, 0.2, 0.0, R, 1.0) is None
    turning = free_path(side, 0.2, 1.0, R, 1.0)  # radius 0.2 m to the left
    assert turning is not None and turning < 0.4


def test_rotation_in_place_is_always_allowed() -> None:
    m = monitor_facing(0.13)  # nearly touching
    assert not m.check(0.0, 2.0).stop and m.check(0.0, 2.0).scale == 1.0
    assert m.check(0.2, 0.0).stop


def test_stop_slowdown_and_clear_zones() -> None:
    stop = monitor_facing(R + 0.08, v=0.22).check(0.22, 0.0)  # at full speed: 0.09 m to stop
    assert stop.stop and stop.scale == 0.0 and stop.free_m == pytest.approx(0.07, abs=0.011)
    assert "ahead" in stop.reason and "stop zone" in stop.reason
    slow = monitor_facing(R + 0.30).check(0.22, 0.0)
    assert not slow.stop and 0.3 <= slow.scale < 1.0 and slow.slowed
    creep = monitor_facing(R + 0.10).check(0.22, 0.0)  # from rest, slowed to a creep...
    assert not creep.stop and creep.scale == Zones().min_scale
    assert monitor_facing(R + 0.06).check(0.22, 0.0).stop  # ...that stops at the stop zone
    clear = monitor_facing(R + 1.5).check(0.22, 0.0)
    assert not clear.stop and clear.scale == 1.0 and clear.free_m is None


def test_a_faster_or_longer_period_stops_farther_out() -> None:
    m = monitor_facing(R + 0.16, v=0.22)
    assert not m.check(0.22, 0.0, period_s=0.1).stop
    assert m.check(0.22, 0.0, period_s=0.8).stop  # a sim at 8x real time: 0.18 m per period


def test_moving_away_from_a_wall_it_touches_is_allowed() -> None:
    m = monitor_facing(0.125)
    back = m.check(-0.1, 0.0)
    assert not back.stop and back.scale == 1.0


def test_the_scan_is_placed_by_odometry_at_its_stamp() -> None:
    """A scan 0.2 s old, seen 0.04 m further back: the wall is that much nearer now."""
    m = CollisionMonitor(Zones())
    for k in range(9):  # driving +x at 0.2 m/s, odometry at 30 Hz
        t = 10 + k / 30
        m.on_odom(odom(t, x=0.2 * (t - 10), v=0.2), received=k / 30)
    m.on_scan(wall_scan(10 + 2 / 30, wall_x=0.6))  # seen at x = 0.0133
    pts = m.points_now()
    assert pts is not None
    front = pts[np.argmin(np.abs(np.arctan2(pts[:, 1], pts[:, 0])))]
    assert front[0] == pytest.approx(0.6 - (0.2 * 8 / 30 - 0.2 * 2 / 30), abs=0.002)


def test_no_scan_or_a_stale_one_stops_motion_but_not_rotation() -> None:
    m = CollisionMonitor(Zones())
    m.on_odom(odom(5.0), received=0.0)
    d = m.check(0.1, 0.0)
    assert d.stop and d.free_m is None and "no recent laser scan" in d.reason
    m.on_scan(wall_scan(5.0, wall_x=2.0))
    assert not m.check(0.1, 0.0).stop
    m.on_odom(odom(5.0 + Zones().max_scan_age_s + 0.1), received=0.1)
    assert m.check(0.1, 0.0).stop and not m.check(0.0, 1.0).stop


def test_disabled_monitor_allows_everything() -> None:
    m = CollisionMonitor(Zones(enabled=False))
    assert m.check(0.22, 0.0) == m.check(-0.22, 1.0) and not m.check(0.22, 0.0).stop


def test_time_ratio_follows_a_faster_robot_clock() -> None:
    m = CollisionMonitor(Zones())
    for k in range(20):
        m.on_odom(odom(100 + 8 * k / 30), received=k / 30)
    assert m.time_ratio() == pytest.approx(8.0, rel=0.01)


def test_nominal_judges_at_the_robots_own_rates() -> None:
    """Under navigation (Nav2 drives) the stop zone does not grow with a sim's speed factor."""
    m = monitor_facing(R + 0.16, v=0.22)
    assert m.check(0.22, 0.0, period_s=0.8).stop
    assert not m.check(0.22, 0.0, period_s=0.8, nominal=True).stop
    assert monitor_facing(R + 0.07, v=0.22).check(0.22, 0.0, nominal=True).stop


def test_nominal_needs_a_scan_that_odometry_places_closely() -> None:
    m = CollisionMonitor(Zones())
    m.on_odom(odom(10.0, v=0.2), received=0.0)
    m.on_odom(odom(11.0, x=0.2, v=0.2), received=0.02)  # a sim at 50x: odometry 1 s apart
    m.on_scan(wall_scan(10.5, wall_x=0.3))
    assert m.points_now() is not None  # interpolated, for a drive holding one command
    assert m.points_now(max_gap_s=0.1) is None
    assert m.check(0.2, 0.0, nominal=True).free_m is None  # not judged: no placed scan
