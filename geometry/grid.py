"""The occupancy grid a robot moves in: ``World`` and its cell values.

Cell values follow ROS ``nav_msgs/OccupancyGrid`` (0 free, 100 wall, -1 unknown), so a map the
robot publishes and a world file read from disk are the same object to the planner.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

FREE, WALL, UNKNOWN = 0, 100, -1


@dataclass
class World:
    """A loaded world: ``grid[iy, ix]`` with row 0 at the origin (ROS OccupancyGrid order)."""

    name: str
    description: str
    resolution: float
    origin: tuple[float, float]
    grid: np.ndarray  # int8, (height, width)
    start: tuple[float, float, float]
    places: dict[str, tuple[float, float, float]] = field(default_factory=dict)
    source: str = ""

    @property
    def width(self) -> int:
        return int(self.grid.shape[1])

    @property
    def height(self) -> int:
        return int(self.grid.shape[0])

    @property
    def size_m(self) -> tuple[float, float]:
        return self.width * self.resolution, self.height * self.resolution

    def to_cell(self, x: float, y: float) -> tuple[int, int]:
        """(ix, iy) of the cell holding a map-frame point (may be outside the grid)."""
        return (
            math.floor((x - self.origin[0]) / self.resolution),
            math.floor((y - self.origin[1]) / self.resolution),
        )

    def in_bounds(self, x: float, y: float) -> bool:
        ix, iy = self.to_cell(x, y)
        return 0 <= ix < self.width and 0 <= iy < self.height

    def occupied(self, x: float, y: float) -> bool:
        """Walls, unknown space and everything outside the map count as occupied."""
        ix, iy = self.to_cell(x, y)
        if not (0 <= ix < self.width and 0 <= iy < self.height):
            return True
        return bool(self.grid[iy, ix] != FREE)

    def cell_center(self, ix: int, iy: int) -> tuple[float, float]:
        return (
            self.origin[0] + (ix + 0.5) * self.resolution,
            self.origin[1] + (iy + 0.5) * self.resolution,
        )
