"""Robot data without services: bag schemas and CDR round trips, generated mazes, synthetic
episodes and their labels, the navigation outcome of a run, the SDG job's command line."""

from __future__ import annotations

import io
import math
from pathlib import Path

import pytest
from mcap.reader import make_reader
from mcap_ros2.decoder import DecoderFactory
from PIL import Image

from auraison.cli.sdg import entrypoint, result_of
from auraison.errors import UserError
from auraison.geometry.planner import Costmap, Planner
from auraison.geometry.worldfile import WorldError, maze_world
from auraison.mcp_servers.robot import rosmsgs
from auraison.mcp_servers.robot.recording import BagRecorder, BagWriter, outcome_of
from auraison.sdg import plan
from auraison.sim.episodes import EpisodeSpec, run_episode


def test_schema_text_carries_every_dependency_once() -> None:
    """The ros2msg schema lists the type, then each nested type once under a MSG: line."""
    text = rosmsgs.schema_text("nav_msgs/msg/Odometry")
    deps = [line.removeprefix("MSG: ") for line in text.splitlines() if line.startswith("MSG: ")]
    assert text.startswith("std_msgs/Header header\n")
    assert len(deps) == len(set(deps)) and {"std_msgs/Header", "geometry_msgs/Quaternion"} <= set(deps)
    assert rosmsgs.full("nav2_msgs/NavigateToPose_FeedbackMessage").startswith("nav2_msgs/action/")
    assert rosmsgs.full("sensor_msgs/LaserScan") == "sensor_msgs/msg/LaserScan"


def test_rosbridge_json_round_trips_through_cdr(tmp_path: Path) -> None:
    """base64 uint8[] becomes bytes and null ranges become +inf; the library decodes what we wrote."""
    bag = BagWriter(tmp_path / "b.mcap")
    bag.channel("/camera", "sensor_msgs/msg/CompressedImage")
    bag.channel("/scan", "sensor_msgs/msg/LaserScan")
    bag.write("/camera", {"header": {"stamp": {"sec": 3, "nanosec": 5}, "frame_id": "cam"},
                          "format": "jpeg", "data": "AAEC"})  # fmt: skip
    bag.write("/scan", {"ranges": [1.5, None], "angle_max": 6.28})
    bag.finish({"world": "w"})
    with (tmp_path / "b.mcap").open("rb") as f:
        msgs = {c.topic: m for _, c, _, m in make_reader(f, decoder_factories=[DecoderFactory()])
                .iter_decoded_messages()}  # fmt: skip
    cam, scan = msgs["/camera"], msgs["/scan"]
    assert bytes(cam.data) == b"\x00\x01\x02" and cam.header.stamp.nanosec == 5 and cam.format == "jpeg"
    assert scan.ranges[0] == pytest.approx(1.5) and math.isinf(scan.ranges[1])
    assert scan.header.frame_id == "" and scan.angle_max == pytest.approx(6.28)  # defaults filled


def test_a_recording_must_be_an_mcap_file(tmp_path: Path) -> None:
    with pytest.raises(UserError, match=r"\.mcap"):
        BagRecorder("ws://127.0.0.1:1", tmp_path / "x.bag", world="maze_small")


def test_the_outcome_is_the_last_navigation() -> None:
    nav = {"name": "robot_navigate_safely", "ok": True, "result": {"navigation": {"status": "aborted"}}}
    plain = {"name": "robot_navigate_to", "ok": True, "result": {"status": "succeeded"}}
    refused = {"name": "robot_navigate_to", "ok": False, "result": "needs approval"}
    state = {"name": "robot_get_state", "ok": True, "result": {}}
    assert outcome_of([nav, state]) == "aborted"
    assert outcome_of([nav, plain]) == "succeeded"
    assert outcome_of([plain, refused]) == "refused"
    assert outcome_of([state]) == "no navigation"


def test_generated_mazes_are_seeded_and_solvable() -> None:
    """The same seed is the same maze; start and goal are free and joined by a path."""
    a, b, c = maze_world(7), maze_world(7), maze_world(8)
    assert (a.grid == b.grid).all() and a.places == b.places and not (a.grid == c.grid).all()
    for w in (a, c, maze_world(3, 5, 2, 4)):
        (sx, sy, _), (gx, gy, _) = w.places["start"], w.places["goal"]
        assert not w.occupied(sx, sy) and not w.occupied(gx, gy) and (sx, sy) != (gx, gy)
        assert Planner(Costmap(w)).plan((sx, sy), (gx, gy)).path
    with pytest.raises(WorldError):
        maze_world(1, 1, 1)


def test_an_episode_drives_to_the_goal_with_labels_and_frames() -> None:
    spec = EpisodeSpec("d", 0, world_seed=2, width=32, height=24)
    ep, again = run_episode(spec), run_episode(spec)
    assert ep.outcome == "succeeded" and ep.row()["steps"] == len(ep.frames) > 3
    assert [f["x"] for f in ep.frames] == [f["x"] for f in again.frames]  # deterministic
    gx, gy, _ = ep.world.places["goal"]
    last = ep.frames[-1]
    assert math.hypot(last["x"] - gx, last["y"] - gy) < 0.3
    assert any(f["v"] > 0 for f in ep.frames)  # the commanded action is labelled
    assert [f["t_s"] for f in ep.frames] == sorted(f["t_s"] for f in ep.frames)
    img = Image.open(io.BytesIO(ep.frames[0]["png"]))
    assert img.format == "PNG" and img.size == (32, 24)


def test_the_plan_cycles_worlds_and_the_job_line_is_quoted() -> None:
    specs = plan("ds", 5, 2, seed=10)
    assert [s.world_seed for s in specs] == [10, 11, 10, 11, 10]
    assert len({s.episode_id for s in specs}) == 5
    line = entrypoint("ds", 5, 2, 2, 10, 3, "acme corp", True, "/venv/bin/python")
    assert line.startswith("/venv/bin/python -m auraison.sdg ") and "'acme corp'" in line
    assert line.endswith("--transfer")
    assert result_of('noise\nSDG_RESULT {"version": 4}\n') == {"version": 4}
    assert result_of("Traceback …") is None
