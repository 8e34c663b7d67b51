"""Maze worlds: a readable YAML file → an occupancy grid, a start pose and named places.

A world file::

    name: maze_small
    resolution: 0.25          # metres per grid character
    origin: [0.0, 0.0]        # map-frame position of the grid's lower-left corner
    start: {x: 0.625, y: 0.625, yaw: 0.0}
    places:
      dock: {x: 0.625, y: 0.625}
      kitchen: {x: 5.6, y: 5.6, yaw: 1.57}
    grid: |                   # '#' wall, '.' free, '?' unknown (first line = top, max y)
      #########
      #.......#
    walls:                    # optional extra wall segments [x1, y1, x2, y2] in metres
      - [1.0, 0.0, 1.0, 2.0]

Every mistake is reported as ``WorldError`` naming the file, the line and the problem.
"""

from __future__ import annotations

import math
from importlib import resources
from pathlib import Path

import numpy as np
import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from .grid import FREE, UNKNOWN, WALL, World
from .yamllines import line_of

_CHARS = {".": FREE, " ": FREE, "#": WALL, "?": UNKNOWN}
BUILTIN = ("maze_small", "maze_medium", "maze_large")


class WorldError(ValueError):
    """A world file is malformed; the message names the file, line and problem."""


class PoseSpec(BaseModel):
    model_config = ConfigDict(extra="forbid")
    x: float
    y: float
    yaw: float = 0.0


class WorldSpec(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: str = Field(min_length=1, pattern=r"^[A-Za-z0-9_\-]+$")
    description: str = ""
    resolution: float = Field(gt=0.01, le=2.0)
    origin: tuple[float, float] = (0.0, 0.0)
    start: PoseSpec
    places: dict[str, PoseSpec] = {}
    grid: str = Field(min_length=1)
    walls: list[tuple[float, float, float, float]] = []


def builtin_path(name: str) -> Path:
    return Path(str(resources.files(__package__) / "worlds" / f"{name}.yaml"))


def load_world(name_or_path: str | Path) -> World:
    """Load a built-in world by name (``maze_small``…) or a user's YAML file by path."""
    text_name = str(name_or_path)
    if text_name in BUILTIN:
        path = builtin_path(text_name)
    else:
        path = Path(text_name).expanduser()
        if not path.is_file():
            raise WorldError(f"world {text_name!r} is neither a built-in ({', '.join(BUILTIN)}) nor a file")
    return parse_world(path.read_text(), str(path))


def parse_world(text: str, source: str = "<world>") -> World:
    try:
        root = yaml.compose(text)
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        line = f"line {mark.line + 1}" if mark else "somewhere"
        raise WorldError(f"{source}: {line}: not valid YAML: {getattr(exc, 'problem', exc)}") from None
    if not isinstance(data, dict):
        raise WorldError(f"{source}: line 1: a world file must be a mapping of keys")
    try:
        spec = WorldSpec.model_validate(data)
    except ValidationError as exc:
        err = exc.errors()[0]
        line = line_of(root, err["loc"])
        loc = ".".join(str(p) for p in err["loc"])
        raise WorldError(f"{source}: line {line}: {loc}: {err['msg']}") from None
    grid = _parse_grid(spec.grid, source, line_of(root, ("grid",)))
    world = World(
        name=spec.name,
        description=spec.description,
        resolution=spec.resolution,
        origin=spec.origin,
        grid=grid,
        start=(spec.start.x, spec.start.y, spec.start.yaw),
        places={k: (p.x, p.y, p.yaw) for k, p in spec.places.items()},
        source=source,
    )
    for seg in spec.walls:
        _rasterise(world, seg)
    _check_pose(world, "start", world.start, line_of(root, ("start",)), source)
    for name, pose in world.places.items():
        _check_pose(world, f"places.{name}", pose, line_of(root, ("places", name)), source)
    return world


def _parse_grid(text: str, source: str, first_line: int) -> np.ndarray:
    rows = [r for r in text.rstrip("\n").split("\n")]
    # A block scalar's content starts on the line after the `grid: |` key.
    start = first_line + 1
    width = max(len(r) for r in rows)
    out = np.full((len(rows), width), FREE, dtype=np.int8)
    for i, row in enumerate(rows):
        for j, ch in enumerate(row):
            if ch not in _CHARS:
                raise WorldError(
                    f"{source}: line {start + i}: grid column {j + 1}: unexpected {ch!r} "
                    "(use '#' wall, '.' free, '?' unknown)"
                )
            out[i, j] = _CHARS[ch]
    return np.flipud(out).copy()  # text's first line is the top (max y)


def _rasterise(world: World, seg: tuple[float, float, float, float]) -> None:
    x1, y1, x2, y2 = seg
    n = max(2, int(math.hypot(x2 - x1, y2 - y1) / (world.resolution / 4)) + 1)
    for t in np.linspace(0, 1, n):
        ix, iy = world.to_cell(x1 + t * (x2 - x1), y1 + t * (y2 - y1))
        if 0 <= ix < world.width and 0 <= iy < world.height:
            world.grid[iy, ix] = WALL


def _check_pose(world: World, what: str, pose: tuple[float, float, float], line: int, source: str) -> None:
    x, y, _ = pose
    if not world.in_bounds(x, y):
        w, h = world.size_m
        raise WorldError(
            f"{source}: line {line}: {what} ({x}, {y}) is outside the map "
            f"({world.origin[0]}..{world.origin[0] + w}, {world.origin[1]}..{world.origin[1] + h})"
        )
    if world.occupied(x, y):
        raise WorldError(f"{source}: line {line}: {what} ({x}, {y}) is inside a wall")


def generate_maze(cells_x: int, cells_y: int, corridor: int, seed: int) -> list[str]:
    """A perfect maze (randomised depth-first search) as grid rows, top row first.

    Used once to author the built-in worlds; kept so users can make more.
    """
    rng = np.random.default_rng(seed)
    step = corridor + 1
    w, h = cells_x * step + 1, cells_y * step + 1
    g = np.full((h, w), "#", dtype="<U1")
    visited = np.zeros((cells_y, cells_x), dtype=bool)
    stack = [(0, 0)]
    visited[0, 0] = True

    def carve(cx: int, cy: int) -> None:
        g[cy * step + 1 : cy * step + 1 + corridor, cx * step + 1 : cx * step + 1 + corridor] = "."

    carve(0, 0)
    while stack:
        cx, cy = stack[-1]
        nbrs = [
            (cx + dx, cy + dy)
            for dx, dy in ((1, 0), (-1, 0), (0, 1), (0, -1))
            if 0 <= cx + dx < cells_x and 0 <= cy + dy < cells_y and not visited[cy + dy, cx + dx]
        ]
        if not nbrs:
            stack.pop()
            continue
        nx, ny = nbrs[int(rng.integers(len(nbrs)))]
        visited[ny, nx] = True
        carve(nx, ny)
        if nx != cx:  # knock down the vertical wall between the two cells
            wx = max(cx, nx) * step
            g[cy * step + 1 : cy * step + 1 + corridor, wx] = "."
        else:
            wy = max(cy, ny) * step
            g[wy, cx * step + 1 : cx * step + 1 + corridor] = "."
        stack.append((nx, ny))
    # A few extra openings make loops, so there is more than one way round.
    for _ in range(max(1, cells_x * cells_y // 8)):
        cx, cy = int(rng.integers(cells_x - 1)), int(rng.integers(cells_y))
        g[cy * step + 1 : cy * step + 1 + corridor, (cx + 1) * step] = "."
    return ["".join(row) for row in g[::-1]]  # row 0 of g is y=0: flip so the top comes first


def maze_world(
    seed: int, cells_x: int = 4, cells_y: int = 4, corridor: int = 2, resolution: float = 0.25
) -> World:
    """A procedurally generated maze (``generate_maze``) as a ``World``: the start in the first
    cell's middle, a ``goal`` place in the middle of a cell picked by ``seed`` (never the start's).

    Synthetic data drives through thousands of these; the seed names the world, so any episode
    can be regenerated exactly."""
    if cells_x < 2 or cells_y < 1 or corridor < 1:
        raise WorldError(
            f"a maze needs at least 2×1 cells and corridors of 1 (got {cells_x}×{cells_y}, {corridor})"
        )
    rows = generate_maze(cells_x, cells_y, corridor, seed)
    grid = np.flipud(np.array([[_CHARS[c] for c in row] for row in rows], dtype=np.int8)).copy()
    step = corridor + 1

    def centre(cx: int, cy: int) -> tuple[float, float]:
        return ((cx * step + 1 + corridor / 2) * resolution, (cy * step + 1 + corridor / 2) * resolution)

    rng = np.random.default_rng(seed)
    cell = int(rng.integers(1, cells_x * cells_y))  # any cell but the start's
    gx, gy = centre(cell % cells_x, cell // cells_x)
    sx, sy = centre(0, 0)
    return World(
        name=f"maze_{cells_x}x{cells_y}_s{seed}",
        description=f"generated maze, {cells_x}×{cells_y} cells, seed {seed}",
        resolution=resolution,
        origin=(0.0, 0.0),
        grid=grid,
        start=(sx, sy, 0.0),
        places={"start": (sx, sy, 0.0), "goal": (gx, gy, 0.0)},
        source=f"generated:maze:{cells_x}x{cells_y}:{corridor}:{seed}",
    )
