"""The offline policy model: a deterministic, readable stand-in for an LLM.

It understands a handful of tasks (go to a place or x/y, report status, list places, list
approvals) and follows a fixed plan of tool calls for each; for anything else it says plainly
what it cannot do. Every answer is labelled as coming from the offline stand-in. It lets the
demo and tests run with no API key and no network.
"""

from __future__ import annotations

import json
import math
import re
from dataclasses import dataclass
from typing import Any

from pydantic_ai.messages import (
    ModelMessage,
    ModelRequest,
    ModelResponse,
    RetryPromptPart,
    TextPart,
    ToolCallPart,
    ToolReturnPart,
    UserPromptPart,
)
from pydantic_ai.models.function import AgentInfo, FunctionModel

LABEL = "[offline stand-in model]"
_NAV = re.compile(
    r"\b(?:go|navigate|drive|head|move|travel|take\s+\w+)\s+(?:over\s+)?(?:to\s+)?(?:the\s+)?([A-Za-z_][\w-]*)",
    re.I,
)
_XY = re.compile(r"(-?\d+(?:\.\d+)?)\s*[, ]\s*(-?\d+(?:\.\d+)?)")


@dataclass(frozen=True)
class Task:
    kind: str
    args: dict[str, Any]


_DRIVE = re.compile(
    r"\bdrive\s+(forward|backward|back)\b.*?(\d+(?:\.\d+)?)\s*m/s.*?(\d+(?:\.\d+)?)\s*s\b", re.I
)
_PATROL = re.compile(
    r"\bpatrol\b\s+([\w\s,]+?)(?:\s+(?:and\s+)?watch(?:ing)?\s+(\d+)\s*times(?:\s+at\s+each)?)?\s*\.?$", re.I
)
_WATCH = re.compile(r"\b(?:watch|poll|monitor)\b.*?(\d+)\s*times", re.I)


def understand(prompt: str) -> Task:
    text = prompt.strip()
    low = text.lower()
    if (m := _DRIVE.search(text)) is not None:
        sign = 1.0 if m.group(1).lower() == "forward" else -1.0
        return Task("drive", {"linear": sign * float(m.group(2)), "duration": float(m.group(3))})
    for key, (pattern, _sql) in LAKE_QUESTIONS.items():
        if re.search(pattern, low):
            return Task("lake", {"question": key})
    if (m := _PATROL.search(text)) is not None:
        places = [p for p in re.split(r"[\s,]+", m.group(1).strip()) if p and p.lower() != "and"]
        return Task("patrol", {"places": [p.lower() for p in places], "watch": int(m.group(2) or 0)})
    if (m := _WATCH.search(text)) is not None:
        return Task("watch", {"times": min(int(m.group(1)), 1000)})
    if re.search(r"\b(go|navigate|drive|head|move|travel|take)\b", low):
        if (m := _XY.search(text)) is not None:
            return Task("navigate", {"x": float(m.group(1)), "y": float(m.group(2))})
        if (m := _NAV.search(text)) is not None:
            return Task("navigate", {"place": m.group(1).lower()})
    if re.search(r"\b(places?|where can)\b", low):
        return Task("places", {})
    if re.search(r"\b(approvals?|pending)\b", low):
        return Task("approvals", {})
    if re.search(r"\b(status|state|where|how is|pose)\b", low):
        return Task("status", {})
    return Task("unknown", {})


# The fixed lake questions the offline model can answer (with the lake plane installed).
LAKE_QUESTIONS: dict[str, tuple[str, str]] = {
    "denials": (
        r"\b(denied|denials|refused|blocked)\b",
        "SELECT tool, count(*) AS calls FROM spans WHERE decision IN ('deny', 'shed') "
        "GROUP BY tool ORDER BY calls DESC",
    ),
    "tool_calls": (
        r"\b(tool calls?|traces?|spans?|which tools)\b",
        "SELECT tool, decision, count(*) AS calls FROM spans WHERE tool IS NOT NULL "
        "GROUP BY tool, decision ORDER BY calls DESC",
    ),
    "events": (
        r"\bevents?\b",
        "SELECT plane, type, count(*) AS n FROM events GROUP BY plane, type ORDER BY n DESC",
    ),
}

PLANS: dict[str, list[str]] = {
    "navigate": ["robot_get_state", "robot_plan_path", "robot_navigate_safely"],
    "status": ["robot_get_state", "robot_get_scan_summary"],
    "places": ["robot_list_places"],
    "approvals": ["approvals_list"],
    "drive": ["robot_drive"],
    "lake": ["lake_query"],
}


def tools_for(messages: list[ModelMessage]) -> list[str]:
    """The gateway tools the current turn's plan will call: a client that loads tool schemas on
    demand (Claude Code's ToolSearch) is asked for these before the plan starts."""
    task = understand(_task_prompt(messages))
    if task.kind == "patrol":
        return ["robot_navigate_safely", "robot_get_state"]
    if task.kind == "watch":
        return ["robot_get_state"]
    return list(PLANS.get(task.kind, []))


def _results(messages: list[ModelMessage]) -> list[tuple[str, Any, bool]]:
    out = []
    for m in messages:
        if isinstance(m, ModelRequest):
            for p in m.parts:
                if isinstance(p, ToolReturnPart):
                    content = p.content
                    if isinstance(content, dict) and set(content) == {"result"}:
                        content = content["result"]
                    ok = getattr(p, "outcome", "success") == "success" and not getattr(p, "retry", False)
                    out.append((p.tool_name, content, ok))
                elif isinstance(p, RetryPromptPart) and p.tool_name:
                    out.append((p.tool_name, p.content, False))
    return out


_HELD = re.compile(r"Needs human approval \(approval id (apr_[0-9a-f]+)\)")
"""How the gateway words a call it holds for a person (``Decision.message``)."""

_GO_ON = re.compile(
    r"^\W*(?:(?:it\s+is\s+|it's\s+)?approved|go\s+on|go\s+ahead|continue|carry\s+on|retry|try\s+again)"
    r"(?:[\s,.!;]+(?:please|now|go\s+on|go\s+ahead|continue|retry|try\s+again))*[\s.!]*$",
    re.I,
)


def _task_prompt(messages: list[ModelMessage]) -> str:
    """The task this turn works on: the latest prompt, or where it is only a go-ahead
    ("approved, go on" after a person approved a held call) the latest one before it, which is
    then planned again from the start; its held call, made again with the same arguments, runs."""
    prompts = [
        p.content
        for m in messages
        if isinstance(m, ModelRequest)
        for p in m.parts
        if isinstance(p, UserPromptPart) and isinstance(p.content, str)
    ]
    for prompt in reversed(prompts):
        if not _GO_ON.match(prompt):
            return prompt
    return prompts[-1] if prompts else ""


def _current_turn(messages: list[ModelMessage]) -> list[ModelMessage]:
    """The messages since the latest user prompt (a chat keeps earlier turns in history)."""
    for i in range(len(messages) - 1, -1, -1):
        m = messages[i]
        if isinstance(m, ModelRequest) and any(isinstance(p, UserPromptPart) for p in m.parts):
            return messages[i:]
    return messages


def policy(messages: list[ModelMessage], info: AgentInfo) -> ModelResponse:
    task = understand(_task_prompt(messages))
    messages = _current_turn(messages)
    available = {t.name for t in info.function_tools}
    done = _results(messages)
    if done and not done[-1][2]:  # the last call failed or was refused: explain, do not retry
        name, content, _ = done[-1]
        if (held := _HELD.search(_text(content))) is not None:
            return _say(
                f"`{name}` is waiting for a person's approval ({held.group(1)}); nothing has run. "
                f"Approve it with `auraison approvals approve {held.group(1)}`, then tell me to go on."
            )
        return _say(f"I could not complete `{name}`: {_text(content)}")
    plan = PLANS.get(task.kind)
    if task.kind == "watch":
        plan = ["robot_get_state"] * task.args["times"]
    if task.kind == "patrol":
        return _patrol(task, done)
    if plan is None:
        return _say(
            "I only understand: go to <place> (or x, y), drive forward <v> m/s for <t> s, "
            "status, places, approvals, watch the robot <n> times. "
            "Set ANTHROPIC_API_KEY to use Claude for anything else."
        )
    missing = [t for t in plan if t not in available]
    if missing:
        return _say(f"this agent has no {', '.join(missing)} tool here (is that plane installed?)")
    if len(done) < len(plan):
        tool = plan[len(done)]
        args = task.args if tool in ("robot_plan_path", "robot_navigate_safely", "robot_drive") else {}
        if tool == "lake_query":
            args = {"sql": LAKE_QUESTIONS[task.args["question"]][1], "limit": 20}
        if tool == "robot_navigate_safely" and not _reachable(done):
            return _say(_summary(task, done))
        return ModelResponse(parts=[ToolCallPart(tool, args, tool_call_id=f"offline-{len(done) + 1}")])
    return _say(_summary(task, done))


def _patrol(task: Task, done: list[tuple[str, Any, bool]]) -> ModelResponse:
    """Visit each place in turn, watching the robot ``watch`` times after each arrival."""
    steps: list[tuple[str, dict[str, Any]]] = []
    for place in task.args["places"]:
        steps.append(("robot_navigate_safely", {"place": place}))
        steps += [("robot_get_state", {})] * task.args["watch"]
    if len(done) < len(steps):
        tool, args = steps[len(done)]
        return ModelResponse(parts=[ToolCallPart(tool, args, tool_call_id=f"offline-{len(done) + 1}")])
    arrived = sum(
        1 for n, c, ok in done if n == "robot_navigate_safely" and ok and c.get("status") == "succeeded"
    )
    return _say(
        f"Patrol done: reached {arrived} of {len(task.args['places'])} places in {len(done)} tool calls."
    )


def _reachable(done: list[tuple[str, Any, bool]]) -> bool:
    plan = next((c for n, c, ok in done if n == "robot_plan_path" and ok), None)
    return isinstance(plan, dict) and bool(plan.get("reachable"))


def _summary(task: Task, done: list[tuple[str, Any, bool]]) -> str:
    results = {n: c for n, c, ok in done if ok}
    if task.kind == "navigate":
        plan = results.get("robot_plan_path", {})
        target = task.args.get("place") or f"({task.args.get('x')}, {task.args.get('y')})"
        if not plan.get("reachable"):
            return f"I did not move: {target} is not reachable ({plan.get('reason', 'no plan')})."
        out = results.get("robot_navigate_safely", {})
        nav = out.get("navigation") or {}
        if out.get("status") == "succeeded":
            p = nav.get("final_pose", {})
            return (
                f"Arrived at {target}: {nav.get('distance_travelled_m')} m in {nav.get('duration_s')} s "
                f"via the {out.get('chosen')}; now at ({p.get('x', 0):.2f}, {p.get('y', 0):.2f})."
            )
        return f"Navigation to {target} ended {out.get('status')}: {json.dumps(out.get('steps', [])[-1:])}"
    if task.kind == "status":
        s = results.get("robot_get_state", {})
        scan = results.get("robot_get_scan_summary", {})
        p = s.get("pose", {})
        return (
            f"The robot is at ({p.get('x', 0):.2f}, {p.get('y', 0):.2f}) facing "
            f"{math.degrees(p.get('yaw', 0)):.0f}°, navigation {s.get('navigation', {}).get('state')}; "
            f"closest obstacle {scan.get('closest_m')} m at {scan.get('closest_bearing_deg')}°."
        )
    if task.kind == "lake":
        res = results.get("lake_query", {})
        rows = res.get("rows", [])
        if not rows:
            return "The lake has no matching rows yet (run an agent, then `auraison lake ingest-traces`)."
        cols = res.get("columns", [])
        lines = "; ".join(", ".join(f"{c}={v}" for c, v in zip(cols, r, strict=False)) for r in rows[:10])
        return f"From the lake ({task.args['question']}): {lines}"
    if task.kind == "drive":
        d = results.get("robot_drive", {})
        return f"Drove {d.get('distance_travelled_m')} m at {d.get('linear_mps')} m/s and stopped."
    if task.kind == "watch":
        states = [c for n, c, ok in done if n == "robot_get_state" and ok]
        p = states[-1].get("pose", {}) if states else {}
        return f"Watched the robot {len(states)} times; last pose ({p.get('x', 0):.2f}, {p.get('y', 0):.2f})."
    if task.kind == "places":
        places = results.get("robot_list_places", [])
        return "Places: " + ", ".join(f"{p['name']} ({p['distance_m']} m)" for p in places)
    approvals = results.get("approvals_list", [])
    if not approvals:
        return "No approvals are pending."
    return "Pending approvals: " + "; ".join(
        f"{a['id']} {a['tool']} {json.dumps(a['args'])}" for a in approvals
    )


def _text(content: Any) -> str:
    if isinstance(content, list):
        content = " ".join(str(c.get("msg", c)) if isinstance(c, dict) else str(c) for c in content)
    return str(content).splitlines()[0][:400]


def _say(text: str) -> ModelResponse:
    return ModelResponse(parts=[TextPart(f"{LABEL} {text}")])


def offline_model() -> FunctionModel:
    return FunctionModel(policy, model_name="auraison-offline")
