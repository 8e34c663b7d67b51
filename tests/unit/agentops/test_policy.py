"""Policy loading, resolution and guardrails (with hypothesis properties)."""

from __future__ import annotations

import asyncio
import os
import time
from pathlib import Path

import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from auraison.agentops import AgentOps, Identity, PolicyError, ToolCall
from auraison.agentops.engine import PolicySource
from auraison.agentops.guardrails import inside
from auraison.agentops.policy import DEFAULT_POLICY, load_policy, parse_policy

BASE = """\
version: 1
rules:
  - name: base
    allow: ["robot_*", "lake_query"]
    constraints:
      robot_drive:
        args:
          linear: {min: -0.2, max: 0.2}
          mode: {enum: [slow, fast]}
      lake_query:
        args: {sql: {pattern: "^select", max_length: 20}}
      robot_navigate_to:
        geofence: {polygon: [[0, 0], [4, 0], [4, 4], [0, 4]]}
  - name: no-drive-for-viewers
    roles: [viewer]
    deny: ["robot_drive"]
"""


def decide(engine: AgentOps, tool: str, args: dict | None = None, role: str = "operator") -> str:
    call = ToolCall(identity=Identity(tenant="t", role=role), tool=tool, args=args or {})
    return asyncio.run(engine.decide(call)).kind


def test_default_policy_loads_and_keeps_stop_for_everyone() -> None:
    p = load_policy(DEFAULT_POLICY)
    for role in ("viewer", "operator", "agent", "owner"):
        assert p.visible("any", role, "robot_stop")
    assert p.limit_for("any", "viewer", "robot_stop").never_wait
    assert not p.visible("any", "viewer", "robot_drive")
    assert not p.visible("any", "agent", "approvals_decide")  # agents never self-approve


@pytest.mark.parametrize(
    ("text", "needle"),
    [
        (BASE.replace("min: -0.2", "min: low"), "line 8: rules.0.constraints.robot_drive.args.linear.min"),
        (BASE.replace("allow: [", "alow: ["), "line 4: rules.0.alow"),
        (BASE.replace('pattern: "^select"', 'pattern: "(["'), "not a valid regular expression"),
        (BASE.replace("[0, 4]]}", "]}").replace("[4, 4], ", ""), "geofence.polygon"),
        ("version: 1\nrules: []\n", "line 2: rules"),
        (BASE + "  - name: base\n    allow: []\n", "rule names must be unique"),
        ("rules: [unclosed\n", "not valid YAML"),
    ],
)
def test_malformed_policy_names_file_line_field(text: str, needle: str) -> None:
    with pytest.raises(PolicyError) as err:
        parse_policy(text, "p.yaml")
    assert str(err.value).startswith("p.yaml: line") and needle in str(err.value)


def test_guardrails_each_kind() -> None:
    eng = AgentOps(parse_policy(BASE))
    assert decide(eng, "robot_drive", {"linear": 0.1, "mode": "slow"}) == "allow"
    assert decide(eng, "robot_drive", {"linear": 0.5}) == "deny"
    assert decide(eng, "robot_drive", {"linear": float("nan")}) == "deny"
    assert decide(eng, "robot_drive", {"mode": "warp"}) == "deny"
    assert decide(eng, "lake_query", {"sql": "drop table x"}) == "deny"
    assert decide(eng, "lake_query", {"sql": "select " + "x" * 30}) == "deny"
    assert decide(eng, "robot_navigate_to", {"x": 1, "y": 1}) == "allow"
    assert decide(eng, "robot_navigate_to", {"x": 5, "y": 1}) == "deny"
    assert decide(eng, "robot_navigate_to", {"place": "kitchen"}) == "allow"  # not a coordinate
    assert decide(eng, "cluster_stop") == "deny"  # default deny
    assert decide(eng, "robot_drive", {"linear": 0.1}, role="viewer") == "deny"


def test_denial_hint_lists_what_is_allowed() -> None:
    eng = AgentOps(parse_policy(BASE))
    call = ToolCall(identity=Identity(role="operator"), tool="billing_invoice")
    d = asyncio.run(eng.decide(call))
    assert d.kind == "deny" and "robot_*" in d.hint and "lake_query" in d.hint


names = st.text("abcdefg_*", min_size=1, max_size=6)


@settings(max_examples=200, deadline=None)
@given(
    allow=st.lists(names, max_size=4),
    deny=st.lists(names, min_size=1, max_size=4),
    tool=st.text("abcdefg_", min_size=1, max_size=8),
)
def test_deny_always_wins_and_nothing_escapes_a_matching_deny(
    allow: list[str], deny: list[str], tool: str
) -> None:
    import fnmatch
    import json

    text = (
        f"version: 1\nrules:\n  - name: a\n    allow: {json.dumps([*allow, '*'])}\n"
        f"  - name: d\n    deny: {json.dumps(deny)}\n"
    )
    eng = AgentOps(parse_policy(text))
    kind = decide(eng, tool)
    denied = any(fnmatch.fnmatchcase(tool, g) for g in deny)
    assert (kind == "deny") == denied  # allow '*' everywhere: only a matching deny denies


@settings(max_examples=300, deadline=None)
@given(
    x0=st.floats(-50, 50),
    y0=st.floats(-50, 50),
    w=st.floats(0.1, 20),
    h=st.floats(0.1, 20),
    px=st.floats(-100, 100),
    py=st.floats(-100, 100),
)
def test_geofence_matches_rectangle_membership(
    x0: float, y0: float, w: float, h: float, px: float, py: float
) -> None:
    poly = [(x0, y0), (x0 + w, y0), (x0 + w, y0 + h), (x0, y0 + h)]
    margin = min(abs(px - x0), abs(px - x0 - w), abs(py - y0), abs(py - y0 - h))
    assume(margin > 1e-6)  # edges count as inside within a 1e-9 tolerance
    expected = x0 <= px <= x0 + w and y0 <= py <= y0 + h
    assert inside(px, py, poly) == expected


def test_concave_geofence() -> None:
    l_shape = [(0, 0), (4, 0), (4, 1), (1, 1), (1, 4), (0, 4)]
    assert inside(0.5, 3, l_shape) and inside(3, 0.5, l_shape) and not inside(3, 3, l_shape)


def test_policy_reloads_without_restart_and_refuses_a_broken_edit(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    path = tmp_path / "p.yaml"
    path.write_text(BASE)
    source = PolicySource(path, check_s=0.0)
    eng = AgentOps(source)
    assert decide(eng, "cluster_stop") == "deny"
    path.write_text(
        BASE.replace('allow: ["robot_*", "lake_query"]', 'allow: ["robot_*", "lake_query", "cluster_*"]')
    )
    os.utime(path, ns=(time.time_ns(), time.time_ns() + 1_000_000))
    assert decide(eng, "cluster_stop") == "allow"
    assert source.reloads == 1
    path.write_text("rules: [broken\n")
    os.utime(path, ns=(time.time_ns(), time.time_ns() + 2_000_000))
    assert decide(eng, "cluster_stop") == "allow"  # the last good policy stays
    assert source.reloads == 1


def test_policy_diff_names_changed_rules() -> None:
    from auraison.agentops.engine import policy_diff

    a = parse_policy(BASE)
    b = parse_policy(BASE.replace("no-drive-for-viewers", "viewers").replace('"lake_query"]', '"lake_*"]'))
    assert policy_diff(a, b) == {
        "added": ["viewers"],
        "removed": ["no-drive-for-viewers"],
        "changed": ["base"],
    }


def test_most_specific_limit_wins_regardless_of_block_order() -> None:
    p = parse_policy("""\
version: 1
rules:
  - name: specific-first
    allow: ["*"]
    limits: {robot_stop: {never_wait: true}, "robot_*": {concurrency: 1}}
  - name: broad-later
    limits: {"*": {concurrency: 9}, "robot_*": {concurrency: 2}}
""")
    assert p.limit_for("t", "r", "robot_stop").never_wait
    assert p.limit_for("t", "r", "robot_drive").concurrency == 2  # same specificity: later block
    assert p.limit_for("t", "r", "lake_query").concurrency == 9


ARG_DENY = """\
version: 1
rules:
  - name: admins
    roles: [admin]
    allow: ["*"]
  - name: ros
    allow: ["ros_*"]
    constraints:
      "ros_publish_*":
        args:
          topic: {not_pattern: "(?i)cmd_vel", hint: "use robot_drive"}
          msg_type: {not_pattern: "(?i)twist"}
      ros_send_action_goal:
        deny: "use robot_navigate_safely"
"""


def test_not_pattern_denies_a_matching_argument_with_the_policy_hint() -> None:
    eng = AgentOps(parse_policy(ARG_DENY))
    call = ToolCall(
        identity=Identity(role="admin"),  # the constraint binds whoever allowed the tool
        tool="ros_publish_once",
        args={"topic": "/robot1/CMD_VEL", "msg_type": "std_msgs/msg/String"},
    )
    d = asyncio.run(eng.decide(call))
    assert d.kind == "deny" and d.hint == "use robot_drive" and d.rule == "ros" and "topic" in d.reason
    assert (
        decide(eng, "ros_publish_once", {"topic": "/chatter", "msg_type": "std_msgs/msg/String"}) == "allow"
    )
    assert decide(eng, "ros_publish_once", {"topic": "/chatter", "msg_type": "geometry_msgs/Twist"}) == "deny"
    # a non-string value is judged by its text: it cannot slip past a deny pattern
    assert decide(eng, "ros_publish_once", {"topic": ["/cmd_vel"], "msg_type": "x"}) == "deny"
    assert decide(eng, "ros_publish_once", {"msg_type": "std_msgs/msg/String"}) == "allow"  # absent


def test_deny_constraint_refuses_every_call_with_its_hint() -> None:
    eng = AgentOps(parse_policy(ARG_DENY))
    for role in ("admin", "operator"):
        call = ToolCall(identity=Identity(role=role), tool="ros_send_action_goal", args={})
        d = asyncio.run(eng.decide(call))
        assert d.kind == "deny" and d.hint == "use robot_navigate_safely"
    assert decide(eng, "ros_get_topics") == "allow"
    # tools/list hides a tool no call can pass; the call itself still gets the hint above
    assert eng.policy.visible("t", "operator", "ros_get_topics")
    assert not eng.policy.visible("t", "operator", "ros_send_action_goal")
    with pytest.raises(PolicyError, match="not_pattern"):
        parse_policy(ARG_DENY.replace("(?i)twist", "(unclosed"), "p.yaml")


@pytest.mark.parametrize(
    ("tool", "args", "kind", "hint"),
    [
        ("ros_get_topics", {}, "allow", None),
        ("ros_subscribe_once", {"topic": "/odom", "msg_type": "nav_msgs/msg/Odometry"}, "allow", None),
        (
            "ros_publish_for_durations",
            {"topic": "/cmd_vel", "msg_type": "geometry_msgs/msg/Twist", "messages": [{}], "durations": [1]},
            "deny",
            "robot_drive",
        ),
        (
            "ros_publish_once",
            {"topic": "/base/vel", "msg_type": "geometry_msgs/msg/TwistStamped"},
            "deny",
            "robot_drive",
        ),
        (
            "ros_publish_once",
            {"topic": "/goal_pose", "msg_type": "geometry_msgs/msg/PoseStamped"},
            "deny",
            "robot_navigate_safely",
        ),
        ("ros_send_action_goal", {"action_name": "/navigate_to_pose"}, "deny", "robot_navigate_safely"),
        (
            "ros_call_service",
            {"service_name": "/navigate_to_pose/_action/send_goal"},
            "deny",
            "robot_navigate_safely",
        ),
        ("ros_connect_to_robot", {"ip": "10.0.0.9", "port": 9090}, "deny", "robot.rosbridge_url"),
        (
            "ros_publish_once",
            {"topic": "/chatter", "msg_type": "std_msgs/msg/String"},
            "needs_approval",
            None,
        ),
        ("ros_set_parameter", {"name": "/sim:max_linear_speed", "value": "2"}, "needs_approval", None),
        (
            "ros_call_service",
            {"service_name": "/reset_sim", "service_type": "std_srvs/srv/Empty"},
            "needs_approval",
            None,
        ),
    ],
)
def test_default_policy_governs_proxied_ros_tools(tool: str, args: dict, kind: str, hint: str | None) -> None:
    eng = AgentOps(load_policy(DEFAULT_POLICY))
    for role in ("operator", "agent", "admin"):
        d = asyncio.run(eng.decide(ToolCall(identity=Identity(tenant="t", role=role), tool=tool, args=args)))
        expected = "allow" if (kind == "needs_approval" and role == "admin") else kind
        assert d.kind == expected, (role, d)
        if hint is not None:
            assert hint in d.hint
    viewer = ToolCall(identity=Identity(tenant="t", role="viewer"), tool=tool, args=args)
    assert asyncio.run(eng.decide(viewer)).kind == ("allow" if kind == "allow" else "deny")
