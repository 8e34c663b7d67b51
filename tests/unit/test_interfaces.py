"""The interface table: typedefs for rosapi, defaults and rosbridge-like checks."""

from __future__ import annotations

import pytest

from auraison.sim import interfaces as itf


@pytest.mark.parametrize(
    "name", ["geometry_msgs/Twist", "geometry_msgs/msg/Twist", "/geometry_msgs/msg/Twist"]
)
def test_normalize_accepts_every_spelling(name: str) -> None:
    assert itf.normalize(name) == "geometry_msgs/Twist"


def test_typedefs_type_first_then_nested_once() -> None:
    defs = itf.typedefs("nav_msgs/msg/Odometry")
    assert defs[0]["type"] == "nav_msgs/Odometry"
    names = [d["type"] for d in defs]
    assert len(names) == len(set(names))
    assert {
        "std_msgs/Header",
        "geometry_msgs/PoseWithCovariance",
        "geometry_msgs/Quaternion",
    } <= set(names)
    pwc = next(d for d in defs if d["type"] == "geometry_msgs/PoseWithCovariance")
    assert pwc["fieldtypes"][1] == "double" and pwc["fieldarraylen"][1] == 36


def test_scan_ranges_are_unbounded_float_sequences() -> None:
    scan = itf.typedefs("sensor_msgs/LaserScan")[0]
    i = scan["fieldnames"].index("ranges")
    assert (scan["fieldtypes"][i], scan["fieldarraylen"][i]) == ("float", 0)


def test_result_constants_listed() -> None:
    result = itf.typedefs("nav2_msgs/NavigateToPose_Result")[0]
    assert dict(zip(result["constnames"], result["constvalues"], strict=True))["TIMEOUT"] == "9003"


def test_partial_message_gets_defaults_and_ints_become_floats() -> None:
    msg = itf.from_json("geometry_msgs/Twist", {"linear": {"x": 1}})
    assert msg == {
        "linear": {"x": 1.0, "y": 0.0, "z": 0.0},
        "angular": {"x": 0.0, "y": 0.0, "z": 0.0},
    }
    assert isinstance(msg["linear"]["x"], float)


@pytest.mark.parametrize(
    ("msg", "error"),
    [
        ({"linear": {"q": 1}}, itf.NonexistentFieldError),
        ({"bogus": {}}, itf.NonexistentFieldError),
        ({"linear": {"x": "1"}}, itf.FieldTypeError),
        ({"linear": {"x": True}}, itf.FieldTypeError),
        ({"linear": 5}, itf.FieldTypeError),
    ],
)
def test_bad_messages_raise_like_rosbridge(msg: dict, error: type[Exception]) -> None:
    with pytest.raises(error):
        itf.from_json("geometry_msgs/Twist", msg)


def test_uint8_array_accepts_base64() -> None:
    msg = itf.from_json("sensor_msgs/CompressedImage", {"data": "AQID"})
    assert msg["data"] == [1, 2, 3]


def test_unknown_type_has_no_typedefs() -> None:
    assert itf.typedefs("bogus/action/X") == []
