"""ros-mcp reaches the robot only through the gateway: the real ros-mcp 3.1.2 (its own venv, a
stdio subprocess of the gateway) is served as ``ros_*`` behind AgentOps, against the simulator.
Reads work; a raw ``/cmd_vel`` publish or an action goal is refused, traced, and moves nothing."""

from __future__ import annotations

import asyncio
import json
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastmcp import Client

from auraison.doctor import check_proxies, check_ros_mcp
from auraison.rosmcp import ensure_ros_mcp, venv_dir
from auraison.runtime import Runtime
from auraison.settings import Settings
from tests.conftest import REPO
from tests.simthread import SimThread

pytestmark = pytest.mark.asyncio(loop_scope="module")

TWIST = "geometry_msgs/msg/Twist"


@pytest.fixture(scope="module")
def sim() -> Iterator[SimThread]:
    with SimThread("maze_small", seed=7) as st:
        yield st


@pytest.fixture(scope="module")
def home(tmp_path_factory: pytest.TempPathFactory, rosmcp_cache: Path) -> Path:
    """An Auraison home whose cache holds the (shared, built once) ros-mcp venv."""
    ensure_ros_mcp(rosmcp_cache)
    home = tmp_path_factory.mktemp("home")
    (home / "cache").mkdir()
    venv_dir(home / "cache").symlink_to(venv_dir(rosmcp_cache), target_is_directory=True)
    return home


def settings_for(home: Path, sim: SimThread, role: str = "operator", **more: Any) -> Settings:
    agentops = {"approvals": "memory", "role": role}
    return Settings(home=home, robot={"rosbridge_url": sim.url}, agentops=agentops, **more)


def decision_of(result: Any) -> dict[str, Any]:
    assert result.is_error, result
    return json.loads(result.content[0].text.splitlines()[1])["decision"]


def robot_motion(sim: SimThread) -> tuple[float, float, float, float]:
    """What the simulator knows of motion: distance travelled, last /cmd_vel time, speeds."""
    return sim.call(lambda: (sim.sim.robot.distance, sim.sim.cmd_time, sim.sim.robot.v, sim.sim.robot.w))


async def wait_still(sim: SimThread, limit_s: float = 5.0) -> None:
    """Poll until the robot has stopped (a condition, not a fixed sleep)."""
    for _ in range(int(limit_s / 0.02)):
        if robot_motion(sim)[2:] == (0.0, 0.0):
            return
        await asyncio.sleep(0.02)
    raise AssertionError("robot never stopped")


async def odom(c: Client) -> dict[str, Any]:
    res = await c.call_tool("ros_subscribe_once", {"topic": "/odom", "msg_type": "nav_msgs/msg/Odometry"})
    return res.structured_content["msg"]["pose"]["pose"]["position"]


async def test_mcp_json_lists_only_the_gateway() -> None:
    servers = json.loads((REPO / ".mcp.json").read_text())["mcpServers"]
    assert set(servers) == {"auraison"}  # nothing reaches the robot around AgentOps


async def test_raw_cmd_vel_is_denied_traced_and_moves_nothing(home: Path, sim: SimThread) -> None:
    rt = Runtime(settings_for(home, sim))
    before = robot_motion(sim)
    async with Client(rt.gateway(), timeout=120) as c:
        names = {t.name for t in await c.list_tools()}
        assert {"ros_get_topics", "ros_subscribe_once", "ros_publish_for_durations", "robot_drive"} <= names
        assert "ros_send_action_goal" not in names and "ros_connect_to_robot" not in names  # refused outright

        # reads pass (and ros-mcp was aimed at this simulator's rosbridge, not 127.0.0.1:9090)
        topics = (await c.call_tool("ros_get_topics", {})).structured_content
        assert {"/cmd_vel", "/odom", "/scan"} <= set(topics["topics"])
        start = await odom(c)

        raw = {
            "topic": "/cmd_vel",
            "msg_type": TWIST,
            "messages": [{"linear": {"x": 0.2}}],
            "durations": [2.0],
        }
        d = decision_of(await c.call_tool("ros_publish_for_durations", raw, raise_on_error=False))
        assert d["kind"] == "deny" and "robot_drive" in d["hint"] and d["rule"] == "ros-never-moves-the-robot"
        other_topic = {"topic": "/base/vel", "msg_type": TWIST, "msg": {"angular": {"z": 1.0}}}
        assert (
            decision_of(await c.call_tool("ros_publish_once", other_topic, raise_on_error=False))["kind"]
            == "deny"
        )
        goal = {
            "action_name": "/navigate_to_pose",
            "action_type": "nav2_msgs/action/NavigateToPose",
            "goal": {"pose": {"header": {"frame_id": "map"}, "pose": {"position": {"x": 3.0, "y": 0.75}}}},
        }
        d = decision_of(await c.call_tool("ros_send_action_goal", goal, raise_on_error=False))
        assert d["kind"] == "deny" and "robot_navigate_safely" in d["hint"]
        # any other write waits for a person
        chatter = {"topic": "/chatter", "msg_type": "std_msgs/msg/String", "msg": {"data": "hi"}}
        d = decision_of(await c.call_tool("ros_publish_once", chatter, raise_on_error=False))
        assert d["kind"] == "needs_approval" and d["approval_id"]

        assert await odom(c) == start  # the robot never moved
    assert robot_motion(sim) == before  # no /cmd_vel sample reached the simulator at all

    kinds = [(r.tool, r.kind) for r in rt.engine.decisions if r.tool.startswith("ros_")]
    assert ("ros_get_topics", "allow") in kinds and ("ros_subscribe_once", "allow") in kinds
    assert ("ros_publish_for_durations", "deny") in kinds and ("ros_send_action_goal", "deny") in kinds
    assert rt.engine.tracer_provider.force_flush(30_000)  # spans go to the lake (embedded too)
    cols = "name, attributes"
    spans = [
        {"name": n, "attributes": json.loads(a)}
        for n, a in rt.lake.execute(f"SELECT {cols} FROM lake.spans ORDER BY start_ns").fetchall()
    ]
    denied = [s for s in spans if s["name"] == "execute_tool ros_publish_for_durations"]
    assert denied and denied[-1]["attributes"]["auraison.decision"] == "deny"
    assert denied[-1]["attributes"]["auraison.plane"] == "ros"
    assert any(s["name"] == "execute_tool ros_get_topics" for s in spans)
    await rt.aclose()


async def test_the_same_publish_straight_to_ros_mcp_would_have_moved_it(home: Path, sim: SimThread) -> None:
    """Control: the sensors above do see motion; the gateway's backend session is the raw path."""
    rt = Runtime(settings_for(home, sim))
    gw = rt.gateway()
    backend = rt.proxies["ros"]
    before = robot_motion(sim)
    # the gateway's lifespan owns the subprocess; the second client bypasses the middleware
    async with Client(gw, timeout=120), await backend.client() as raw:
        raw_args = {"topic": "/cmd_vel", "msg_type": TWIST, "messages": [{"linear": {"x": 0.1}}]}
        res = await raw.call_tool("publish_for_durations", raw_args | {"durations": [0.5]})
        assert res.structured_content["published_count"] > 0
    after = robot_motion(sim)
    assert after[0] > before[0] and after[1] > before[1]
    assert not backend.running  # the subprocess ended with the gateway session
    await rt.aclose()
    await wait_still(sim)  # the /cmd_vel watchdog stops it; leave the robot at rest for others


async def test_tools_list_does_not_wait_for_the_subprocess(home: Path, sim: SimThread) -> None:
    """After one listing, ros-mcp's tools come from the remembered catalog; a call starts it."""
    first = Runtime(settings_for(home, sim))
    async with Client(first.gateway(), timeout=120) as c:
        await c.list_tools()  # lists from the catalog or the live server, and remembers it
    rt = Runtime(settings_for(home, sim))
    gw = rt.gateway()
    backend = rt.proxies["ros"]
    async with Client(gw, timeout=120) as c:
        assert "ros_get_nodes" in {t.name for t in await c.list_tools()}
        assert not backend.running and backend.starts == 0
        nodes = (await c.call_tool("ros_get_nodes", {})).structured_content["nodes"]
        assert "/turtlebot3_sim" in nodes and backend.starts == 1
    for r in (first, rt):
        await r.aclose()


async def test_missing_servers_leave_the_gateway_working(tmp_path: Path, sim: SimThread) -> None:
    s = settings_for(tmp_path / "bare", sim, proxies={"tools": {"command": "no-such-mcp-server-xyz"}})
    async with Runtime(s) as rt, Client(rt.gateway(), timeout=60) as c:
        names = {t.name for t in await c.list_tools()}
        assert "robot_get_state" in names and not any(n.startswith(("ros_", "tools_")) for n in names)
        d = decision_of(await c.call_tool("ros_publish_once", {"topic": "/cmd_vel"}, raise_on_error=False))
        assert d["kind"] == "deny"  # refused before anyone looks for the tool
    rows = {r.component: r for r in [check_ros_mcp(s), *check_proxies(s)]}
    assert not rows["ros-mcp venv"].ok and rows["ros-mcp venv"].fix == "auraison rosmcp install"
    assert "ros_*" in rows["ros-mcp venv"].detail
    assert not rows["proxy tools"].ok and "no-such-mcp-server-xyz" in rows["proxy tools"].detail


DEMO_SERVER = """
from fastmcp import FastMCP
mcp = FastMCP("demo")

@mcp.tool
def echo(text: str) -> str:
    return text.upper()

mcp.run("stdio", show_banner=False)
"""


@pytest.mark.parametrize(("role", "served"), [("operator", False), ("admin", True)])
async def test_a_server_added_in_settings_is_governed_like_the_rest(
    tmp_path: Path, sim: SimThread, role: str, served: bool
) -> None:
    """Nothing in the default policy allows a user's own server: only who the policy lets in."""
    script = tmp_path / "demo.py"
    script.write_text(DEMO_SERVER)
    demo = {"command": sys.executable, "args": [str(script)]}
    s = settings_for(tmp_path / "h", sim, role, proxies={"demo": demo, "ros": {"enabled": False}})
    rt = Runtime(s)
    async with Client(rt.gateway(), timeout=60) as c:
        assert ("demo_echo" in {t.name for t in await c.list_tools()}) is served
        res = await c.call_tool("demo_echo", {"text": "hi"}, raise_on_error=False)
        if served:
            assert res.data == "HI"
        else:
            assert decision_of(res)["kind"] == "deny"
    assert [r.kind for r in rt.engine.decisions if r.tool == "demo_echo"] == ["allow" if served else "deny"]
    assert "ros" not in rt.proxies
    await rt.aclose()
