"""ROS 2 messages as rosbridge emits them (JSON), built from simulator state."""

from __future__ import annotations

import base64
import math
from typing import Any

from auraison.geometry.pose import quaternion

COV_POSE = [0.0] * 36
COV_TWIST = [0.0] * 36


def stamp(t: float) -> dict[str, int]:
    sec = math.floor(t)
    return {"sec": int(sec), "nanosec": int((t - sec) * 1e9)}


def duration(t: float) -> dict[str, int]:
    return stamp(max(t, 0.0))


def header(t: float, frame: str) -> dict[str, Any]:
    return {"stamp": stamp(t), "frame_id": frame}


def pose(x: float, y: float, yaw: float) -> dict[str, Any]:
    return {"position": {"x": x, "y": y, "z": 0.0}, "orientation": quaternion(yaw)}


def pose_stamped(t: float, x: float, y: float, yaw: float, frame: str = "map") -> dict[str, Any]:
    return {"header": header(t, frame), "pose": pose(x, y, yaw)}


def odometry(t: float, x: float, y: float, yaw: float, v: float, w: float) -> dict[str, Any]:
    return {
        "header": header(t, "odom"),
        "child_frame_id": "base_footprint",
        "pose": {"pose": pose(x, y, yaw), "covariance": COV_POSE},
        "twist": {
            "twist": {
                "linear": {"x": v, "y": 0.0, "z": 0.0},
                "angular": {"x": 0.0, "y": 0.0, "z": w},
            },
            "covariance": COV_TWIST,
        },
    }


def laser_scan(
    t: float,
    ranges: list[float | None],
    angle_increment: float,
    angle_max: float,
    range_min: float,
    range_max: float,
    scan_time: float,
) -> dict[str, Any]:
    return {
        "header": header(t, "base_scan"),
        "angle_min": 0.0,
        "angle_max": angle_max,
        "angle_increment": angle_increment,
        "time_increment": scan_time / len(ranges),
        "scan_time": scan_time,
        "range_min": range_min,
        "range_max": range_max,
        "ranges": ranges,
        "intensities": [],
    }


def compressed_image(t: float, jpeg: bytes) -> dict[str, Any]:
    # rosbridge encodes uint8[] as base64 text
    return {
        "header": header(t, "camera_rgb_optical_frame"),
        "format": "jpeg",
        "data": base64.b64encode(jpeg).decode(),
    }


def twist(v: float, w: float) -> dict[str, Any]:
    return {"linear": {"x": v, "y": 0.0, "z": 0.0}, "angular": {"x": 0.0, "y": 0.0, "z": w}}


def transform(t: float, parent: str, child: str, x: float, y: float, yaw: float) -> dict[str, Any]:
    return {
        "header": header(t, parent),
        "child_frame_id": child,
        "transform": {"translation": {"x": x, "y": y, "z": 0.0}, "rotation": quaternion(yaw)},
    }


def goal_status(uuid: bytes, t: float, status: int) -> dict[str, Any]:
    # uint8[16] goes over rosbridge as base64
    return {
        "goal_info": {"goal_id": {"uuid": base64.b64encode(uuid).decode()}, "stamp": stamp(t)},
        "status": status,
    }


def log(t: float, level: int, name: str, msg: str) -> dict[str, Any]:
    return {
        "stamp": stamp(t),
        "level": level,
        "name": name,
        "msg": msg,
        "file": "",
        "function": "",
        "line": 0,
    }
