"""Global planning the Nav2 way: an inflated costmap and a shortest path over it.

The costmap is the world grid upsampled (finer cells), with a Euclidean distance transform
giving every cell its clearance. Cells closer to a wall than the robot's inscribed radius plus
a margin are lethal; cost rises smoothly inside the inflation radius so paths keep to the
middle of corridors. Planning is one Dijkstra in C (``scipy.sparse.csgraph``) over the free
cells' 8-connected graph, built once per world. Error codes follow Nav2 Jazzy's
``ComputePathToPose`` result.
"""

from __future__ import annotations

import itertools
import math
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:  # SciPy is imported where it works: a gateway start imports this module
    from scipy.sparse import csr_matrix

from .grid import FREE, World

# nav2_msgs/action/ComputePathToPose error codes (Jazzy).
START_OUTSIDE_MAP, GOAL_OUTSIDE_MAP = 203, 204
START_OCCUPIED, GOAL_OCCUPIED = 205, 206
NO_VALID_PATH = 208


@dataclass(frozen=True)
class CostmapConfig:
    robot_radius: float = 0.105  # TurtleBot3 burger, inscribed
    safety_margin: float = 0.03
    inflation_radius: float = 0.45
    cost_scaling: float = 8.0
    upsample: int = 2

    @property
    def lethal_radius(self) -> float:
        return self.robot_radius + self.safety_margin


@dataclass
class Plan:
    ok: bool
    error_code: int = 0
    error_msg: str = ""
    path: list[tuple[float, float]] = field(default_factory=list)

    corners: list[tuple[float, float]] = field(default_factory=list)  # the path before densifying
    _tail: list[float] = field(default_factory=list, repr=False)

    @property
    def length(self) -> float:
        return self.remaining_from(0)

    def remaining_from(self, i: int) -> float:
        """Path length from waypoint ``i`` to the end (suffix sums, computed once)."""
        if len(self._tail) != len(self.path):
            tail = [0.0] * len(self.path)
            for k in range(len(self.path) - 2, -1, -1):
                tail[k] = tail[k + 1] + math.dist(self.path[k], self.path[k + 1])
            self._tail = tail
        return self._tail[i] if self.path else 0.0


class Costmap:
    """Clearance and traversal cost on a grid ``upsample`` times finer than the map."""

    def __init__(self, world: World, config: CostmapConfig | None = None) -> None:
        self.world = world
        self.cfg = config or CostmapConfig()
        k = self.cfg.upsample
        self.res = world.resolution / k
        blocked = np.kron(world.grid != FREE, np.ones((k, k), dtype=bool))
        # Distance from each cell centre to the nearest blocked cell centre, less half a cell
        # (to its edge). The map border counts as a wall.
        padded = np.pad(blocked, 1, constant_values=True)
        from scipy import ndimage  # here, not at import: every gateway start imports the planner

        dist = ndimage.distance_transform_edt(~padded)[1:-1, 1:-1] * self.res
        self.clearance = np.where(blocked, 0.0, dist - self.res / 2)
        self.lethal = self.clearance < self.cfg.lethal_radius
        excess = np.clip(self.clearance - self.cfg.lethal_radius, 0, None)
        self.cost = 1.0 + self.cfg.cost_scaling * np.exp(-excess / 0.1) * (
            self.clearance < self.cfg.inflation_radius
        )
        self.shape = self.clearance.shape
        self._graph = self._build_graph()

    # ------------------------------------------------------------------ geometry
    def to_cell(self, x: float, y: float) -> tuple[int, int]:
        ox, oy = self.world.origin
        return math.floor((x - ox) / self.res), math.floor((y - oy) / self.res)

    def center(self, ix: int, iy: int) -> tuple[float, float]:
        ox, oy = self.world.origin
        return ox + (ix + 0.5) * self.res, oy + (iy + 0.5) * self.res

    def inside(self, ix: int, iy: int) -> bool:
        return 0 <= ix < self.shape[1] and 0 <= iy < self.shape[0]

    def clearance_at(self, x: float, y: float) -> float:
        ix, iy = self.to_cell(x, y)
        return float(self.clearance[iy, ix]) if self.inside(ix, iy) else 0.0

    def is_free(self, x: float, y: float) -> bool:
        ix, iy = self.to_cell(x, y)
        return self.inside(ix, iy) and not self.lethal[iy, ix]

    # --------------------------------------------------------------------- graph
    def _build_graph(self) -> csr_matrix:
        from scipy.sparse import csr_matrix

        h, w = self.shape
        ids = np.arange(h * w).reshape(h, w)
        free = ~self.lethal
        rows, cols, weights = [], [], []
        for dy, dx in ((0, 1), (1, 0), (1, 1), (1, -1)):
            step = math.hypot(dx, dy) * self.res
            a = (slice(0, h - dy), slice(max(0, -dx), w - max(0, dx)))
            b = (slice(dy, h), slice(max(0, dx), w + min(0, dx)))
            ok = free[a] & free[b]
            if dx and dy:  # no corner cutting past a lethal cell
                ok &= free[(slice(0, h - dy), b[1])] & free[(slice(dy, h), a[1])]
            wgt = step * (self.cost[a] + self.cost[b]) / 2
            rows.append(ids[a][ok])
            cols.append(ids[b][ok])
            weights.append(wgt[ok])
        r, c, wt = np.concatenate(rows), np.concatenate(cols), np.concatenate(weights)
        n = h * w
        return csr_matrix(
            (np.concatenate([wt, wt]), (np.concatenate([r, c]), np.concatenate([c, r]))),
            shape=(n, n),
        )

    def nearest_free(self, x: float, y: float, radius: float = 0.3) -> tuple[int, int] | None:
        """The non-lethal cell nearest to a point, within ``radius`` (recovers a start pose
        that ended up in the inflated zone, as Nav2's planners tolerate)."""
        ix, iy = self.to_cell(x, y)
        r = math.ceil(radius / self.res)
        best, best_d = None, float("inf")
        for jy in range(iy - r, iy + r + 1):
            for jx in range(ix - r, ix + r + 1):
                if self.inside(jx, jy) and not self.lethal[jy, jx]:
                    d = math.dist(self.center(jx, jy), (x, y))
                    if d < best_d:
                        best, best_d = (jx, jy), d
        return best if best_d <= radius else None


class Planner:
    """Shortest safe path between two map-frame points, or a Nav2-style refusal."""

    def __init__(self, costmap: Costmap) -> None:
        self.costmap = costmap

    def plan(self, start: tuple[float, float], goal: tuple[float, float]) -> Plan:
        cm, world = self.costmap, self.costmap.world
        if not world.in_bounds(*start):
            return Plan(False, START_OUTSIDE_MAP, f"start {_fmt(start)} is outside the map")
        if not world.in_bounds(*goal):
            w, h = world.size_m
            return Plan(
                False,
                GOAL_OUTSIDE_MAP,
                f"goal {_fmt(goal)} is outside the map (0..{w:g}, 0..{h:g} m)",
            )
        if not cm.is_free(*goal):
            what = "inside a wall" if world.occupied(*goal) else "too close to a wall"
            return Plan(False, GOAL_OCCUPIED, f"goal {_fmt(goal)} is {what}")
        s = cm.nearest_free(*start)
        if s is None:
            return Plan(False, START_OCCUPIED, f"start {_fmt(start)} is inside an obstacle")
        g = cm.to_cell(*goal)
        w = cm.shape[1]
        s_id, g_id = s[1] * w + s[0], g[1] * w + g[0]
        from scipy.sparse.csgraph import dijkstra

        dist, pred = dijkstra(cm._graph, indices=s_id, return_predecessors=True)
        if not np.isfinite(dist[g_id]):
            return Plan(False, NO_VALID_PATH, f"no path from {_fmt(start)} to {_fmt(goal)}")
        cells = [g_id]
        while cells[-1] != s_id:
            cells.append(int(pred[cells[-1]]))
        cells.reverse()
        pts = [cm.center(c % w, c // w) for c in cells]
        pts = [start, *pts[1:-1], goal] if len(pts) > 1 else [start, goal]
        corners = self.shortcut(pts)
        return Plan(True, path=densify(corners, 0.05), corners=corners)

    def reachable(self, start: tuple[float, float], goal: tuple[float, float]) -> bool:
        return self.plan(start, goal).ok

    def shortcut(self, pts: list[tuple[float, float]]) -> list[tuple[float, float]]:
        """Drop waypoints while the straight line keeps the clearance the path already had."""
        cm = self.costmap
        clear = [cm.clearance_at(*p) for p in pts]
        out, i = [pts[0]], 0
        while i < len(pts) - 1:
            j, need = i + 1, min(clear[i], clear[i + 1])
            while j + 1 < len(pts):  # extend greedily while the straight line stays as clear
                nxt = min(need, clear[j + 1])
                if not self._segment_clear(pts[i], pts[j + 1], min(0.3, nxt)):
                    break
                j, need = j + 1, nxt
            out.append(pts[j])
            i = j
        return out

    def _segment_clear(self, a: tuple[float, float], b: tuple[float, float], need: float) -> bool:
        n = max(2, int(math.dist(a, b) / (self.costmap.res / 2)) + 1)
        xs, ys = np.linspace(a[0], b[0], n), np.linspace(a[1], b[1], n)
        cm = self.costmap
        ox, oy = cm.world.origin
        ix = np.floor((xs - ox) / cm.res).astype(int)
        iy = np.floor((ys - oy) / cm.res).astype(int)
        if ix.min() < 0 or iy.min() < 0 or ix.max() >= cm.shape[1] or iy.max() >= cm.shape[0]:
            return False
        c = cm.clearance[iy, ix]
        return bool((c >= need - 1e-9).all() and not cm.lethal[iy, ix].any())


def densify(pts: list[tuple[float, float]], spacing: float) -> list[tuple[float, float]]:
    out = [pts[0]]
    for a, b in itertools.pairwise(pts):
        n = max(1, math.ceil(math.dist(a, b) / spacing))
        out += [(a[0] + (b[0] - a[0]) * t / n, a[1] + (b[1] - a[1]) * t / n) for t in range(1, n + 1)]
    return out


def _fmt(p: tuple[float, float]) -> str:
    return f"({p[0]:.2f}, {p[1]:.2f})"
