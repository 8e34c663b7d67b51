"""Planar pose math: yaw ↔ quaternion, angle wrapping and headings.

One copy: the simulator writes orientations into its messages, the robot plane reads them from
odometry and goals, and both compare angles — a second copy could disagree on a sign.
"""

from __future__ import annotations

import math


def quaternion(yaw: float) -> dict[str, float]:
    """A rotation of ``yaw`` about z as a ROS ``geometry_msgs/Quaternion``."""
    return {"x": 0.0, "y": 0.0, "z": math.sin(yaw / 2), "w": math.cos(yaw / 2)}


def yaw_of(q: dict[str, float]) -> float:
    """The z rotation of a quaternion (missing components count as 0; all zero is yaw 0)."""
    x, y, z, w = (float(q.get(k, 0.0)) for k in ("x", "y", "z", "w"))
    return math.atan2(2 * (w * z + x * y), 1 - 2 * (y * y + z * z))


def wrap(angle: float) -> float:
    """``angle`` in [-π, π)."""
    return (angle + math.pi) % (2 * math.pi) - math.pi


def heading(a: tuple[float, float], b: tuple[float, float]) -> float:
    """Direction of travel from point ``a`` to point ``b``."""
    return math.atan2(b[1] - a[1], b[0] - a[0])
