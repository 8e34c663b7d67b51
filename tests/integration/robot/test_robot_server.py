"""The robot MCP server against the real simulator, over the real rosbridge protocol."""

from __future__ import annotations

import asyncio
import math
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest
from fastmcp import Client, FastMCP

from auraison.mcp_servers.robot.server import build_server
from auraison.runtime import Runtime
from auraison.settings import Settings
from tests.conftest import REPO, free_port
from tests.simthread import SimThread

DOOR = str(REPO / "tests" / "data" / "door_world.yaml")


@pytest.fixture
def sim() -> Iterator[SimThread]:
    with SimThread("maze_small", speed=8.0, seed=1) as st:
        yield st


def server(home: Path, url: str, world: str = "maze_small") -> tuple[FastMCP, Runtime]:
    """The robot plane over a runtime of its own (the runtime holds the robot connection)."""
    rt = Runtime(Settings(home=home, robot={"rosbridge_url": url, "world": world}))
    return build_server(rt), rt


@pytest.fixture
async def robot(sim: SimThread, tmp_path: Path) -> AsyncIterator[Client]:
    srv, rt = server(tmp_path, sim.url)
    async with Client(srv) as c:
        yield c
    await rt.robot.client.close()


async def wait_until(pred, what: str, limit_s: float = 20.0) -> None:
    """Poll a condition (bounded); never a bare sleep standing in for synchronisation."""
    deadline = asyncio.get_running_loop().time() + limit_s
    while not pred():
        assert asyncio.get_running_loop().time() < deadline, f"timed out waiting for {what}"
        await asyncio.sleep(0.02)


async def test_read_tools(robot: Client) -> None:
    state = (await robot.call_tool("get_state", {})).structured_content
    assert state["pose"] == {"x": 0.75, "y": 0.75, "yaw": 0.0} and state["connected"]
    assert state["max_linear_mps"] == 0.22 and state["navigation"]["state"] == "idle"
    places = (await robot.call_tool("list_places", {})).structured_content["result"]
    assert {p["name"] for p in places} == {"dock", "kitchen", "lab", "office"}
    scan = (await robot.call_tool("get_scan_summary", {})).structured_content
    assert len(scan["sectors"]) == 8 and scan["closest_m"] == pytest.approx(0.5, abs=0.02)
    assert next(s for s in scan["sectors"] if s["name"] == "left")["min_distance_m"] == pytest.approx(
        0.5, abs=0.02
    )
    m = await robot.call_tool("get_map", {"max_px": 300})
    assert m.content[1].type == "image" and m.content[1].mime_type == "image/png"
    cam = await robot.call_tool("get_camera_image", {})
    assert cam.content[0].type == "image" and cam.content[0].mime_type == "image/jpeg"


async def test_plan_path_is_a_dry_run(robot: Client, sim: SimThread) -> None:
    plan = (await robot.call_tool("plan_path", {"place": "kitchen"})).structured_content
    assert plan["reachable"] and plan["length_m"] > 7 and 2 <= len(plan["waypoints"]) <= 21
    assert plan["eta_s"] > plan["length_m"] / 0.22
    bad = (await robot.call_tool("plan_path", {"x": 50, "y": 50})).structured_content
    assert not bad["reachable"] and bad["error_code"] == 204 and "outside the map" in bad["reason"]
    assert sim.call(lambda: sim.sim.robot.distance) == 0.0


async def test_navigate_streams_progress_and_reports_the_outcome(robot: Client) -> None:
    progress: list[tuple[float, float | None, str | None]] = []

    async def on_progress(p: float, total: float | None, msg: str | None) -> None:
        progress.append((p, total, msg))

    res = await robot.call_tool("navigate_to", {"place": "lab"}, progress_handler=on_progress)
    out = res.structured_content
    assert out["status"] == "succeeded" and out["reached"]
    assert out["distance_travelled_m"] > 10 and out["duration_s"] > 0
    assert math.dist((out["final_pose"]["x"], out["final_pose"]["y"]), (5.75, 0.75)) < 0.25
    assert len(progress) >= 5 and progress[-1][0] > progress[0][0] and "m to go" in progress[-1][2]


async def test_unreachable_and_bad_goals_never_move(robot: Client, sim: SimThread) -> None:
    out = (await robot.call_tool("navigate_to", {"x": 0.1, "y": 0.1})).structured_content
    assert out["status"] == "refused" and out["error_code"] == 206 and out["distance_travelled_m"] == 0
    res = await robot.call_tool("navigate_to", {"place": "moon"}, raise_on_error=False)
    assert res.is_error and "known places: dock, kitchen, lab, office" in res.content[0].text
    for args in (
        {"x": float("nan"), "y": 1.0},
        {"x": 1e9, "y": 1.0},
        {"x": 1.0},
        {"place": "lab", "x": 1.0},
        {"place": "../etc"},
        {"x": True, "y": True},  # found by the fuzzer: booleans are not coordinates
    ):
        res = await robot.call_tool("navigate_to", args, raise_on_error=False)
        assert res.is_error, args
    res = await robot.call_tool("drive", {"linear": 0.1, "duration": -1}, raise_on_error=False)
    assert res.is_error and "duration" in res.content[0].text
    assert sim.call(lambda: sim.sim.robot.distance) == 0.0


async def test_drive_is_clamped_and_stops_at_the_end(robot: Client, sim: SimThread) -> None:
    out = (
        await robot.call_tool("drive", {"linear": 3.0, "angular": 0.0, "duration": 0.5})
    ).structured_content
    assert out["clamped"] and out["linear_mps"] == 0.22 and not out["stopped_early"]
    await wait_until(lambda: sim.call(lambda: sim.sim.robot.v) == 0.0, "the robot to stop after drive")
    assert sim.call(lambda: sim.sim.cmd) == (0.0, 0.0)


async def test_cancel_midway(robot: Client, sim: SimThread) -> None:
    task = asyncio.create_task(robot.call_tool("navigate_to", {"place": "kitchen"}))
    await wait_until(lambda: sim.call(lambda: sim.sim.robot.distance) > 0.3, "motion")
    await robot.call_tool("cancel_navigation", {})
    out = (await task).structured_content
    assert out["status"] == "canceled" and not out["reached"]
    await wait_until(lambda: sim.call(lambda: sim.sim.robot.v) == 0.0, "the robot to stop")


async def test_estop_midway_stops_within_a_control_tick(robot: Client, sim: SimThread) -> None:
    task = asyncio.create_task(robot.call_tool("navigate_to", {"place": "kitchen"}))
    await wait_until(lambda: sim.call(lambda: abs(sim.sim.robot.v)) > 0.15, "cruising speed")
    t_stop = sim.call(lambda: sim.sim.t)
    state = (await robot.call_tool("stop", {})).structured_content
    assert state["estop_at"] is not None
    await wait_until(lambda: sim.call(lambda: sim.sim.robot.v) == 0.0, "standstill")
    # Braking at 2.5 m/s² from 0.22 m/s takes ~0.09 s of sim time; with the MCP round trip and
    # this poll's granularity (20 ms wall = 0.16 s of sim at 8×) it stays well under 1 s.
    assert sim.call(lambda: sim.sim.t) - t_stop < 1.0
    assert sim.call(lambda: sim.sim.nav.active) is None  # the goal is canceled, not paused
    assert (await task).structured_content["status"] == "canceled"


async def test_clear_error_when_the_sim_is_not_running(tmp_path: Path) -> None:
    srv, _ = server(tmp_path, f"ws://127.0.0.1:{free_port()}")
    async with Client(srv) as c:
        res = await c.call_tool("get_state", {}, raise_on_error=False)
    assert res.is_error
    text = res.content[0].text
    assert "robot unavailable" in text and "auraison sim run" in text


async def test_reconnects_after_the_sim_restarts(tmp_path: Path) -> None:
    port = free_port()
    srv, rt = server(tmp_path, f"ws://127.0.0.1:{port}")
    async with Client(srv) as c:
        with SimThread("maze_small", port=port):
            assert not (await c.call_tool("get_state", {}, raise_on_error=False)).is_error
        down = await c.call_tool("get_state", {}, raise_on_error=False)
        assert down.is_error and "robot unavailable" in down.content[0].text
        with SimThread("maze_small", port=port):
            again = await c.call_tool("get_state", {})
            assert again.structured_content["connected"]
    assert rt.robot.client.reconnects >= 1
    await rt.robot.client.close()


async def test_navigate_safely_takes_the_safe_route(tmp_path: Path) -> None:
    """The short route squeezes through a 0.5 m door: no-go; the wide re-plan goes round."""
    with SimThread(DOOR, speed=10.0) as st:
        srv, rt = server(tmp_path, st.url, world=DOOR)
        async with Client(srv) as c:
            out = (await c.call_tool("navigate_safely", {"place": "above"})).structured_content
            steps = [(s["candidate"], s["stage"], s["ok"]) for s in out["steps"]]
            assert ("nav2 plan", "reason", False) in steps
            assert out["status"] == "succeeded" and out["chosen"].startswith("re-plan")
            assert out["navigation"]["reached"] and out["navigation"]["distance_travelled_m"] > 4
            assert "stand-in" in out["verdict"]["backend"]
            # the robot went round: it was never in the door (x 2.25..2.75, y 1.25..1.5)
            trail = st.call(lambda: list(st.sim.trail.points))
            assert not any(2.25 <= x <= 2.75 and 1.25 <= y <= 1.5 for x, y in trail)
            unreachable = (await c.call_tool("navigate_safely", {"x": 0.1, "y": 0.1})).structured_content
            assert unreachable["status"] == "refused"
            assert unreachable["steps"][0]["stage"] == "plan" and not unreachable["steps"][0]["ok"]
        await rt.robot.client.close()
