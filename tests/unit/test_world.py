"""World files: built-ins load, user files load, and every mistake names its line."""

from __future__ import annotations

from pathlib import Path

import pytest

from auraison.geometry.grid import FREE, WALL
from auraison.geometry.worldfile import BUILTIN, WorldError, load_world, parse_world

GOOD = """\
name: tiny
resolution: 0.5
start: {x: 0.75, y: 0.75}
places:
  door: {x: 1.75, y: 0.75, yaw: 1.0}
grid: |
  #####
  #...#
  #...#
  #####
"""


def test_builtins_load_with_places_and_size() -> None:
    sizes = {}
    for name in BUILTIN:
        w = load_world(name)
        assert {"dock", "kitchen", "lab"} <= set(w.places)
        sizes[name] = w.size_m
        assert not w.occupied(*w.start[:2])
    assert min(sizes["maze_large"]) >= 20.0


def test_grid_rows_map_top_line_to_max_y() -> None:
    w = parse_world(GOOD.replace("  #...#\n", "  #..##\n", 1))
    # the second text line (third from the bottom) has a wall at column 4 -> iy = 2, ix = 3
    assert w.grid[2, 3] == WALL and w.grid[1, 3] == FREE
    assert w.places["door"] == (1.75, 0.75, 1.0)


def test_user_file_by_path(tmp_path: Path) -> None:
    path = tmp_path / "mine.yaml"
    path.write_text(GOOD)
    assert load_world(path).name == "tiny"


@pytest.mark.parametrize(
    ("text", "line", "needle"),
    [
        (GOOD.replace("resolution: 0.5", "resolution: fast"), 2, "resolution"),
        (GOOD.replace("start: {x: 0.75, y: 0.75}", "start: {x: 0.75}"), 3, "start.y"),
        (GOOD.replace("  #...#\n  #####", "  #.X.#\n  #####"), 9, "'X'"),
        (GOOD.replace("door: {x: 1.75", "door: {x: 0.25"), 5, "inside a wall"),
        (GOOD.replace("start: {x: 0.75", "start: {x: 9.0"), 3, "outside the map"),
        (GOOD + "colour: blue\n", 11, "colour"),
        ("name: [unclosed\n", 2, "YAML"),
        ("- just\n- a list\n", 1, "mapping"),
    ],
)
def test_bad_files_name_line_and_problem(text: str, line: int, needle: str) -> None:
    with pytest.raises(WorldError) as err:
        parse_world(text, "w.yaml")
    assert f"w.yaml: line {line}:" in str(err.value)
    assert needle in str(err.value)


def test_unknown_world_name_lists_builtins() -> None:
    with pytest.raises(WorldError, match="maze_small"):
        load_world("no_such_world")
