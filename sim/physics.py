"""Differential-drive kinematics of a TurtleBot3 burger, with solid walls.

Commands are clamped to the speed limits, approached under acceleration limits, and
integrated in small fixed steps. A step whose new pose would overlap a wall is refused: the
robot stays where it was, stops, and the collision is counted and reported.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from auraison.geometry.grid import FREE, World
from auraison.geometry.pose import wrap

MAX_LINEAR = 0.22  # m/s, burger
MAX_ANGULAR = 2.84  # rad/s, burger
ACC_LINEAR = 2.5  # m/s², Nav2 TB3 config
ACC_ANGULAR = 3.2  # rad/s²
ROBOT_RADIUS = 0.105  # m, inscribed


@dataclass
class RobotState:
    x: float
    y: float
    yaw: float
    v: float = 0.0
    w: float = 0.0
    distance: float = 0.0  # odometer, metres
    collisions: int = 0  # contacts with a wall (pushing on against it is the same contact)
    in_collision: bool = False
    contact_odometer: float = 0.0


def finite(*values: float) -> bool:
    return all(isinstance(v, int | float) and math.isfinite(v) for v in values)


class Body:
    """Robot body against a world: collision checks and one integration step."""

    def __init__(self, world: World, radius: float = ROBOT_RADIUS) -> None:
        self.world = world
        self.radius = radius
        self._blocked = world.grid != FREE

    def collides(self, x: float, y: float) -> bool:
        """True if a disc of ``radius`` at (x, y) touches a wall, unknown space or the border."""
        w = self.world
        r, res = self.radius, w.resolution
        ox, oy = w.origin
        if not (ox + r <= x <= ox + w.width * res - r and oy + r <= y <= oy + w.height * res - r):
            return True
        x0, x1 = math.floor((x - r - ox) / res), math.floor((x + r - ox) / res)
        y0, y1 = math.floor((y - r - oy) / res), math.floor((y + r - oy) / res)
        window = self._blocked[max(y0, 0) : y1 + 1, max(x0, 0) : x1 + 1]
        if not window.any():
            return False
        iy, ix = np.nonzero(window)
        cx0 = ox + (ix + max(x0, 0)) * res  # cell rectangles' lower-left corners
        cy0 = oy + (iy + max(y0, 0)) * res
        dx = np.maximum(np.maximum(cx0 - x, 0), x - (cx0 + res))
        dy = np.maximum(np.maximum(cy0 - y, 0), y - (cy0 + res))
        return bool((dx * dx + dy * dy < r * r).any())

    def step(
        self,
        s: RobotState,
        v_cmd: float,
        w_cmd: float,
        dt: float,
        max_v: float = MAX_LINEAR,
        max_w: float = MAX_ANGULAR,
    ) -> bool:
        """Advance ``s`` by ``dt``; returns True if this step hit a wall."""
        v_cmd = max(-max_v, min(max_v, v_cmd))
        w_cmd = max(-max_w, min(max_w, w_cmd))
        s.v += max(-ACC_LINEAR * dt, min(ACC_LINEAR * dt, v_cmd - s.v))
        s.w += max(-ACC_ANGULAR * dt, min(ACC_ANGULAR * dt, w_cmd - s.w))
        yaw = s.yaw + s.w * dt
        mid = s.yaw + s.w * dt / 2
        nx, ny = s.x + s.v * math.cos(mid) * dt, s.y + s.v * math.sin(mid) * dt
        if s.v != 0.0 and self.collides(nx, ny):
            s.v = 0.0
            s.yaw = wrap(yaw)
            if not s.in_collision:
                s.collisions += 1
                s.contact_odometer = s.distance
            s.in_collision = True
            return True
        s.distance += math.hypot(nx - s.x, ny - s.y)
        s.x, s.y, s.yaw = nx, ny, wrap(yaw)
        if s.in_collision and s.distance - s.contact_odometer > 0.02:
            s.in_collision = False  # clear of the wall again
        return False
