"""The real ros-mcp 3.1.2 (its own venv, stdio) drives the simulator through the spec's
conformance checklist (shared/specs/rosbridge-sim.md, rows 1–21)."""

from __future__ import annotations

import asyncio
import json
import math
from collections.abc import AsyncIterator
from typing import Any

import pytest
import pytest_asyncio
from fastmcp import Client
from fastmcp.client.transports import StdioTransport

from auraison.rosmcp import ensure_ros_mcp
from auraison.sim.navigator import GoalStatus
from tests.simthread import SimThread, nav_goal

pytestmark = [pytest.mark.conformance, pytest.mark.asyncio(loop_scope="module")]

NAV_TYPE = "nav2_msgs/action/NavigateToPose"


class RosMcp:
    def __init__(self, client: Client, sim: SimThread) -> None:
        self.client, self.sim = client, sim

    async def __call__(self, tool: str, **args: Any) -> Any:
        result = await self.client.call_tool(tool, args, raise_on_error=False, timeout=180)
        if result.structured_content is not None:
            data = result.structured_content
            return data.get("result", data) if set(data) == {"result"} else data
        text = result.content[0].text if result.content else "null"
        try:
            return json.loads(text)
        except ValueError:
            return {"text": text, "is_error": result.is_error}


@pytest.fixture(scope="module")
def sim() -> AsyncIterator[SimThread]:
    with SimThread("maze_small", seed=7) as st:
        yield st


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def ros(
    sim: SimThread, tmp_path_factory: pytest.TempPathFactory, rosmcp_cache
) -> AsyncIterator[RosMcp]:
    exe = ensure_ros_mcp(rosmcp_cache)
    workdir = tmp_path_factory.mktemp("rosmcp")  # it writes ./camera/ images
    transport = StdioTransport(
        str(exe), ["--transport", "stdio"], cwd=str(workdir), log_file=workdir / "ros-mcp.log"
    )
    async with Client(transport, timeout=180) as client:
        call = RosMcp(client, sim)
        res = await call("connect_to_robot", ip="127.0.0.1", port=sim.port)
        assert res["connectivity_test"]["port_check"]["open"] is True  # row 1
        yield call


async def odom(ros: RosMcp) -> dict[str, Any]:
    res = await ros("subscribe_once", topic="/odom", msg_type="nav_msgs/msg/Odometry")
    return res["msg"]["pose"]["pose"]


async def wait_still(sim: SimThread, limit_s: float = 5.0) -> None:
    """Poll the simulator until the robot has stopped (a condition, not a fixed sleep)."""
    for _ in range(int(limit_s / 0.02)):
        r = sim.call(lambda: sim.sim.robot)
        if r.v == 0.0 and r.w == 0.0:
            return
        await asyncio.sleep(0.02)
    raise AssertionError("robot never stopped")


def yaw(pose: dict[str, Any]) -> float:
    q = pose["orientation"]
    return math.atan2(2 * (q["w"] * q["z"]), 1 - 2 * q["z"] ** 2)


async def test_02_detect_version(ros: RosMcp) -> None:
    assert await ros("detect_ros_version") == {"version": "2", "distro": "jazzy"}


async def test_03_04_topics(ros: RosMcp) -> None:
    res = await ros("get_topics")
    assert {"/cmd_vel", "/odom", "/scan", "/map"} <= set(res["topics"])
    assert len(res["types"]) == len(res["topics"])
    assert not [t for t in res["topics"] if "/_action/" in t]
    assert (await ros("get_topic_type", topic="/odom"))["type"] == "nav_msgs/msg/Odometry"


async def test_05_topic_details(ros: RosMcp) -> None:
    res = await ros("get_topic_details", topic="/cmd_vel")
    assert res["type"] in ("geometry_msgs/msg/Twist", "geometry_msgs/msg/TwistStamped")
    assert res["subscriber_count"] >= 1


@pytest.mark.parametrize("name", ["geometry_msgs/Twist", "geometry_msgs/msg/Twist"])
async def test_06_message_details(ros: RosMcp, name: str) -> None:
    structure = (await ros("get_message_details", message_type=name))["structure"]
    assert structure["geometry_msgs/Twist"]["fields"] == {
        "linear": "geometry_msgs/Vector3",
        "angular": "geometry_msgs/Vector3",
    }
    assert structure["geometry_msgs/Vector3"]["fields"] == {
        "x": "double",
        "y": "double",
        "z": "double",
    }


async def test_07_08_services(ros: RosMcp) -> None:
    services = (await ros("get_services"))["services"]
    assert {"/rosapi/action_servers", "/rosapi/topics", "/reset_sim"} <= set(services)
    details = await ros("get_service_details", service="/reset_sim")
    assert details["type"] == "std_srvs/srv/Empty"
    assert details["request"]["field_count"] == 0 and details["response"]["field_count"] == 0
    assert details["providers"] == ["/turtlebot3_sim"]


async def test_09_call_service(ros: RosMcp) -> None:
    ok = await ros("call_service", service_name="/reset_sim", service_type="std_srvs/srv/Empty", request={})
    assert ok["success"] is True
    bad = await ros("call_service", service_name="/nope", service_type="std_srvs/srv/Empty", request={})
    assert bad["success"] is False
    assert bad["error"] == "Service call failed: Service /nope does not exist"


async def test_10_nodes(ros: RosMcp) -> None:
    nodes = (await ros("get_nodes"))["nodes"]
    assert "/turtlebot3_sim" in nodes and "/rosbridge_websocket" in nodes
    details = await ros("get_node_details", node="/turtlebot3_sim")
    assert "/odom" in json.dumps(details) and "/cmd_vel" in json.dumps(details)
    missing = await ros("get_node_details", node="/nope")
    assert "error" in missing or missing.get("publishers") in ([], None)
    # rosapi still answers after the unknown node
    assert "/turtlebot3_sim" in (await ros("get_nodes"))["nodes"]


async def test_11_parameters(ros: RosMcp) -> None:
    params = (await ros("get_parameters", node_name="turtlebot3_sim"))["parameters"]
    assert "/turtlebot3_sim:max_linear_speed" in params
    assert all(p.startswith("/turtlebot3_sim:") for p in params)
    name = "/turtlebot3_sim:max_linear_speed"
    assert (await ros("get_parameter", name=name))["value"] == "0.22"
    assert (await ros("set_parameter", name=name, value="0.2"))["successful"] is True
    assert (await ros("get_parameter", name=name))["value"] == "0.2"
    assert (await ros("has_parameter", name="/x:nope"))["exists"] is False
    details = await ros("get_parameter_details", name=name)
    assert details["type"] == "float" and details["exists"] is True
    assert (await ros("set_parameter", name=name, value="0.22"))["successful"] is True
    assert (await ros("set_parameter", name="/turtlebot3_sim:scratch", value="1"))["successful"]
    assert (await ros("delete_parameter", name="/turtlebot3_sim:scratch"))["successful"] is True
    assert (await ros("has_parameter", name="/turtlebot3_sim:scratch"))["exists"] is False


async def test_12_13_actions(ros: RosMcp) -> None:
    assert (await ros("get_actions"))["actions"] == ["/navigate_to_pose"]
    d = await ros("get_action_details", action="/navigate_to_pose", action_type=NAV_TYPE)
    text = json.dumps(d)
    for field in (
        "pose",
        "behavior_tree",
        "error_code",
        "error_msg",
        "current_pose",
        "navigation_time",
        "estimated_time_remaining",
        "number_of_recoveries",
        "distance_remaining",
    ):
        assert field in text, field
    bogus = await ros("get_action_details", action="/navigate_to_pose", action_type="bogus/action/X")
    assert "error" in json.dumps(bogus) and NAV_TYPE in json.dumps(bogus)
    assert (await ros("get_actions"))["actions"] == ["/navigate_to_pose"]


@pytest.mark.parametrize(
    ("topic", "type_"),
    [
        ("/odom", "nav_msgs/msg/Odometry"),
        ("/map", "nav_msgs/msg/OccupancyGrid"),
        ("/scan", "sensor_msgs/msg/LaserScan"),
    ],
)
async def test_14_subscribe_once(ros: RosMcp, topic: str, type_: str) -> None:
    res = await ros("subscribe_once", topic=topic, msg_type=type_)
    assert "msg" in res, res
    if topic == "/scan":
        assert len(res["msg"]["ranges"]) == 360
    if topic == "/map":
        info = res["msg"]["info"]
        assert len(res["msg"]["data"]) == info["width"] * info["height"]


async def test_15_subscribe_for_duration(ros: RosMcp) -> None:
    res = await ros(
        "subscribe_for_duration",
        topic="/scan",
        msg_type="sensor_msgs/msg/LaserScan",
        duration=1,
        max_messages=3,
    )
    assert res["collected_count"] == 3


async def test_16_17_publish_moves_robot(ros: RosMcp) -> None:
    await ros("call_service", service_name="/reset_sim", service_type="std_srvs/srv/Empty", request={})
    before = await odom(ros)
    res = await ros(
        "publish_for_durations",
        topic="/cmd_vel",
        msg_type="geometry_msgs/msg/Twist",
        messages=[{"linear": {"x": 0.1}}],
        durations=[1.0],
        rate_hz=10,
    )
    assert 8 <= res["published_count"] <= 12, res
    await wait_still(ros.sim)  # the cmd_vel watchdog stops it
    after = await odom(ros)
    dx = after["position"]["x"] - before["position"]["x"]
    assert 0.05 < dx < 0.2, dx
    assert abs(after["position"]["y"] - before["position"]["y"]) < 0.02
    y0 = yaw(after)
    assert (
        await ros(
            "publish_once",
            topic="/cmd_vel",
            msg_type="geometry_msgs/msg/Twist",
            msg={"angular": {"z": 0.5}},
        )
    )["success"] is True
    assert (
        await ros(
            "publish_once",
            topic="/cmd_vel",
            msg_type="geometry_msgs/msg/Twist",
            msg={"angular": {"z": 0.0}},
        )
    )["success"] is True
    await wait_still(ros.sim)
    assert abs(yaw(await odom(ros)) - y0) > 0.1


async def test_18_navigate_reachable(ros: RosMcp) -> None:
    await ros("call_service", service_name="/reset_sim", service_type="std_srvs/srv/Empty", request={})
    ros.sim.server.speed = 4.0  # type: ignore[union-attr]
    try:
        res = await ros(
            "send_action_goal",
            action_name="/navigate_to_pose",
            action_type=NAV_TYPE,
            goal=nav_goal(3.0, 0.75),
            timeout=120,
        )
    finally:
        ros.sim.server.speed = 1.0  # type: ignore[union-attr]
    assert res["status"] == GoalStatus.SUCCEEDED, res
    assert res["result"] == {"error_code": 0, "error_msg": ""}
    pos = (await odom(ros))["position"]
    assert math.dist((pos["x"], pos["y"]), (3.0, 0.75)) < 0.2


@pytest.mark.parametrize(("x", "y"), [(0.1, 0.1), (50.0, 50.0), (2.0, 1.5)])
async def test_19_navigate_unreachable(ros: RosMcp, x: float, y: float) -> None:
    await wait_still(ros.sim)  # the previous goal's deceleration is motion too
    start = ros.sim.call(lambda: ros.sim.sim.robot.distance)
    res = await ros(
        "send_action_goal",
        action_name="/navigate_to_pose",
        action_type=NAV_TYPE,
        goal=nav_goal(x, y),
        timeout=20,
    )
    assert res["status"] == GoalStatus.ABORTED, res
    assert res["result"]["error_code"] != 0 and res["result"]["error_msg"]
    assert ros.sim.call(lambda: ros.sim.sim.robot.distance) == start  # refused before motion


async def test_20_timeout_status_cancel(ros: RosMcp) -> None:
    await ros("call_service", service_name="/reset_sim", service_type="std_srvs/srv/Empty", request={})
    res = await ros(
        "send_action_goal",
        action_name="/navigate_to_pose",
        action_type=NAV_TYPE,
        goal=nav_goal(5.75, 5.75),
        timeout=1,
    )
    assert res["success"] is False and "timed out" in res["error"]
    assert "last_feedback" in res and "distance_remaining" in res["last_feedback"]
    status = await ros("get_action_status", action_name="/navigate_to_pose")
    assert status["active_goals"][-1]["status"] == GoalStatus.EXECUTING
    cancel = await ros("cancel_action_goal", action_name="/navigate_to_pose", goal_id=res["goal_id"])
    assert cancel["success"] is True
    status = await ros("get_action_status", action_name="/navigate_to_pose")
    assert status["active_goals"][-1]["status"] == GoalStatus.CANCELED
    goal = ros.sim.call(lambda: ros.sim.sim.nav.goals[res["goal_id"]])
    assert goal.status is GoalStatus.CANCELED
    assert ros.sim.call(lambda: ros.sim.sim.nav.active) is None
    await wait_still(ros.sim)


async def test_21_resources(ros: RosMcp) -> None:
    for uri in ("ros-mcp://ros-metadata/all", "ros-mcp://ros-metadata/actions/all"):
        contents = await ros.client.read_resource(uri)
        data = json.loads(contents[0].text)
        assert "error" not in data, data
        if uri.endswith("actions/all"):
            assert "/navigate_to_pose" in data["actions"]
