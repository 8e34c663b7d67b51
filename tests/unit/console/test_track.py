"""The robot map's memory (``RobotTrack``) and the embedded trace store's reader, without a
browser: what a stream sends a client that has seen some of the trail, and spans scoped to the
caller's tenant."""

from __future__ import annotations

import json
from pathlib import Path
from types import SimpleNamespace

from auraison.mcp_servers.cluster.console import RobotTrack, query_trace_file
from auraison.settings import Settings


def odom(x: float, y: float) -> dict:
    return {"pose": {"pose": {"position": {"x": x, "y": y}}}}


def test_a_stream_gets_the_trail_it_has_not_seen_and_starts_over_when_it_fell_behind() -> None:
    """New points only; the whole (bounded) trail for a new client or one that missed points."""
    track = RobotTrack(SimpleNamespace(client=None))  # type: ignore[arg-type]
    track.TRAIL = 3
    track.trail = track.trail.__class__(maxlen=3)
    for i in range(3):
        track._on_odom(odom(i * 0.1, 0.0))
    track._on_odom(odom(0.2 + 0.001, 0.0))  # under 2 cm: not a new point
    pts, reset = track.since(0)
    assert reset and pts == [(0.0, 0.0), (0.1, 0.0), (0.2, 0.0)]
    track._on_odom(odom(0.3, 0.0))
    assert track.since(3) == ([(0.3, 0.0)], False)
    assert track.since(4) == ([], False)
    for i in range(4, 8):
        track._on_odom(odom(i * 0.1, 0.0))
    pts, reset = track.since(4)  # four new points, three kept: start over
    assert reset and len(pts) == 3


def test_collisions_are_placed_where_the_robot_was() -> None:
    track = RobotTrack(SimpleNamespace(client=None))  # type: ignore[arg-type]
    track._on_collision({"data": True})  # no pose yet: nowhere to draw it
    track._on_odom(odom(1.5, 2.5))
    track._on_collision({"data": False})
    track._on_collision({"data": True})
    assert [(c["x"], c["y"]) for c in track.collisions] == [(1.5, 2.5)]


def test_the_trace_file_is_read_for_the_callers_tenant_only(tmp_path: Path) -> None:
    """Spans of another tenant never come back; a torn last line is skipped, not an error."""
    settings = Settings(home=tmp_path)
    path = Path(settings.data_dir) / "traces" / "spans.jsonl"
    path.parent.mkdir(parents=True)
    rows = [
        {"trace_id": "a" * 32, "name": "invoke_agent navigator", "tenant": "acme", "start_ns": 1},
        {"trace_id": "b" * 32, "name": "execute_tool robot_stop", "tenant": "globex", "start_ns": 2},
    ]
    path.write_text("".join(json.dumps(r) + "\n" for r in rows) + '{"trace_id": "c')
    got = query_trace_file(settings, "SELECT trace_id, name FROM spans ORDER BY start_ns", "acme", 10)
    assert got == {"columns": ["trace_id", "name"], "rows": [["a" * 32, "invoke_agent navigator"]]}
    empty = query_trace_file(Settings(home=tmp_path / "none"), "SELECT count(*) AS n FROM spans", "acme", 10)
    assert empty["rows"] == [[0]]
