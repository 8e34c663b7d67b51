"""The standard ROS 2 message definitions a recording needs, in ``.msg`` text, and the step
from a rosbridge JSON message to a value the CDR encoder takes.

Why our own copy: no ROS installation is here, and a bag is only readable by ``ros2 bag`` and
Foxglove if every schema carries the real definition (``ros2msg`` encoding: the type's text,
then each dependency after a ``===`` line and ``MSG: pkg/Type``). The texts are the ROS 2
(Humble/Jazzy) definitions with comments dropped; field names and types are the wire contract.

rosbridge sends ``uint8[]`` as base64 text and non-finite floats as ``null``; ``to_cdr`` undoes
both, guided by the definitions, so the bag holds the bytes a ROS node would have sent.
"""

from __future__ import annotations

import base64
import math
import re
from functools import cache
from typing import Any

DEFINITIONS: dict[str, str] = {
    "builtin_interfaces/Time": "int32 sec\nuint32 nanosec",
    "builtin_interfaces/Duration": "int32 sec\nuint32 nanosec",
    "std_msgs/Header": "builtin_interfaces/Time stamp\nstring frame_id",
    "std_msgs/Bool": "bool data",
    "std_msgs/String": "string data",
    "geometry_msgs/Vector3": "float64 x\nfloat64 y\nfloat64 z",
    "geometry_msgs/Point": "float64 x\nfloat64 y\nfloat64 z",
    "geometry_msgs/Quaternion": "float64 x 0\nfloat64 y 0\nfloat64 z 0\nfloat64 w 1",
    "geometry_msgs/Pose": "geometry_msgs/Point position\ngeometry_msgs/Quaternion orientation",
    "geometry_msgs/PoseStamped": "std_msgs/Header header\ngeometry_msgs/Pose pose",
    "geometry_msgs/PoseWithCovariance": "geometry_msgs/Pose pose\nfloat64[36] covariance",
    "geometry_msgs/Twist": "geometry_msgs/Vector3 linear\ngeometry_msgs/Vector3 angular",
    "geometry_msgs/TwistWithCovariance": "geometry_msgs/Twist twist\nfloat64[36] covariance",
    "geometry_msgs/Transform": "geometry_msgs/Vector3 translation\ngeometry_msgs/Quaternion rotation",
    "geometry_msgs/TransformStamped": (
        "std_msgs/Header header\nstring child_frame_id\ngeometry_msgs/Transform transform"
    ),
    "tf2_msgs/TFMessage": "geometry_msgs/TransformStamped[] transforms",
    "nav_msgs/Odometry": (
        "std_msgs/Header header\nstring child_frame_id\n"
        "geometry_msgs/PoseWithCovariance pose\ngeometry_msgs/TwistWithCovariance twist"
    ),
    "nav_msgs/MapMetaData": (
        "builtin_interfaces/Time map_load_time\nfloat32 resolution\nuint32 width\nuint32 height\n"
        "geometry_msgs/Pose origin"
    ),
    "nav_msgs/OccupancyGrid": "std_msgs/Header header\nnav_msgs/MapMetaData info\nint8[] data",
    "nav_msgs/Path": "std_msgs/Header header\ngeometry_msgs/PoseStamped[] poses",
    "sensor_msgs/LaserScan": (
        "std_msgs/Header header\nfloat32 angle_min\nfloat32 angle_max\nfloat32 angle_increment\n"
        "float32 time_increment\nfloat32 scan_time\nfloat32 range_min\nfloat32 range_max\n"
        "float32[] ranges\nfloat32[] intensities"
    ),
    "sensor_msgs/CompressedImage": "std_msgs/Header header\nstring format\nuint8[] data",
    "unique_identifier_msgs/UUID": "uint8[16] uuid",
    "nav2_msgs/NavigateToPose_Feedback": (
        "geometry_msgs/PoseStamped current_pose\nbuiltin_interfaces/Duration navigation_time\n"
        "builtin_interfaces/Duration estimated_time_remaining\nint16 number_of_recoveries\n"
        "float32 distance_remaining"
    ),
    "nav2_msgs/NavigateToPose_FeedbackMessage": (
        "unique_identifier_msgs/UUID goal_id\nnav2_msgs/NavigateToPose_Feedback feedback"
    ),
}
SEPARATOR = "=" * 80
BYTES = {"uint8", "byte", "char"}
FLOATS = {"float32", "float64"}


def short(type_name: str) -> str:
    """``pkg/msg/Type`` (or ``pkg/action/Type``) → ``pkg/Type``, the key of ``DEFINITIONS``."""
    parts = type_name.split("/")
    return f"{parts[0]}/{parts[-1]}"


def full(type_name: str) -> str:
    """The name a ROS 2 bag gives the schema: ``nav_msgs/msg/Odometry``; actions keep ``action``."""
    pkg, name = short(type_name).split("/")
    kind = "action" if name.endswith(("_Feedback", "_FeedbackMessage", "_Goal", "_Result")) else "msg"
    return f"{pkg}/{kind}/{name}"


@cache
def fields(type_name: str) -> tuple[tuple[str, str, bool], ...]:
    """(field, element type, is array) of a known type."""
    out = []
    for line in DEFINITIONS[short(type_name)].splitlines():
        type_, name = line.split()[:2]
        base, _, _ = type_.partition("[")
        out.append((name, base, "[" in type_))
    return tuple(out)


def _deps(type_name: str, seen: list[str]) -> None:
    for _, base, _ in fields(type_name):
        if "/" in base and base not in seen:
            seen.append(base)
            _deps(base, seen)


@cache
def schema_text(type_name: str) -> str:
    """The ``ros2msg`` schema of a type: its text, then each dependency once."""
    deps: list[str] = []
    _deps(type_name, deps)
    parts = [DEFINITIONS[short(type_name)]]
    parts += [f"{SEPARATOR}\nMSG: {d}\n{DEFINITIONS[d]}" for d in deps]
    return "\n".join(parts) + "\n"


def parseable(text: str) -> str:
    """``text`` with the underscores of action type names dropped (``NavigateToPose_Feedback`` →
    ``NavigateToPoseFeedback``). ROS 2 generates these names from ``.action`` files, but the
    ``.msg`` parser the encoder uses refuses them; names never reach the CDR bytes, so the bag
    keeps the real names and only the encoder sees these."""
    return re.sub(r"_(?=[A-Z])", "", text)


def to_cdr(type_name: str, msg: Any) -> dict[str, Any]:
    """A rosbridge JSON message as the encoder wants it: base64 → bytes, ``null`` floats → inf
    (rosbridge writes both NaN and inf as null; a range with no return is +inf in ROS, REP 117)."""
    out: dict[str, Any] = {}
    msg = msg if isinstance(msg, dict) else {}
    for name, base, is_array in fields(type_name):
        value = msg.get(name)
        if value is None and not is_array:
            continue  # the encoder's default
        if "/" in base:
            out[name] = [to_cdr(base, v) for v in value or []] if is_array else to_cdr(base, value)
        elif is_array and base in BYTES:
            out[name] = base64.b64decode(value) if isinstance(value, str) else bytes(value or [])
        elif is_array and base in FLOATS:
            out[name] = [math.inf if v is None else float(v) for v in value or []]
        else:
            out[name] = value
    return out
