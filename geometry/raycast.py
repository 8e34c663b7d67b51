"""Rays over the occupancy grid: distance to the first wall, and a first-person picture.

Shared: the simulator's laser and camera are these rays, and the world plane renders the
frames of a predicted rollout with the same camera, so both see the maze alike.
"""

from __future__ import annotations

import io
import math

import numpy as np
from PIL import Image

from .grid import FREE, World


def cast(
    world: World, x: float, y: float, angles: np.ndarray, max_range: float, step: float = 0.01
) -> tuple[np.ndarray, np.ndarray]:
    """Distance to the first non-free cell along each ray (``inf`` if none within range),
    and whether that hit was on a cell face crossing x (for shading)."""
    ts = np.arange(step, max_range + step, step)
    dx, dy = np.cos(angles)[:, None], np.sin(angles)[:, None]
    px, py = x + dx * ts, y + dy * ts
    ix = np.floor((px - world.origin[0]) / world.resolution).astype(np.int64)
    iy = np.floor((py - world.origin[1]) / world.resolution).astype(np.int64)
    inside = (ix >= 0) & (ix < world.width) & (iy >= 0) & (iy < world.height)
    blocked = ~inside
    blocked[inside] = world.grid[iy[inside], ix[inside]] != FREE
    hit = blocked.any(axis=1)
    first = blocked.argmax(axis=1)
    dist = np.where(hit, ts[first], np.inf)
    # A hit whose x-cell changed at the last step struck a face perpendicular to x.
    prev = np.maximum(first - 1, 0)
    rows = np.arange(len(angles))
    xface = ix[rows, first] != ix[rows, prev]
    return dist, xface


def camera_jpeg(
    world: World,
    x: float,
    y: float,
    yaw: float,
    width: int = 160,
    height: int = 120,
    fov: float = math.radians(62.2),
    quality: int = 70,
) -> bytes:
    """A first-person view: walls as shaded columns over floor and ceiling (ray casting)."""
    buf = io.BytesIO()
    Image.fromarray(camera_pixels(world, x, y, yaw, width, height, fov)).save(
        buf, format="JPEG", quality=quality
    )
    return buf.getvalue()


def camera_pixels(
    world: World,
    x: float,
    y: float,
    yaw: float,
    width: int = 160,
    height: int = 120,
    fov: float = math.radians(62.2),
) -> np.ndarray:
    """The first-person view as an RGB array (height, width, 3): the camera the simulator
    publishes as JPEG, and the frames synthetic data stores losslessly as PNG."""
    cols = np.arange(width)
    angles = yaw + np.arctan((1 - 2 * (cols + 0.5) / width) * math.tan(fov / 2))
    dist, xface = cast(world, x, y, angles, 6.0, step=0.03)
    perp = dist * np.cos(angles - yaw)  # no fish-eye
    wall_h = np.where(np.isfinite(perp), np.minimum(height * 0.35 / np.maximum(perp, 1e-3), 4 * height), 0)
    img = np.empty((height, width, 3), dtype=np.uint8)
    rows = np.arange(height)[:, None]
    horizon = height / 2
    img[:] = np.where(rows < horizon, 1, 0)[..., None] * np.array([200, 215, 235], np.uint8) + np.where(
        rows >= horizon, 1, 0
    )[..., None] * np.array([120, 110, 95], np.uint8)
    shade = np.clip(1.0 - np.nan_to_num(perp, posinf=6.0) / 7.0, 0.25, 1.0)
    base = np.where(xface, 1.0, 0.8)[None, :, None] * np.array([70, 110, 170])[None, None, :]
    color = (base * shade[None, :, None]).astype(np.uint8)
    top = horizon - wall_h / 2
    bottom = horizon + wall_h / 2
    mask = (rows >= top[None, :]) & (rows < bottom[None, :])
    img[mask] = np.broadcast_to(color, (height, width, 3))[mask]
    return img
