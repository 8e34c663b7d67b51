"""The collision monitor under every motion: against the real simulator and its physics."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
from fastmcp import Client

from auraison.agentops import AgentOps, Identity, ToolCall
from auraison.agentops.approvals import MemoryApprovalStore
from auraison.agentops.errors import ApprovalPending
from auraison.agentops.policy import parse_policy
from auraison.bench.robot_s1 import gap, run_cases
from auraison.geometry.worldfile import BUILTIN
from auraison.identity import PrincipalKind
from auraison.mcp_servers.robot.collision import Zones
from auraison.mcp_servers.robot.rosbridge import RosbridgeClient
from auraison.mcp_servers.robot.server import build_server
from auraison.runtime import Runtime
from auraison.settings import Settings
from auraison.sim.physics import RobotState
from tests.simthread import SimThread

POLICY = parse_policy("""\
version: 1
rules:
  - name: r
    allow: ["robot_*"]
    approval: ["robot_drive"]
""")
TOWARD_THE_WALL = {"linear": 0.22, "angular": 0.0, "duration": 3.0}  # 12 sim s at 4x: 2.6 m
WALL_X = 3.75  # maze_small: the wall east of the bottom corridor


async def wait_until(pred, what: str, limit_s: float = 20.0) -> None:
    deadline = asyncio.get_running_loop().time() + limit_s
    while not pred():
        assert asyncio.get_running_loop().time() < deadline, f"timed out waiting for {what}"
        await asyncio.sleep(0.02)


async def approved_drive_toward_the_wall(tmp_path: Path, monitor: bool) -> tuple[dict, SimThread, list]:
    """An agent asks to drive 2.6 m at a wall 0.9 m ahead; a person approves; the drive runs."""
    with SimThread("maze_small", speed=4.0, seed=1) as st:
        st.call(lambda: setattr(st.sim, "robot", RobotState(2.75, 0.75, 0.0)))
        collisions: list[dict] = []
        watcher = RosbridgeClient(st.url)
        await watcher.listen("/collision", "std_msgs/msg/Bool", collisions.append)
        rt = Runtime(
            Settings(
                home=tmp_path / str(monitor),
                robot={"rosbridge_url": st.url, "collision": {"enabled": monitor}},
            )
        )
        srv = build_server(rt)
        store = MemoryApprovalStore()
        engine = AgentOps(POLICY, approvals=store)
        call = ToolCall(identity=Identity(tenant="acme"), tool="robot_drive", args=TOWARD_THE_WALL)
        async with Client(srv) as c:
            with pytest.raises(ApprovalPending) as pending:
                await engine.execute(call, lambda: c.call_tool("drive", TOWARD_THE_WALL))
            alice = Identity(tenant="acme", subject="alice", kind=PrincipalKind.human)
            await store.decide(pending.value.decision.approval_id, True, by=alice)
            res = await engine.execute(call, lambda: c.call_tool("drive", TOWARD_THE_WALL))
        await wait_until(lambda: st.call(lambda: st.sim.robot.v) == 0.0, "standstill")
        if not monitor:
            await wait_until(lambda: collisions, "/collision")
        await rt.aclose()
        await watcher.close()
        return res.structured_content, st, collisions


async def test_an_approved_drive_at_a_wall_hits_it_without_the_monitor(tmp_path: Path) -> None:
    """The control case: what the drive did before the monitor (and does with it disabled)."""
    out, st, collisions = await approved_drive_toward_the_wall(tmp_path, monitor=False)
    assert collisions == [{"data": True}] and st.sim.robot.collisions >= 1
    assert not out["stopped_early"] and out["stop_reason"] is None


async def test_an_approved_drive_at_a_wall_stops_short_of_it(tmp_path: Path) -> None:
    out, st, collisions = await approved_drive_toward_the_wall(tmp_path, monitor=True)
    assert collisions == [] and st.sim.robot.collisions == 0
    assert out["stopped_early"] and out["stop_reason"] == "obstacle"
    assert "ahead" in out["stop_detail"] and "stop zone" in out["stop_detail"]
    assert 0.0 < out["obstacle_distance_m"] < 0.5 and out["slowed"]
    r = st.sim.robot
    assert 0.0 < gap(st.sim.world, r.x, r.y) < 0.3 and r.x < WALL_X - 0.105
    assert out["distance_travelled_m"] > 0.5  # it did drive, up to the wall


async def test_facing_a_wall_it_may_back_away_and_turn_but_not_advance(tmp_path: Path) -> None:
    with SimThread("maze_small", speed=4.0, seed=1) as st:
        st.call(lambda: setattr(st.sim, "robot", RobotState(3.6, 0.75, 0.0)))  # 0.045 m from the wall
        rt = Runtime(Settings(home=tmp_path, robot={"rosbridge_url": st.url}))
        srv = build_server(rt)
        async with Client(srv) as c:

            async def drive(linear: float, angular: float, duration: float) -> dict:
                args = {"linear": linear, "angular": angular, "duration": duration}
                return (await c.call_tool("drive", args)).structured_content

            fwd = await drive(0.1, 0.0, 0.5)
            back = await drive(-0.1, 0.0, 0.3)
            spin = await drive(0.0, 1.0, 0.2)
        await rt.aclose()
        assert (
            fwd["stopped_early"] and fwd["stop_reason"] == "obstacle" and fwd["distance_travelled_m"] < 0.01
        )
        assert not back["stopped_early"] and back["distance_travelled_m"] > 0.05
        assert not spin["stopped_early"] and spin["final_pose"]["yaw"] > 0.3
        assert st.sim.robot.collisions == 0


@pytest.mark.parametrize("world", BUILTIN)
async def test_random_drives_from_random_free_poses_make_no_contact(world: str) -> None:
    """A small seeded share of the S1 property (bench/robot_s1.py runs 510 cases), with the
    disabled monitor on the same cases as the control: that one does touch walls."""
    on = await run_cases(world, 6, seed=3, drives=3, zones=Zones())
    assert on.contacts == 0 and on.drives == 18 and on.obstacle_stops >= 1
    assert min(on.min_gaps) > 0.0
    off = await run_cases(world, 6, seed=3, drives=3, zones=Zones(enabled=False))
    assert off.contacts >= 1


@pytest.mark.slow
async def test_five_hundred_random_drive_sequences_make_no_contact() -> None:
    total = 0
    for world in BUILTIN:
        t = await run_cases(world, 170, seed=11, drives=3, zones=Zones())
        assert t.contacts == 0, (world, t.contacts)
        total += t.cases
    assert total >= 500


async def navigate_into_a_dropped_box(tmp_path: Path, monitor: bool) -> tuple[dict, int]:
    """A box appears across the corridor after the map was made: the planner (and the map)
    don't know it, the lidar and the robot's body do. Nav2 drives straight at it."""
    with SimThread("maze_small", speed=2.0, seed=1) as st:

        def drop_box() -> None:
            st.sim.map_msg()  # the map is published as it was made
            for iy in range(1, 5):  # y 0.25..1.25: the corridor's whole width
                st.sim.world.grid[iy, 8] = 100  # x 2.0..2.25
                st.sim.body._blocked[iy, 8] = True

        st.call(drop_box)
        rt = Runtime(
            Settings(
                home=tmp_path / str(monitor),
                robot={"rosbridge_url": st.url, "collision": {"enabled": monitor}},
            )
        )
        srv = build_server(rt)
        async with Client(srv) as c:
            out = (
                await c.call_tool("navigate_to", {"x": 3.25, "y": 0.75, "timeout_s": 120})
            ).structured_content
        await rt.aclose()
        return out, st.call(lambda: st.sim.robot.collisions)


async def test_navigation_drives_into_an_unmapped_box_without_the_monitor(tmp_path: Path) -> None:
    out, collisions = await navigate_into_a_dropped_box(tmp_path, monitor=False)
    assert collisions >= 1 and not out["reached"]


async def test_the_last_line_cancels_navigation_short_of_an_unmapped_box(tmp_path: Path) -> None:
    out, collisions = await navigate_into_a_dropped_box(tmp_path, monitor=True)
    assert collisions == 0
    assert out["status"] == "canceled" and out["message"].startswith("collision monitor: obstacle")
    assert out["final_pose"]["x"] < 2.0 - 0.105 and out["distance_travelled_m"] > 0.5
