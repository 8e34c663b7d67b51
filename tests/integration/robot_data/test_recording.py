"""A recorded agent run on the real simulator: the bag opens as MCAP with ROS 2 schemas and CDR
messages the library decodes, it is a lake dataset with its metadata, and the digital twin
answers where the robot was, where the world plane predicted it would be and how far off."""

from __future__ import annotations

import json
from pathlib import Path

from mcap.reader import make_reader
from mcap_ros2._dynamic import generate_dynamic
from mcap_ros2.decoder import DecoderFactory
from pydantic_ai import models

from auraison.agents import run
from auraison.lakehouse import twin
from auraison.lakehouse.catalog import Lake
from auraison.mcp_servers.robot import rosmsgs
from auraison.settings import Settings
from tests.simthread import SimThread

models.ALLOW_MODEL_REQUESTS = False

CDR_TOPICS = {
    "/odom": "nav_msgs/msg/Odometry",
    "/scan": "sensor_msgs/msg/LaserScan",
    "/camera/image_raw/compressed": "sensor_msgs/msg/CompressedImage",
    "/cmd_vel": "geometry_msgs/msg/Twist",
    "/tf": "tf2_msgs/msg/TFMessage",
    "/map": "nav_msgs/msg/OccupancyGrid",
    "/plan": "nav_msgs/msg/Path",
    "/navigate_to_pose/_action/feedback": "nav2_msgs/action/NavigateToPose_FeedbackMessage",
    "/auraison/tool_calls": "std_msgs/msg/String",
    "/auraison/predictions": "std_msgs/msg/String",
}


async def test_a_recorded_agent_run_is_a_bag_a_dataset_and_a_twin(tmp_path: Path) -> None:
    bag = tmp_path / "out" / "lab.mcap"
    settings = Settings(home=tmp_path / "home", robot={"rosbridge_url": ""}, agentops={"approvals": "memory"})
    with SimThread("maze_small", speed=25.0) as sim:
        s = settings.model_copy(
            update={"robot": settings.robot.model_copy(update={"rosbridge_url": sim.url})}
        )
        res = await run("navigator", "Please go to the lab.", settings=s, bag=bag)
        end = sim.call(lambda: (sim.sim.robot.x, sim.sim.robot.y))
    assert res.output.startswith("[offline stand-in model] Arrived at lab")

    # The file is MCAP with the ROS 2 profile: every channel CDR over a ros2msg schema.
    with bag.open("rb") as f:
        reader = make_reader(f, decoder_factories=[DecoderFactory()])
        summary = reader.get_summary()
        assert summary is not None and reader.get_header().profile == "ros2"
        channels = {c.topic: (c, summary.schemas[c.schema_id]) for c in summary.channels.values()}
        counts = {
            summary.channels[cid].topic: n for cid, n in summary.statistics.channel_message_counts.items()
        }
        for topic, type_name in CDR_TOPICS.items():
            channel, schema = channels[topic]
            assert (channel.message_encoding, schema.encoding, schema.name) == ("cdr", "ros2msg", type_name)
            assert counts.get(topic, 0) > 0, f"no messages on {topic}"
        assert counts["/map"] == 1 and counts["/odom"] > 20
        plain = [t for t in CDR_TOPICS if "_action" not in t]
        decoded, stamps = {}, set()
        for _, c, _, m in reader.iter_decoded_messages(topics=plain):
            decoded[c.topic] = m
            if c.topic == "/odom":
                stamps.add((m.header.stamp.sec, m.header.stamp.nanosec))
        (_, channel, raw), *_ = reader.iter_messages(topics=["/navigate_to_pose/_action/feedback"])
        fb_schema = summary.schemas[channel.schema_id]
    # The action feedback's ROS 2 name has an underscore the library's .msg parser refuses;
    # its CDR bytes decode with the same definition under a parseable name.
    alias = rosmsgs.parseable(fb_schema.name)
    feedback = generate_dynamic(alias, rosmsgs.parseable(fb_schema.data.decode()))[alias](raw.data)
    assert feedback.feedback.distance_remaining >= 0 and len(feedback.goal_id.uuid) == 16
    odom = decoded["/odom"]  # the last one: where the robot ended, as the simulator says
    assert abs(odom.pose.pose.position.x - end[0]) < 0.1 and abs(odom.pose.pose.position.y - end[1]) < 0.1
    assert decoded["/camera/image_raw/compressed"].data[:2] == b"\xff\xd8"  # JPEG bytes, not base64
    calls = [
        json.loads(m.data)["name"]
        for _, c, _, m in make_reader(
            bag.open("rb"), decoder_factories=[DecoderFactory()]
        ).iter_decoded_messages(topics=["/auraison/tool_calls"])
    ]
    assert calls == ["robot_get_state", "robot_plan_path", "robot_navigate_safely"]

    # Registered: a dataset with the run's metadata, and a twin run.
    meta = res.bag["summary"]
    assert meta["world"] == "maze_small" and meta["outcome"] == "succeeded"
    assert meta["places_visited"][0] == "dock" and meta["places_visited"][-1] == "lab"
    assert res.bag["lake"]["dataset_id"].startswith("ds_")
    lake = Lake(settings)
    try:
        (lineage,) = lake.execute(
            "SELECT lineage FROM lake.datasets WHERE dataset_id = ?", [res.bag["lake"]["dataset_id"]]
        ).fetchone()
        lineage = json.loads(lineage)
        assert lineage["kind"] == "ros2-bag" and lineage["outcome"] == "succeeded"
        assert lineage["places_visited"] == meta["places_visited"] and lineage["duration_s"] > 0
        run_id = res.bag["lake"]["run_id"]
        cmp = twin.compare(lake, "default", run_id, points=True)
        again = twin.ingest_bag(lake, "default", Path(res.bag["lake"]["bag"]), run_id)
    finally:
        lake.close()
    assert again["added"] == {"maps": 0, "observed": 0, "predicted": 0, "runs": 0}  # exactly once
    assert cmp.world == "maze_small" and cmp.outcome == "succeeded" and cmp.map_id
    assert cmp.observed_points == len(stamps)  # one row per instant of the robot's clock
    (pred,) = cmp.predictions  # navigate_safely's one rollout, by the stand-in
    assert pred.stand_in and pred.backend == "local (stand-in)" and pred.points >= 5
    first = pred.trajectory[0]
    assert first.error_m < 0.3  # at t=0 the prediction starts where the robot is
    assert pred.max_error_m is not None and pred.max_error_m >= pred.mean_error_m >= 0
    assert pred.max_error_m < 5.0  # the stand-in follows the same plan: it is off, not lost
