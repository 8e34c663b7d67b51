"""roslibpy, the usual Python rosbridge client, drives the simulator over a real socket."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from typing import Any

import pytest
import roslibpy

from auraison.sim.navigator import GoalStatus
from tests.simthread import SimThread, nav_goal


@pytest.fixture
def sim() -> Iterator[SimThread]:
    with SimThread("maze_small", speed=4.0, seed=3) as st:
        yield st


@pytest.fixture
def ros(sim: SimThread) -> Iterator[roslibpy.Ros]:
    client = roslibpy.Ros(host="127.0.0.1", port=sim.port)
    client.run(timeout=10)
    assert client.is_connected
    yield client
    client.close()  # never terminate(): the twisted reactor cannot restart


def status_of(result: dict[str, Any]) -> int:
    """roslibpy wraps the status code in its own enum."""
    status = result.get("status", -1)
    return int(getattr(status, "value", status))


def result_box() -> tuple[dict[str, Any], threading.Event, Any]:
    """Where an action's result lands: (the result, set-when-done event, the callback)."""
    result: dict[str, Any] = {}
    done = threading.Event()

    def on_result(r: dict[str, Any]) -> None:
        result.update(r)
        done.set()

    return result, done, on_result


def wait(event: threading.Event, what: str, timeout: float = 30) -> None:
    assert event.wait(timeout), f"timed out waiting for {what}"


def test_topic_subscribe_and_publish(sim: SimThread, ros: roslibpy.Ros) -> None:
    """Odometry streams to a subscriber; /cmd_vel published by roslibpy moves the robot."""
    got: list[dict[str, Any]] = []
    moved = threading.Event()
    start_x = sim.call(lambda: sim.sim.robot.x)

    def on_odom(msg: dict[str, Any]) -> None:
        got.append(msg)
        if msg["pose"]["pose"]["position"]["x"] > start_x + 0.1:
            moved.set()

    odom = roslibpy.Topic(ros, "/odom", "nav_msgs/msg/Odometry")
    odom.subscribe(on_odom)
    cmd = roslibpy.Topic(ros, "/cmd_vel", "geometry_msgs/msg/Twist")
    cmd.advertise()
    stop = threading.Event()

    def drive() -> None:  # a 10 Hz controller, like a teleop node
        while not stop.is_set():
            cmd.publish(roslibpy.Message({"linear": {"x": 0.2}}))
            stop.wait(0.1)

    t = threading.Thread(target=drive, daemon=True)
    t.start()
    try:
        wait(moved, "odometry showing forward motion")
    finally:
        stop.set()
        t.join()
    assert got[0]["header"]["frame_id"] == "odom"
    assert got[0]["child_frame_id"] == "base_footprint"
    assert len(got[0]["pose"]["covariance"]) == 36


def test_service_call(sim: SimThread, ros: roslibpy.Ros) -> None:
    """rosapi and the sim's own services answer roslibpy's Service.call."""
    topics = roslibpy.Service(ros, "/rosapi/topics", "rosapi_msgs/srv/Topics").call(
        roslibpy.ServiceRequest(), timeout=5
    )
    assert "/odom" in topics["topics"]
    sim.call(lambda: sim.sim.command_velocity(0.2, 0.0))
    roslibpy.Service(ros, "/reset_sim", "std_srvs/srv/Empty").call(roslibpy.ServiceRequest(), timeout=5)
    x, y, _ = sim.sim.world.start
    r = sim.call(lambda: sim.sim.robot)
    assert abs(r.x - x) < 0.05 and abs(r.y - y) < 0.05
    with pytest.raises(Exception, match="does not exist"):
        roslibpy.Service(ros, "/nope", "std_srvs/srv/Empty").call(roslibpy.ServiceRequest(), timeout=5)


def test_action_goal_feedback_and_result(sim: SimThread, ros: roslibpy.Ros) -> None:
    """A NavigateToPose goal streams feedback and ends SUCCEEDED near the target."""
    client = roslibpy.ActionClient(ros, "/navigate_to_pose", "nav2_msgs/action/NavigateToPose")
    feedback: list[dict[str, Any]] = []
    result, done, on_result = result_box()
    goal = nav_goal(3.0, 0.75)
    client.send_goal(goal, on_result, feedback.append, lambda e: on_result({"error": e}))
    wait(done, "navigation result", 60)
    assert status_of(result) == GoalStatus.SUCCEEDED, result
    assert feedback, "no feedback arrived"
    assert {
        "current_pose",
        "distance_remaining",
        "navigation_time",
        "estimated_time_remaining",
        "number_of_recoveries",
    } <= set(feedback[-1])
    r = sim.call(lambda: sim.sim.robot)
    assert abs(r.x - 3.0) < 0.2 and abs(r.y - 0.75) < 0.2


def test_action_cancel(sim: SimThread, ros: roslibpy.Ros) -> None:
    """cancel_goal ends the goal CANCELED and the robot stops."""
    client = roslibpy.ActionClient(ros, "/navigate_to_pose", "nav2_msgs/action/NavigateToPose")
    first_feedback = threading.Event()
    result, done, on_result = result_box()
    goal = nav_goal(5.75, 5.75)
    gid = client.send_goal(
        goal, on_result, lambda fb: first_feedback.set(), lambda e: on_result({"error": e})
    )
    wait(first_feedback, "first feedback")
    client.cancel_goal(gid)
    wait(done, "cancel result")
    assert status_of(result) == GoalStatus.CANCELED, result
    assert sim.call(lambda: sim.sim.nav.active) is None
