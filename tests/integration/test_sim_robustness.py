"""Hostile and broken clients: the server keeps serving and answers where rosbridge would."""

from __future__ import annotations

import asyncio
import json
import socket
from collections.abc import Iterator

import pytest
from websockets.asyncio.client import connect

from tests.simthread import SimThread

TOPICS_CALL = {"op": "call_service", "id": "t1", "service": "/rosapi/topics", "args": {}}


@pytest.fixture
def sim() -> Iterator[SimThread]:
    with SimThread("maze_small") as st:
        yield st


async def roundtrip(url: str, frame: dict, expect_reply: bool = True) -> dict | None:
    async with connect(url) as ws:
        await ws.send(json.dumps(frame))
        if not expect_reply:
            return None
        return json.loads(await asyncio.wait_for(ws.recv(), 5))


async def still_serving(url: str) -> None:
    reply = await roundtrip(url, TOPICS_CALL)
    assert reply is not None and reply["result"] is True and reply["id"] == "t1"


@pytest.mark.parametrize(
    "payload",
    [
        "{not json",
        "[]",
        "42",
        '"text"',
        json.dumps({"op": 7}),
        json.dumps({"op": "explode"}),
        json.dumps({"op": "subscribe"}),
        json.dumps({"op": "subscribe", "topic": 5}),
        json.dumps({"op": "publish", "topic": "/cmd_vel", "msg": {"linear": {"x": "fast"}}}),
        json.dumps({"op": "publish", "topic": "/cmd_vel", "msg": {"linear": {"q": 1}}}),
        json.dumps({"op": "publish", "topic": "/cmd_vel", "msg": [1, 2]}),
        json.dumps({"op": "publish", "topic": "/nowhere", "msg": {}}),
        json.dumps({"op": "advertise", "topic": "/odom", "type": "std_msgs/msg/String"}),
        json.dumps({"op": "cancel_action_goal", "id": "nope", "action": "/navigate_to_pose"}),
        json.dumps({"op": "unsubscribe", "topic": "/never"}),
        json.dumps({"op": "unadvertise", "topic": "/cmd_vel"}),
    ],
)
async def test_bad_frames_get_no_reply_and_server_survives(sim: SimThread, payload: str) -> None:
    """Bad frames are logged, not answered (ROS 2 rosbridge sends no status), never fatal."""
    async with connect(sim.url) as ws:
        await ws.send(payload)
        await ws.send(json.dumps(TOPICS_CALL))
        reply = json.loads(await asyncio.wait_for(ws.recv(), 5))
        assert reply["op"] == "service_response" and reply["id"] == "t1"  # first frame back
    await still_serving(sim.url)


@pytest.mark.parametrize("values", [[float("nan"), 0.0], [1e308 * 10, 0.0], [0.0, float("-inf")]])
async def test_non_finite_velocity_is_dropped(sim: SimThread, values: list[float]) -> None:
    """NaN/Inf velocities never reach the physics: the robot pose stays finite and still."""
    frame = {
        "op": "publish",
        "topic": "/cmd_vel",
        "msg": {"linear": {"x": values[0]}, "angular": {"z": values[1]}},
    }
    # json.dumps writes NaN/Infinity tokens, which Python's json (and rosbridge) accept
    await roundtrip(sim.url, frame, expect_reply=False)
    await still_serving(sim.url)
    r = sim.call(lambda: sim.sim.robot)
    assert sim.call(lambda: sim.sim.cmd) == (0.0, 0.0)
    assert all(map(lambda v: v == v and abs(v) < 1e6, (r.x, r.y, r.yaw)))


async def test_service_errors_answer_like_rosbridge(sim: SimThread) -> None:
    reply = await roundtrip(sim.url, {"op": "call_service", "id": "x", "service": "/nope"})
    assert reply == {
        "op": "service_response",
        "service": "/nope",
        "id": "x",
        "values": "Service /nope does not exist",
        "result": False,
    }
    reply = await roundtrip(
        sim.url,
        {"op": "call_service", "id": "y", "service": "/rosapi/topic_type", "args": {"topic": 42}},
    )
    assert reply["result"] is False and "topic" in reply["values"]
    reply = await roundtrip(
        sim.url,
        {
            "op": "send_action_goal",
            "id": "g",
            "action": "/fly",
            "action_type": "x/action/Y",
            "args": {},
        },
    )
    assert reply["op"] == "action_result" and reply["result"] is False
    assert reply["values"] == "Action /fly does not exist"


async def test_call_service_replies_in_order_once(sim: SimThread) -> None:
    async with connect(sim.url) as ws:
        for i in range(50):
            await ws.send(json.dumps(TOPICS_CALL | {"id": f"r{i}"}))
        ids = [json.loads(await asyncio.wait_for(ws.recv(), 5))["id"] for _ in range(50)]
        assert ids == [f"r{i}" for i in range(50)]
        with pytest.raises(TimeoutError):
            await asyncio.wait_for(ws.recv(), 0.3)  # nothing unsolicited follows


async def test_oversized_frame_closes_only_that_connection(sim: SimThread) -> None:
    """A frame over 16 MiB closes that socket (1009); other clients are unaffected."""
    replied = False
    try:
        async with connect(sim.url, max_size=None) as ws:
            await ws.send("x" * (17 * 1024 * 1024))
            await asyncio.wait_for(ws.recv(), 5)
            replied = True
    except Exception:
        pass
    assert not replied
    await still_serving(sim.url)


async def test_connection_storm_and_half_open_sockets(sim: SimThread) -> None:
    """500 short connections plus idle half-open TCP sockets: still serving afterwards."""
    idle = [socket.create_connection(("127.0.0.1", sim.port)) for _ in range(20)]
    try:

        async def one(i: int) -> None:
            async with connect(sim.url) as ws:
                if i % 2:
                    await ws.send(json.dumps(TOPICS_CALL))
                    await asyncio.wait_for(ws.recv(), 10)

        for batch in range(10):
            await asyncio.gather(*(one(batch * 50 + i) for i in range(50)))
        await still_serving(sim.url)
    finally:
        for s in idle:
            s.close()
    assert sim.call(lambda: len(sim.server.connections)) <= 2  # type: ignore[union-attr]


async def test_goal_outlives_its_connection_and_cancels_from_another(sim: SimThread) -> None:
    goal = {
        "op": "send_action_goal",
        "id": "far-goal",
        "action": "/navigate_to_pose",
        "action_type": "nav2_msgs/action/NavigateToPose",
        "feedback": True,
        "args": {"pose": {"header": {"frame_id": "map"}, "pose": {"position": {"x": 5.75, "y": 5.75}}}},
    }
    async with connect(sim.url) as ws:
        await ws.send(json.dumps(goal))
        fb = json.loads(await asyncio.wait_for(ws.recv(), 5))
        assert fb["op"] == "action_feedback" and fb["id"] == "far-goal"
    assert sim.call(lambda: sim.sim.nav.active.goal_id) == "far-goal"  # type: ignore[union-attr]
    async with connect(sim.url) as ws:
        await ws.send(
            json.dumps({"op": "cancel_action_goal", "id": "far-goal", "action": "/navigate_to_pose"})
        )
        await ws.send(json.dumps({"op": "subscribe", "topic": "/navigate_to_pose/_action/status"}))
        status = json.loads(await asyncio.wait_for(ws.recv(), 5))
    assert status["msg"]["status_list"][-1]["status"] == 5


async def test_latched_and_periodic_topics_arrive_at_once(sim: SimThread) -> None:
    """R3: every subscribe gets a sample well within ros-mcp's 0.5 s window."""
    for topic in (
        "/map",
        "/odom",
        "/scan",
        "/tf",
        "/navigate_to_pose/_action/status",
        "/camera/image_raw/compressed",
        "/tf_static",
    ):
        async with connect(sim.url) as ws:
            await ws.send(json.dumps({"op": "subscribe", "topic": topic}))
            msg = json.loads(await asyncio.wait_for(ws.recv(), 0.5))
            assert set(msg) == {"op", "topic", "msg"} and msg["topic"] == topic


async def test_dynamic_topic_relays_between_clients(sim: SimThread) -> None:
    async with connect(sim.url) as sub, connect(sim.url) as pub:
        await pub.send(json.dumps({"op": "advertise", "topic": "/chatter", "type": "std_msgs/msg/String"}))
        await sub.send(json.dumps({"op": "subscribe", "topic": "/chatter", "type": "std_msgs/msg/String"}))
        await sub.send(json.dumps(TOPICS_CALL))
        assert "/chatter" in json.loads(await asyncio.wait_for(sub.recv(), 5))["values"]["topics"]
        await pub.send(json.dumps({"op": "publish", "topic": "/chatter", "msg": {"data": "hi"}}))
        msg = json.loads(await asyncio.wait_for(sub.recv(), 5))
        assert msg == {"op": "publish", "topic": "/chatter", "msg": {"data": "hi"}}
