"""The TurtleBot3's LDS-01 laser: 360 beams cast over the occupancy grid, with its range limits
and optional noise. (The camera is ``auraison.geometry.raycast.camera_jpeg``.)"""

from __future__ import annotations

import math

import numpy as np

from auraison.geometry.grid import World
from auraison.geometry.raycast import cast

SCAN_BEAMS = 360
RANGE_MIN, RANGE_MAX = 0.12, 3.5
ANGLE_INCREMENT = 2 * math.pi / SCAN_BEAMS
ANGLE_MAX = ANGLE_INCREMENT * (SCAN_BEAMS - 1)  # 6.2657 rad, like the LDS-01 driver


def laser_ranges(
    world: World,
    x: float,
    y: float,
    yaw: float,
    noise: float = 0.0,
    rng: np.random.Generator | None = None,
) -> list[float | None]:
    """360 ranges; ``None`` where the LDS-01 gets no return (beyond range or too close)."""
    angles = yaw + np.arange(SCAN_BEAMS) * ANGLE_INCREMENT
    dist, _ = cast(world, x, y, angles, RANGE_MAX)
    if noise and rng is not None:
        dist = dist + rng.normal(0.0, noise, dist.shape)
    valid = np.isfinite(dist) & (dist >= RANGE_MIN) & (dist <= RANGE_MAX)
    return [round(float(d), 3) if ok else None for d, ok in zip(dist, valid, strict=True)]
