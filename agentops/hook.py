"""Enforcement point 3: Claude Code's ``PreToolUse`` hook asks the same engine.

Claude Code runs ``auraison hook pre-tool-use`` with the hook JSON on stdin; we answer with
``hookSpecificOutput.permissionDecision``: ``allow``, or ``deny`` with the reason and hint
(Claude sees them). A call that needs a human becomes ``ask`` when it goes straight to a plane
server (Claude Code's prompt is then the approval); for the gateway, which enforces approvals
itself, it is ``deny`` naming the pending approval id to decide with ``auraison approvals``.
Only MCP tools (``mcp__<server>__<tool>``) are governed; others get no opinion.
"""

from __future__ import annotations

import json
from typing import Any

from .decision import Identity, ToolCall
from .engine import AgentOps

GATEWAY_SERVERS = ("auraison",)


def tool_name(claude_tool: str) -> str | None:
    """``mcp__auraison__robot_stop`` → ``robot_stop``; ``mcp__robot__stop`` → ``robot_stop``."""
    parts = claude_tool.split("__", 2)
    if len(parts) != 3 or parts[0] != "mcp":
        return None
    server, tool = parts[1], parts[2]
    return tool if server in GATEWAY_SERVERS else f"{server}_{tool}"


async def pre_tool_use(
    engine: AgentOps, payload: dict[str, Any], identity: Identity
) -> dict[str, Any] | None:
    name = tool_name(str(payload.get("tool_name", "")))
    if name is None:
        return None
    args = payload.get("tool_input") or {}
    call = ToolCall(
        identity=identity,
        tool=name,
        args=args if isinstance(args, dict) else {},
        call_id=str(payload.get("tool_use_id") or payload.get("session_id") or "hook"),
        point="hook",
    )
    decision = await engine.decide(call)
    kind = {"allow": "allow", "deny": "deny", "shed": "deny", "needs_approval": "ask"}[decision.kind]
    if decision.kind == "needs_approval" and _server(payload) in GATEWAY_SERVERS:
        kind = "deny"
    return {
        "hookSpecificOutput": {
            "hookEventName": "PreToolUse",
            "permissionDecision": kind,
            "permissionDecisionReason": decision.message(),
        }
    }


def _server(payload: dict[str, Any]) -> str:
    return str(payload.get("tool_name", "")).split("__", 2)[1]


def parse(stdin_text: str) -> dict[str, Any]:
    data = json.loads(stdin_text or "{}")
    if not isinstance(data, dict):
        raise ValueError("the hook input must be a JSON object")
    return data
