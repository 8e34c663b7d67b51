"""Enforcement point 3: Claude Code's ``PreToolUse`` hook asks the same engine — a dry check.

Claude Code runs ``auraison hook pre-tool-use`` before every tool call, with the hook JSON on
stdin. The hook is advisory to a gateway that enforces for real, so it must never change state:
it asks ``engine.decide(call, dry=True)``, which neither opens an approval request nor consumes a
granted one (only the call that runs consumes). It answers:

* ``deny`` with the reason and hint where the policy denies (Claude sees them), and for shell
  commands that would decide an approval (``auraison approvals approve …``): agents never decide;
* ``ask`` where the policy wants a person (an approval-gated tool without a granted approval),
  so Claude Code's own permission prompt stays on for it; except in an unattended session
  (``claude -p``: Claude Code sets ``CLAUDE_CODE_SESSION_ATTENDED=0``), where nobody answers
  that prompt, an ``ask`` refuses the call outright and no approval request could ever open:
  there the hook has no opinion and the gateway holds the call for a person's approval
  (``auraison approvals approve``), as it does for every client;
* nothing where the policy allows: Claude Code's default applies (never a blanket ``allow``,
  which would switch its permission prompt off).

It fails closed: any error — bad input, an unreadable policy, an unreachable approval store —
exits 2 with one line on stderr, which Claude Code treats as a blocked call. And it is fast (it
runs before every tool call): no tracer, no plane servers, no numpy unless a robot place must be
resolved.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import re
import sys
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from .decision import Identity, ToolCall

if TYPE_CHECKING:
    from auraison.settings import Settings

    from .engine import AgentOps

GATEWAY_SERVERS = ("auraison", "plugin_auraison_auraison")
"""The gateway's server name in the project's ``.mcp.json`` and as the installed plugin's."""

_DECIDES_APPROVALS = re.compile(r"approvals\W+(?:\S+\W+)*?(approve|deny)\b|approvals\.sqlite", re.S)
_QUOTING = re.compile(r"[\\'\"`]")


def tool_name(claude_tool: str) -> str | None:
    """``mcp__auraison__robot_stop`` → ``robot_stop``; ``mcp__robot__stop`` → ``robot_stop``."""
    parts = claude_tool.split("__", 2)
    if len(parts) != 3 or parts[0] != "mcp":
        return None
    server, tool = parts[1], parts[2]
    return tool if server in GATEWAY_SERVERS else f"{server}_{tool}"


def _answer(kind: str, reason: str) -> dict[str, Any]:
    return {
        "hookSpecificOutput": {
            "hookEventName": "PreToolUse",
            "permissionDecision": kind,
            "permissionDecisionReason": reason,
        }
    }


def shell_answer(payload: dict[str, Any]) -> dict[str, Any] | None:
    """A shell command that would decide an approval is an agent deciding: deny it."""
    command = (payload.get("tool_input") or {}).get("command", "")
    # Quotes and backslashes hide nothing from a shell; they are dropped before matching. This
    # is a courtesy check, not the boundary: see README, "Security model".
    if isinstance(command, str) and _DECIDES_APPROVALS.search(_QUOTING.sub("", command)):
        return _answer(
            "deny",
            "Denied: agents never decide approvals. Tell the person the approval id "
            "(approvals_list) and ask them to run `auraison approvals approve <id>` in their terminal.",
        )
    return None


def attended() -> bool:
    """False in a Claude Code session nobody attends (``claude -p``), where an ``ask`` is a refusal."""
    return os.environ.get("CLAUDE_CODE_SESSION_ATTENDED") != "0"


async def pre_tool_use(
    engine: AgentOps, payload: dict[str, Any], identity: Identity, attended: bool = True
) -> dict[str, Any] | None:
    """The hook's answer for one ``PreToolUse`` payload, or ``None`` for no opinion."""
    if payload.get("tool_name") == "Bash":
        return shell_answer(payload)
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
    decision = await engine.decide(call, dry=True)
    if decision.kind == "allow":
        return None
    if decision.kind == "needs_approval":
        if not attended:
            return None  # the gateway opens the request; a person decides it at their terminal
        where = (
            f"request {decision.approval_id} is waiting"
            if decision.approval_id
            else "the gateway opens a request when the call is made"
        )
        return _answer(
            "ask",
            f"{name} needs a person's approval ({where}); confirm here, then approve it with "
            "`auraison approvals approve <id>`.",
        )
    return _answer("deny", decision.message())


def parse(stdin_text: str) -> dict[str, Any]:
    data = json.loads(stdin_text or "{}")
    if not isinstance(data, dict):
        raise ValueError("the hook input must be a JSON object")
    return data


def hook_engine(settings: Settings) -> AgentOps:
    """The engine a dry check needs: the policy and the approval store, nothing that traces,
    meters or connects to a plane (those belong to the call that runs)."""
    from .engine import AgentOps, PolicySource
    from .factory import approval_store
    from .policy import DEFAULT_POLICY

    engine = AgentOps(
        policy=PolicySource(settings.agentops.policy_file or DEFAULT_POLICY),
        approvals=approval_store(settings),
        enabled=settings.agentops.enabled,
    )
    engine.arg_views["robot_*"] = _lazy_robot_view(settings)
    return engine


def _lazy_robot_view(settings: Settings) -> Callable[[dict[str, Any]], dict[str, Any]]:
    """The robot plane's argument view (a place name resolved to x/y for the geofence), built on
    the first robot call that names a place: loading the world costs numpy, most calls don't."""
    view: list[Callable[[dict[str, Any]], dict[str, Any]]] = []

    def resolve(args: dict[str, Any]) -> dict[str, Any]:
        if "place" not in args:
            return args
        if not view:
            from auraison.mcp_servers.robot.places import places_for, policy_view

            view.append(policy_view(places_for(settings)))
        return view[0](args)

    return resolve


def leave_span(
    settings: Settings,
    engine: AgentOps,
    payload: dict[str, Any],
    answer: dict[str, Any] | None,
    start_ns: int,
) -> None:
    """The hook's decision as a span (``pre_tool_use {tool}``), written without the OTel SDK:
    one spool segment that the next process tracing to the lake commits (or, without a lake
    sink, one line of the JSONL trace file). Cheap: no tracer, one small file write."""
    from opentelemetry.semconv._incubating.attributes.gen_ai_attributes import (
        GEN_AI_CONVERSATION_ID,
        GEN_AI_TOOL_CALL_ID,
        GEN_AI_TOOL_NAME,
    )
    from opentelemetry.semconv.attributes.error_attributes import ERROR_TYPE

    from .factory import spool_dir, trace_file
    from .spool import Spool, span_row

    record = engine.decisions[-1] if engine.decisions else None
    denied = answer is not None and answer["hookSpecificOutput"]["permissionDecision"] == "deny"
    if record is None and not denied:
        return  # a shell command the hook had no opinion on
    tool = record.tool if record is not None else str(payload.get("tool_name"))
    attrs: dict[str, Any] = {
        GEN_AI_TOOL_NAME: tool,
        "auraison.enforcement_point": "hook",
        "auraison.decision": record.kind if record is not None else "deny",
        "auraison.decision.reason": record.reason if record is not None else "agents never decide approvals",
        "auraison.tenant": settings.agentops.tenant,
        "auraison.role": str(getattr(settings.agentops.role, "value", settings.agentops.role)),
    }
    if record is not None and record.rule:
        attrs["auraison.decision.rule"] = record.rule
    if payload.get("tool_use_id"):
        attrs[GEN_AI_TOOL_CALL_ID] = str(payload["tool_use_id"])
    if payload.get("session_id"):
        attrs[GEN_AI_CONVERSATION_ID] = str(payload["session_id"])
    if denied:
        attrs[ERROR_TYPE] = "ToolDenied"
    row = span_row(f"pre_tool_use {tool}", attrs, status="error" if denied else "unset", start_ns=start_ns)
    if settings.agentops.lake_sink:
        Spool(spool_dir(settings)).append([row])
    else:
        path = trace_file(settings)
        path.parent.mkdir(parents=True, exist_ok=True)
        with path.open("a") as f:
            f.write(json.dumps(row) + "\n")


def main(settings: Settings | None = None) -> int:
    """``auraison hook pre-tool-use``: JSON in on stdin, the answer out on stdout, exit 0; on
    any failure exit 2 with one line on stderr (Claude Code blocks the call)."""
    start_ns = time.time_ns()
    try:
        payload = parse(sys.stdin.read())
        if payload.get("tool_name") != "Bash" and tool_name(str(payload.get("tool_name", ""))) is None:
            return 0  # not governed here: no opinion, Claude Code's own rules apply
        if settings is None:
            from auraison.settings import load_settings

            settings = load_settings()
        from .factory import default_identity

        engine = hook_engine(settings)
        with contextlib.redirect_stdout(sys.stderr):  # stdout carries the answer, and only that
            answer = asyncio.run(pre_tool_use(engine, payload, default_identity(settings), attended()))
        with contextlib.suppress(Exception):  # a span that cannot be written never blocks a call
            leave_span(settings, engine, payload, answer, start_ns)
    except Exception as exc:  # fail closed, whatever broke
        what = "the hook input is not valid JSON" if isinstance(exc, json.JSONDecodeError) else "failed"
        line = " ".join(f"auraison hook: {what}: {exc}".split())
        print(f"{line} — the call is blocked", file=sys.stderr)
        return 2
    if answer is not None:
        print(json.dumps(answer))
    return 0
