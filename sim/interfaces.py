"""ROS 2 interface definitions the simulator speaks, in a compact .msg-like form.

One table drives three things: rosapi ``*_details`` typedefs, default values for partial
incoming messages (rosbridge fills missing fields), and rejection of unknown fields
(rosbridge's ``NonexistentFieldException``). Names are kept in the short ``pkg/Type`` form;
``normalize`` maps ``pkg/msg/Type``, ``pkg/srv/Type`` and ``pkg/action/Type`` onto it.
"""

from __future__ import annotations

import base64
import re
from dataclasses import dataclass
from typing import Any

PRIMITIVES = {
    "bool": ("boolean", False),
    "byte": ("octet", 0),
    "char": ("uint8", 0),
    "int8": ("int8", 0),
    "uint8": ("uint8", 0),
    "int16": ("int16", 0),
    "uint16": ("uint16", 0),
    "int32": ("int32", 0),
    "uint32": ("uint32", 0),
    "int64": ("int64", 0),
    "uint64": ("uint64", 0),
    "float32": ("float", 0.0),
    "float64": ("double", 0.0),
    "string": ("string", ""),
}
INT_TYPES = {
    "byte",
    "char",
    "int8",
    "uint8",
    "int16",
    "uint16",
    "int32",
    "uint32",
    "int64",
    "uint64",
}
FLOAT_TYPES = {"float32", "float64"}

# name: "type field; type[] field; type[N] field; CONST_TYPE NAME=value"
MESSAGES: dict[str, str] = {
    "builtin_interfaces/Time": "int32 sec; uint32 nanosec",
    "builtin_interfaces/Duration": "int32 sec; uint32 nanosec",
    "std_msgs/Header": "builtin_interfaces/Time stamp; string frame_id",
    "std_msgs/Empty": "",
    "std_msgs/Bool": "bool data",
    "std_msgs/String": "string data",
    "std_msgs/Float64": "float64 data",
    "std_msgs/UInt32": "uint32 data",
    "geometry_msgs/Vector3": "float64 x; float64 y; float64 z",
    "geometry_msgs/Point": "float64 x; float64 y; float64 z",
    "geometry_msgs/Quaternion": "float64 x; float64 y; float64 z; float64 w=1.0",
    "geometry_msgs/Pose": "geometry_msgs/Point position; geometry_msgs/Quaternion orientation",
    "geometry_msgs/PoseStamped": "std_msgs/Header header; geometry_msgs/Pose pose",
    "geometry_msgs/PoseWithCovariance": "geometry_msgs/Pose pose; float64[36] covariance",
    "geometry_msgs/PoseWithCovarianceStamped": (
        "std_msgs/Header header; geometry_msgs/PoseWithCovariance pose"
    ),
    "geometry_msgs/Twist": "geometry_msgs/Vector3 linear; geometry_msgs/Vector3 angular",
    "geometry_msgs/TwistStamped": "std_msgs/Header header; geometry_msgs/Twist twist",
    "geometry_msgs/TwistWithCovariance": "geometry_msgs/Twist twist; float64[36] covariance",
    "geometry_msgs/Transform": ("geometry_msgs/Vector3 translation; geometry_msgs/Quaternion rotation"),
    "geometry_msgs/TransformStamped": (
        "std_msgs/Header header; string child_frame_id; geometry_msgs/Transform transform"
    ),
    "tf2_msgs/TFMessage": "geometry_msgs/TransformStamped[] transforms",
    "nav_msgs/Odometry": (
        "std_msgs/Header header; string child_frame_id; "
        "geometry_msgs/PoseWithCovariance pose; geometry_msgs/TwistWithCovariance twist"
    ),
    "nav_msgs/MapMetaData": (
        "builtin_interfaces/Time map_load_time; float32 resolution; uint32 width; "
        "uint32 height; geometry_msgs/Pose origin"
    ),
    "nav_msgs/OccupancyGrid": "std_msgs/Header header; nav_msgs/MapMetaData info; int8[] data",
    "nav_msgs/Path": "std_msgs/Header header; geometry_msgs/PoseStamped[] poses",
    "sensor_msgs/LaserScan": (
        "std_msgs/Header header; float32 angle_min; float32 angle_max; float32 angle_increment;"
        " float32 time_increment; float32 scan_time; float32 range_min; float32 range_max;"
        " float32[] ranges; float32[] intensities"
    ),
    "sensor_msgs/CompressedImage": "std_msgs/Header header; string format; uint8[] data",
    "rcl_interfaces/Log": (
        "builtin_interfaces/Time stamp; uint8 level; string name; string msg; string file;"
        " string function; uint32 line; uint8 DEBUG=10; uint8 INFO=20; uint8 WARN=30;"
        " uint8 ERROR=40; uint8 FATAL=50"
    ),
    "rcl_interfaces/ParameterEvent": "builtin_interfaces/Time stamp; string node",
    "rcl_interfaces/ListParametersResult": "string[] names; string[] prefixes",
    "unique_identifier_msgs/UUID": "uint8[16] uuid",
    "action_msgs/GoalInfo": "unique_identifier_msgs/UUID goal_id; builtin_interfaces/Time stamp",
    "action_msgs/GoalStatus": (
        "action_msgs/GoalInfo goal_info; int8 status; int8 STATUS_UNKNOWN=0;"
        " int8 STATUS_ACCEPTED=1; int8 STATUS_EXECUTING=2; int8 STATUS_CANCELING=3;"
        " int8 STATUS_SUCCEEDED=4; int8 STATUS_CANCELED=5; int8 STATUS_ABORTED=6"
    ),
    "action_msgs/GoalStatusArray": "action_msgs/GoalStatus[] status_list",
    "rosapi_msgs/TypeDef": (
        "string type; string[] fieldnames; string[] fieldtypes; int32[] fieldarraylen;"
        " string[] examples; string[] constnames; string[] constvalues"
    ),
    # Action parts (Jazzy layout).
    "nav2_msgs/NavigateToPose_Goal": "geometry_msgs/PoseStamped pose; string behavior_tree",
    "nav2_msgs/NavigateToPose_Result": (
        "uint16 error_code; string error_msg; uint16 NONE=0; uint16 UNKNOWN=9000;"
        " uint16 FAILED_TO_LOAD_BEHAVIOR_TREE=9001; uint16 TF_ERROR=9002; uint16 TIMEOUT=9003"
    ),
    "nav2_msgs/NavigateToPose_Feedback": (
        "geometry_msgs/PoseStamped current_pose; builtin_interfaces/Duration navigation_time;"
        " builtin_interfaces/Duration estimated_time_remaining; int16 number_of_recoveries;"
        " float32 distance_remaining"
    ),
    "nav2_msgs/NavigateToPose_FeedbackMessage": (
        "unique_identifier_msgs/UUID goal_id; nav2_msgs/NavigateToPose_Feedback feedback"
    ),
}

# Services: name -> (request, response)
SERVICES: dict[str, tuple[str, str]] = {
    "std_srvs/Empty": ("", ""),
    "action_msgs/CancelGoal": (
        "action_msgs/GoalInfo goal_info",
        "int8 return_code; action_msgs/GoalInfo[] goals_canceling; int8 ERROR_NONE=0;"
        " int8 ERROR_REJECTED=1; int8 ERROR_UNKNOWN_GOAL_ID=2; int8 ERROR_GOAL_TERMINATED=3",
    ),
    "std_srvs/Trigger": ("", "bool success; string message"),
    "std_srvs/SetBool": ("bool data", "bool success; string message"),
    "rcl_interfaces/ListParameters": (
        "string[] prefixes; uint64 depth",
        "rcl_interfaces/ListParametersResult result",
    ),
    "rosapi_msgs/GetROSVersion": ("", "uint8 version; string distro"),
    "rosapi_msgs/Topics": ("", "string[] topics; string[] types"),
    "rosapi_msgs/TopicType": ("string topic", "string type"),
    "rosapi_msgs/Publishers": ("string topic", "string[] publishers"),
    "rosapi_msgs/Subscribers": ("string topic", "string[] subscribers"),
    "rosapi_msgs/MessageDetails": ("string type", "rosapi_msgs/TypeDef[] typedefs"),
    "rosapi_msgs/Services": ("", "string[] services"),
    "rosapi_msgs/ServiceType": ("string service", "string type"),
    "rosapi_msgs/ServiceRequestDetails": ("string type", "rosapi_msgs/TypeDef[] typedefs"),
    "rosapi_msgs/ServiceResponseDetails": ("string type", "rosapi_msgs/TypeDef[] typedefs"),
    "rosapi_msgs/ServiceNode": ("string service", "string node"),
    "rosapi_msgs/ServiceProviders": ("string service", "string[] providers"),
    "rosapi_msgs/Nodes": ("", "string[] nodes"),
    "rosapi_msgs/NodeDetails": (
        "string node",
        "string[] subscribing; string[] publishing; string[] services",
    ),
    "rosapi_msgs/GetActionServers": ("", "string[] action_servers"),
    "rosapi_msgs/ActionType": ("string action", "string type"),
    "rosapi_msgs/Interfaces": ("", "string[] interfaces"),
    "rosapi_msgs/ActionGoalDetails": ("string type", "rosapi_msgs/TypeDef[] typedefs"),
    "rosapi_msgs/ActionResultDetails": ("string type", "rosapi_msgs/TypeDef[] typedefs"),
    "rosapi_msgs/ActionFeedbackDetails": ("string type", "rosapi_msgs/TypeDef[] typedefs"),
    "rosapi_msgs/GetParam": (
        "string name; string default_value",
        "string value; bool successful; string reason",
    ),
    "rosapi_msgs/SetParam": ("string name; string value", "bool successful; string reason"),
    "rosapi_msgs/HasParam": ("string name", "bool exists"),
    "rosapi_msgs/DeleteParam": ("string name", "bool successful; string reason"),
    "rosapi_msgs/GetParamNames": ("", "string[] names"),
    "rosapi_msgs/GetTime": ("", "builtin_interfaces/Time time"),
}
for _name, (_req, _resp) in SERVICES.items():
    MESSAGES[f"{_name}_Request"] = _req
    MESSAGES[f"{_name}_Response"] = _resp

ACTIONS = {"nav2_msgs/NavigateToPose"}

_FULL = re.compile(r"^/?([A-Za-z0-9_]+)/(?:msg/|srv/|action/)?([A-Za-z0-9_]+)$")


def normalize(type_name: str) -> str:
    """``pkg/msg/T`` / ``pkg/srv/T`` / ``pkg/action/T`` / ``pkg/T`` → ``pkg/T``."""
    m = _FULL.match(type_name.strip()) if isinstance(type_name, str) else None
    return f"{m.group(1)}/{m.group(2)}" if m else type_name


def full_name(short: str, kind: str = "msg") -> str:
    pkg, _, name = short.partition("/")
    return f"{pkg}/{kind}/{name}"


@dataclass(frozen=True)
class Field:
    name: str
    base: str  # primitive name or message type
    array: int | None  # None scalar, 0 unbounded, N fixed
    default: Any = None

    @property
    def primitive(self) -> bool:
        return self.base in PRIMITIVES


@dataclass(frozen=True)
class Const:
    name: str
    base: str
    value: str


def _parse(spec: str) -> tuple[list[Field], list[Const]]:
    fields, consts = [], []
    for part in filter(None, (p.strip() for p in spec.split(";"))):
        base, _, rest = part.partition(" ")
        array = None
        if "[" in base:
            base, _, n = base.partition("[")
            n = n.rstrip("]")
            array = int(n) if n else 0
        name, eq, value = rest.partition("=")
        if eq and name.isupper():
            consts.append(Const(name, base, value))
        else:
            default = PRIMITIVES[base][1] if base in PRIMITIVES else None
            if eq:
                default = type(default)(value) if default is not None else value
            fields.append(Field(name, base, array, default))
    return fields, consts


_CACHE: dict[str, tuple[list[Field], list[Const]]] = {}


def definition(type_name: str) -> tuple[list[Field], list[Const]] | None:
    short = normalize(type_name)
    if short not in MESSAGES:
        return None
    if short not in _CACHE:
        _CACHE[short] = _parse(MESSAGES[short])
    return _CACHE[short]


def typedefs(type_name: str) -> list[dict[str, Any]]:
    """rosapi ``TypeDef`` list: the type first, then its nested types (depth first, once)."""
    out: list[dict[str, Any]] = []
    seen: set[str] = set()

    def visit(name: str) -> None:
        if name in seen or (d := definition(name)) is None:
            return
        seen.add(name)
        fields, consts = d
        out.append(
            {
                "type": name,
                "fieldnames": [f.name for f in fields],
                "fieldtypes": [PRIMITIVES[f.base][0] if f.primitive else f.base for f in fields],
                "fieldarraylen": [-1 if f.array is None else f.array for f in fields],
                "examples": [_example(f) for f in fields],
                "constnames": [c.name for c in consts],
                "constvalues": [c.value for c in consts],
            }
        )
        for f in fields:
            if not f.primitive:
                visit(f.base)

    visit(normalize(type_name))
    return out


def _example(f: Field) -> str:
    if f.array is not None:
        return "[]"
    if not f.primitive:
        return "{}"
    return {bool: "False", str: "", int: "0", float: "0.0"}[type(f.default)]


def default_message(type_name: str) -> dict[str, Any]:
    d = definition(type_name)
    if d is None:
        return {}
    msg: dict[str, Any] = {}
    for f in d[0]:
        if f.array is not None:
            fill = f.default if f.primitive else None
            msg[f.name] = [fill] * f.array if f.array and f.primitive else []
        elif f.primitive:
            msg[f.name] = f.default
        else:
            msg[f.name] = default_message(f.base)
    return msg


class NonexistentFieldError(ValueError):
    """rosbridge's ``NonexistentFieldException``: the message names a field the type lacks."""


class FieldTypeError(ValueError):
    """rosbridge's ``FieldTypeMismatchException``."""


def from_json(type_name: str, msg: Any, path: str = "") -> dict[str, Any]:
    """Fill defaults and type-check an incoming message the way rosbridge's ``_to_inst`` does."""
    d = definition(type_name)
    if d is None:
        raise NonexistentFieldError(f"unknown type {type_name}")
    if msg is None:
        msg = {}
    if not isinstance(msg, dict):
        raise FieldTypeError(f"{path or type_name}: expected an object, got {type(msg).__name__}")
    fields = {f.name: f for f in d[0]}
    unknown = set(msg) - set(fields)
    if unknown:
        raise NonexistentFieldError(f"{type_name} has no field(s) {sorted(unknown)}")
    out = default_message(type_name)
    for name, value in msg.items():
        f = fields[name]
        where = f"{path}.{name}" if path else name
        if f.array is not None:
            if f.base in ("uint8", "char") and isinstance(value, str):
                value = list(base64.b64decode(value))
            if not isinstance(value, list):
                raise FieldTypeError(f"{where}: expected a list")
            out[name] = [_convert(f, v, where) for v in value]
        else:
            out[name] = _convert(f, value, where)
    return out


def _convert(f: Field, value: Any, where: str) -> Any:
    if not f.primitive:
        return from_json(f.base, value, where)
    if f.base == "bool":
        if not isinstance(value, bool):
            raise FieldTypeError(f"{where}: expected bool, got {value!r}")
        return value
    if f.base == "string":
        if not isinstance(value, str):
            raise FieldTypeError(f"{where}: expected string, got {value!r}")
        return value
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise FieldTypeError(f"{where}: expected {f.base}, got {value!r}")
    if f.base in INT_TYPES:
        if isinstance(value, float):
            raise FieldTypeError(f"{where}: expected {f.base}, got float {value!r}")
        return value
    return float(value)  # ints are accepted for float fields
