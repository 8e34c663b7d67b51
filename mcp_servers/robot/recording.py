"""Recording a robot session as a ROS 2 bag in MCAP: the robot's topics over rosbridge, plus the
agent's tool calls and the world plane's predictions as channels of their own.

Why MCAP with CDR and the standard definitions: ``ros2 bag``, Foxglove and any MCAP reader open
it as they would a bag recorded on the robot, so the same file feeds people (replay, inspect),
the digital twin (``lakehouse/twin.py``) and training. The recorder keeps its own rosbridge
connection (read-only subscriptions), so a recording never disturbs the connection that drives.

Times: ``log_time`` is when the message arrived (as ``ros2 bag record`` stamps it); the robot's
own clock is in each header. Predictions are stamped with the robot clock at the moment they
were made (the latest odometry stamp), so a simulator run faster than real time still lines up.
"""

from __future__ import annotations

import json
import math
import time
from pathlib import Path
from typing import Any

import structlog
from mcap.well_known import MessageEncoding, SchemaEncoding
from mcap.writer import CompressionType, Writer
from mcap_ros2._dynamic import serialize_dynamic
from pydantic import BaseModel

from auraison.errors import UserError

from . import rosmsgs
from .rosbridge import RosbridgeClient

log = structlog.get_logger(__name__)

TOPICS: dict[str, str] = {
    "/odom": "nav_msgs/msg/Odometry",
    "/scan": "sensor_msgs/msg/LaserScan",
    "/camera/image_raw/compressed": "sensor_msgs/msg/CompressedImage",
    "/cmd_vel": "geometry_msgs/msg/Twist",
    "/tf": "tf2_msgs/msg/TFMessage",
    "/tf_static": "tf2_msgs/msg/TFMessage",
    "/map": "nav_msgs/msg/OccupancyGrid",
    "/plan": "nav_msgs/msg/Path",
    "/navigate_to_pose/_action/feedback": "nav2_msgs/action/NavigateToPose_FeedbackMessage",
    "/collision": "std_msgs/msg/Bool",
}
TOOL_CALLS = "/auraison/tool_calls"
"""One std_msgs/String per tool call, its ``data`` the call as JSON (name, args, ok, result)."""
PREDICTIONS = "/auraison/predictions"
"""One std_msgs/String per world-model rollout, JSON: backend, stand_in, made_at (robot clock),
trajectory [{t, x, y, yaw}] with t seconds after made_at."""
PREDICTED_PATH = "/auraison/predicted_path"
"""The same rollout as a nav_msgs/Path (stamps on the robot clock), for Foxglove's 3D panel."""
OWN_TOPICS = {TOOL_CALLS: "std_msgs/msg/String", PREDICTIONS: "std_msgs/msg/String",
              PREDICTED_PATH: "nav_msgs/msg/Path"}  # fmt: skip
VISIT_RADIUS_M = 0.5
"""A named place counts as visited when the robot came this close (the demo's arrival radius)."""
MAX_TEXT = 4096  # longer strings in a tool call (base64 images) are summarised, not stored


class RecordingSummary(BaseModel):
    """What a recording holds, for its lake registration and for people."""

    path: str
    world: str
    started_ns: int
    duration_s: float
    messages: dict[str, int]
    places_visited: list[str]
    outcome: str
    distance_m: float
    collisions: int
    tool_calls: int
    predictions: int


class BagWriter:
    """An MCAP file with ROS 2 profile: one schema per type, one channel per topic, CDR payloads."""

    def __init__(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self.path = path
        self._file = path.open("wb")
        self._writer = Writer(self._file, compression=CompressionType.ZSTD)
        self._writer.start(profile="ros2", library="auraison")
        self._schemas: dict[str, int] = {}
        self._channels: dict[str, tuple[int, str]] = {}
        self._encoders: dict[str, Any] = {}
        self.counts: dict[str, int] = {}

    def channel(self, topic: str, type_name: str) -> None:
        """Register ``topic`` now, so the bag lists it even if no message ever comes."""
        if topic in self._channels:
            return
        name = rosmsgs.full(type_name)
        if name not in self._schemas:
            text = rosmsgs.schema_text(type_name)
            self._schemas[name] = self._writer.register_schema(name, SchemaEncoding.ROS2, text.encode())
            alias = rosmsgs.parseable(name)
            self._encoders[name] = serialize_dynamic(alias, rosmsgs.parseable(text))[alias]
        cid = self._writer.register_channel(topic, MessageEncoding.CDR, self._schemas[name])
        self._channels[topic] = (cid, name)
        self.counts[topic] = 0

    def write(self, topic: str, msg: dict[str, Any], log_ns: int | None = None) -> None:
        cid, name = self._channels[topic]
        data = self._encoders[name](rosmsgs.to_cdr(name, msg))
        now = log_ns or time.time_ns()
        self._writer.add_message(cid, log_time=now, data=data, publish_time=now, sequence=self.counts[topic])
        self.counts[topic] += 1

    def finish(self, metadata: dict[str, str]) -> None:
        self._writer.add_metadata("auraison.recording", metadata)
        self._writer.finish()
        self._file.close()


def _stamp_s(msg: dict[str, Any]) -> float | None:
    stamp = (msg.get("header") or {}).get("stamp") or {}
    if "sec" not in stamp:
        return None
    return float(stamp["sec"]) + float(stamp.get("nanosec", 0)) / 1e9


def _slim(value: Any) -> Any:
    """A tool call's JSON without its bulk (images travel on the camera topic)."""
    if isinstance(value, str) and len(value) > MAX_TEXT:
        return f"<{len(value)} characters not recorded>"
    if isinstance(value, dict):
        return {k: _slim(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_slim(v) for v in value]
    return value


def _yaw(q: dict[str, Any]) -> float:
    x, y, z, w = (float(q.get(k, d)) for k, d in (("x", 0), ("y", 0), ("z", 0), ("w", 1)))
    return math.atan2(2 * (w * z + x * y), 1 - 2 * (y * y + z * z))


def outcome_of(calls: list[dict[str, Any]]) -> str:
    """The last navigation's status among an agent's tool calls ("no navigation" without one)."""
    for call in reversed(calls):
        if not call["name"].startswith("robot_navigate"):
            continue
        if not call["ok"]:
            return "refused"
        result = call["result"] if isinstance(call["result"], dict) else {}
        nav = result.get("navigation") or result
        return str(nav.get("status") or result.get("status") or "unknown")
    return "no navigation"


class BagRecorder:
    """Records a robot (over rosbridge) into a bag until ``stop``; tool calls and predictions are
    handed in by the agent run (``tool_call``, ``prediction``)."""

    def __init__(
        self,
        url: str,
        out: Path,
        *,
        world: str,
        places: dict[str, tuple[float, float, float]] | None = None,
        topics: dict[str, str] | None = None,
    ) -> None:
        if out.suffix != ".mcap":
            raise UserError(f"{out} is not an .mcap file", "name the recording something.mcap")
        self.url, self.world, self.places = url, world, places or {}
        self.topics = dict(TOPICS if topics is None else topics)
        self.bag = BagWriter(out)
        self.client = RosbridgeClient(url)
        self.started_ns = time.time_ns()
        self.poses: list[tuple[float, float, float, float, float, float]] = []  # t, x, y, yaw, v, w
        self.calls: list[dict[str, Any]] = []
        self.predictions = 0
        self.collisions = 0
        self._open = True
        self.summary: RecordingSummary | None = None

    async def start(self) -> BagRecorder:
        for topic, type_name in {**self.topics, **OWN_TOPICS}.items():
            self.bag.channel(topic, type_name)
        for topic, type_name in self.topics.items():
            await self.client.listen(topic, type_name, self._listener(topic))
        return self

    def _listener(self, topic: str):
        def on_message(msg: dict[str, Any]) -> None:
            if not self._open:
                return
            self.bag.write(topic, msg)
            if topic == "/odom":
                stamp = _stamp_s(msg)
                pose = msg["pose"]["pose"]
                twist = msg["twist"]["twist"]
                if stamp is not None:
                    self.poses.append((stamp, float(pose["position"]["x"]), float(pose["position"]["y"]),
                                       _yaw(pose["orientation"]), float(twist["linear"]["x"]),
                                       float(twist["angular"]["z"])))  # fmt: skip
            elif topic == "/collision" and msg.get("data"):
                self.collisions += 1

        return on_message

    def robot_clock(self) -> float:
        """The robot's time now, as far as we know it (the latest odometry stamp)."""
        return self.poses[-1][0] if self.poses else time.time()

    def tool_call(self, name: str, args: dict[str, Any], ok: bool, result: Any) -> None:
        """``agents.runner.OnCall``: one tool call onto ``/auraison/tool_calls``."""
        if not self._open:
            return
        call = {"name": name, "args": _slim(args), "ok": ok, "robot_time": self.robot_clock(),
                "result": _slim(result) if ok else str(result)}  # fmt: skip
        self.calls.append(call)
        self.bag.write(TOOL_CALLS, {"data": json.dumps(call, default=str)})

    def prediction(self, backend: str, stand_in: bool, trajectory: list[dict[str, float]]) -> None:
        """A world-model rollout (``WorldModel`` observer), stamped on the robot clock."""
        if not self._open:
            return
        made_at = self.robot_clock()
        body = {"backend": backend, "stand_in": stand_in, "made_at": made_at, "trajectory": trajectory}
        self.bag.write(PREDICTIONS, {"data": json.dumps(body)})
        poses = []
        for p in trajectory:
            t = made_at + float(p["t"])
            sec = math.floor(t)
            half = float(p["yaw"]) / 2
            poses.append({
                "header": {"stamp": {"sec": sec, "nanosec": int((t - sec) * 1e9)}, "frame_id": "map"},
                "pose": {"position": {"x": p["x"], "y": p["y"], "z": 0.0},
                         "orientation": {"x": 0.0, "y": 0.0, "z": math.sin(half), "w": math.cos(half)}},
            })  # fmt: skip
        header = poses[0]["header"] if poses else {"stamp": {"sec": 0, "nanosec": 0}, "frame_id": "map"}
        self.bag.write(PREDICTED_PATH, {"header": header, "poses": poses})
        self.predictions += 1

    def visited(self) -> list[str]:
        """Named places the robot came within ``VISIT_RADIUS_M`` of, in the order it reached them."""
        first: dict[str, float] = {}
        for t, x, y, *_ in self.poses:
            for name, (px, py, _) in self.places.items():
                if name not in first and math.hypot(x - px, y - py) <= VISIT_RADIUS_M:
                    first[name] = t
        return sorted(first, key=first.__getitem__)

    async def stop(self, outcome: str | None = None) -> RecordingSummary:
        """Stop listening, close the bag with its metadata and say what it holds (once: a
        second call returns the first summary)."""
        if self.summary is not None:
            return self.summary
        self._open = False
        await self.client.close()
        distance = sum(math.dist(a[1:3], b[1:3]) for a, b in zip(self.poses, self.poses[1:], strict=False))
        summary = RecordingSummary(
            path=str(self.bag.path.resolve()),
            world=self.world,
            started_ns=self.started_ns,
            duration_s=round((time.time_ns() - self.started_ns) / 1e9, 3),
            messages=dict(self.bag.counts),
            places_visited=self.visited(),
            outcome=outcome or outcome_of(self.calls),
            distance_m=round(distance, 3),
            collisions=self.collisions,
            tool_calls=len(self.calls),
            predictions=self.predictions,
        )
        meta = summary.model_dump(mode="json")
        self.bag.finish({k: v if isinstance(v, str) else json.dumps(v) for k, v in meta.items()})
        log.info("recording written", path=summary.path, messages=sum(summary.messages.values()))
        self.summary = summary
        return summary

    def observe(self, prediction: Any) -> None:
        """``WorldModel.observers``: a rollout of the world plane onto the bag."""
        traj = [p.model_dump() for p in prediction.trajectory]
        self.prediction(prediction.backend, prediction.stand_in, traj)
