"""The Claude Code hook, run exactly as Claude Code runs it: `auraison hook pre-tool-use`, JSON
on stdin, the answer on stdout, the exit code read as allow (0) or block (2)."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from auraison.agentops import AgentOps, Identity, ToolCall
from auraison.agentops.approvals import SqliteApprovalStore
from auraison.agentops.policy import DEFAULT_POLICY, load_policy
from auraison.identity import PrincipalKind
from tests.conftest import free_port

DRIVE = {"linear": 0.1, "angular": 0.0, "duration": 1.0}


@pytest.fixture
def env(tmp_path: Path) -> dict[str, str]:
    base = {k: v for k, v in os.environ.items() if not k.startswith("AURAISON_")}
    base.pop("CLAUDE_CODE_SESSION_ATTENDED", None)  # run from `claude -p`, the hook would not ask
    return base | {"AURAISON_HOME": str(tmp_path)}


def hook(env: dict[str, str], payload: dict | str) -> subprocess.CompletedProcess[str]:
    text = payload if isinstance(payload, str) else json.dumps(payload)
    return subprocess.run(
        [sys.executable, "-m", "auraison", "hook", "pre-tool-use"],
        input=text,
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
    )


def answer(res: subprocess.CompletedProcess[str]) -> dict | None:
    assert res.returncode == 0, res.stderr
    return json.loads(res.stdout)["hookSpecificOutput"] if res.stdout.strip() else None


def store_of(home: str) -> SqliteApprovalStore:
    return SqliteApprovalStore(Path(home) / "data" / "agentops" / "approvals.sqlite")


def test_allowed_calls_get_no_opinion(env: dict[str, str]) -> None:
    """A call the policy allows leaves Claude Code's own permission rules in charge."""
    assert answer(hook(env, {"tool_name": "mcp__auraison__robot_get_state", "tool_input": {}})) is None
    assert answer(hook(env, {"tool_name": "Read", "tool_input": {"file_path": "/etc/hosts"}})) is None


def test_approval_gated_call_asks_and_opens_nothing(env: dict[str, str]) -> None:
    """`ask` keeps the person in the loop; the dry check neither opens nor consumes approvals."""
    for name in ("mcp__auraison__robot_drive", "mcp__plugin_auraison_auraison__robot_drive"):
        out = answer(hook(env, {"tool_name": name, "tool_input": DRIVE}))
        assert out is not None and out["permissionDecision"] == "ask", out
    store = store_of(env["AURAISON_HOME"])
    assert asyncio.run(store.list()) == []
    engine = AgentOps(load_policy(DEFAULT_POLICY), approvals=store)
    asked = asyncio.run(engine.decide(ToolCall(tool="robot_drive", args=DRIVE)))
    person = Identity(subject="alice", kind=PrincipalKind.human)
    asyncio.run(store.decide(asked.approval_id, True, by=person))
    for _ in range(2):
        assert answer(hook(env, {"tool_name": "mcp__auraison__robot_drive", "tool_input": DRIVE})) is None
    assert asyncio.run(store.get(asked.approval_id)).status == "approved"  # the real call will use it


def test_unattended_session_leaves_approval_to_the_gateway(env: dict[str, str]) -> None:
    """`claude -p` (CLAUDE_CODE_SESSION_ATTENDED=0): nobody answers an `ask`, which would refuse
    the call before the gateway could open a request; the hook has no opinion, denials stand."""
    unattended = env | {"CLAUDE_CODE_SESSION_ATTENDED": "0"}
    assert answer(hook(unattended, {"tool_name": "mcp__auraison__robot_drive", "tool_input": DRIVE})) is None
    assert asyncio.run(store_of(env["AURAISON_HOME"]).list()) == []  # still a dry check
    far = {"tool_name": "mcp__auraison__robot_navigate_to", "tool_input": {"x": 40, "y": 1}}
    assert answer(hook(unattended, far))["permissionDecision"] == "deny"


def test_denials_say_why(env: dict[str, str]) -> None:
    """A geofence breach and an agent deciding approvals are denied with the reason."""
    out = answer(
        hook(env, {"tool_name": "mcp__auraison__robot_navigate_to", "tool_input": {"x": 40, "y": 1}})
    )
    assert out["permissionDecision"] == "deny" and "geofence" in out["permissionDecisionReason"]
    decide = {"approval_id": "apr_0123456789ab", "approve": True}
    out = answer(hook(env, {"tool_name": "mcp__auraison__approvals_decide", "tool_input": decide}))
    assert out["permissionDecision"] == "deny" and "for people only" in out["permissionDecisionReason"]
    shell = {"command": "cd /tmp && .venv/bin/auraison approvals approve apr_0123456789ab"}
    out = answer(hook(env, {"tool_name": "Bash", "tool_input": shell}))
    assert out["permissionDecision"] == "deny" and "never decide" in out["permissionDecisionReason"]
    assert answer(hook(env, {"tool_name": "Bash", "tool_input": {"command": "ls approvals"}})) is None


@pytest.mark.parametrize(
    ("extra", "payload", "says"),
    [
        ({}, "{not json", "not valid JSON"),
        ({}, "[1, 2]", "JSON object"),
        (
            {"AURAISON_AGENTOPS__APPROVALS": "redis", "AURAISON_REDIS__URL": "redis://127.0.0.1:{port}/0"},
            {"tool_name": "mcp__auraison__robot_drive", "tool_input": DRIVE},
            "hook: failed",
        ),
    ],
)
def test_fails_closed_in_one_line(env: dict[str, str], extra: dict, payload, says: str) -> None:
    """Bad input or an unreachable approval store blocks the call (exit 2) with one line."""
    port = str(free_port())  # nothing listens there: the approval store is unreachable
    res = hook(env | {k: v.format(port=port) for k, v in extra.items()}, payload)
    assert res.returncode == 2 and res.stdout == ""
    assert says in res.stderr and len(res.stderr.strip().splitlines()) == 1, res.stderr
