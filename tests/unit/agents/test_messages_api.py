"""The offline stand-in as a Messages API: read by the official Anthropic SDK (streamed and
whole), the conversations Claude Code sends, and the recorded real-CLI run replayed.

No services: the app runs in process behind an ASGI transport (httpx2, the SDK's HTTP client). The recording
(tests/recordings/claude_code_navigate_kitchen.json) is what the real Claude Code CLI sent during
tests/integration/test_claude_code.py's approval run and what the stand-in answered; replaying it
checks that the stand-in still drives that conversation the same way, turn by turn.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
from pathlib import Path
from typing import Any

import anthropic
import httpx2
import pytest

from auraison.agents.messages_api import MODEL, Exchanges, answer, create_app, user_intent
from auraison.agents.offline import LABEL

RECORDING = Path(__file__).parents[2] / "recordings" / "claude_code_navigate_kitchen.json"
GATEWAY = ["robot_get_state", "robot_plan_path", "robot_navigate_safely", "robot_list_places"]


def sdk(exchanges: Exchanges | None = None) -> anthropic.AsyncAnthropic:
    transport = httpx2.ASGITransport(app=create_app(exchanges))
    return anthropic.AsyncAnthropic(
        api_key="offline-stand-in",
        base_url="http://stand-in",
        http_client=httpx2.AsyncClient(transport=transport, base_url="http://stand-in"),
    )


def tools(prefix: str) -> list[dict[str, Any]]:
    return [{"name": f"{prefix}{t}", "input_schema": {"type": "object"}} for t in GATEWAY]


def navigate(prefix: str) -> list[dict[str, Any]]:
    skill = "Base directory for this skill: x\n\n# /navigate kitchen\n\nMove the robot to `kitchen`."
    return [
        {
            "role": "user",
            "content": [
                {"type": "text", "text": "<system-reminder>\ngo to the lab\n</system-reminder>"},
                {"type": "text", "text": f"<command-name>/{prefix}navigate</command-name>"},
                {"type": "text", "text": "<command-args>kitchen</command-args>"},
                {"type": "text", "text": skill},
            ],
        }
    ]


async def test_streamed_answer_is_a_tool_call_the_sdk_reads() -> None:
    kept = Exchanges()
    async with sdk(kept).messages.stream(
        model="claude-x", max_tokens=100, tools=tools("mcp__auraison__"), messages=navigate("")
    ) as stream:
        kinds = [event.type async for event in stream]
        message = await stream.get_final_message()
    assert kinds[0] == "message_start" and kinds[-1] == "message_stop" and "input_json" in kinds
    assert message.model == MODEL and message.stop_reason == "tool_use"
    (call,) = message.content
    assert call.type == "tool_use" and call.name == "mcp__auraison__robot_get_state" and call.input == {}
    assert kept.items[0]["response"]["content"][0]["name"] == call.name  # the exchange is kept


async def test_tool_results_drive_the_plan_under_the_plugin_names() -> None:
    prefix = "mcp__plugin_auraison_auraison__"
    messages = navigate("auraison:")
    results = {
        "robot_get_state": {"pose": {"x": 0.75, "y": 0.75, "yaw": 0}},
        "robot_plan_path": {"reachable": True, "length_m": 12.4},
    }
    client = sdk()
    for i, (tool, result) in enumerate(results.items()):
        reply = await client.messages.create(model="m", max_tokens=9, tools=tools(prefix), messages=messages)
        (call,) = reply.content
        assert call.type == "tool_use" and call.name == prefix + tool
        messages += [
            {"role": "assistant", "content": [call.model_dump(include={"type", "id", "name", "input"})]},
            {
                "role": "user",
                "content": [{"type": "tool_result", "tool_use_id": call.id, "content": json.dumps(result)}],
            },
        ]
        assert call.id == f"toolu_offline_{i + 1:03d}_0"
    reply = await client.messages.create(model="m", max_tokens=9, tools=tools(prefix), messages=messages)
    (call,) = reply.content
    assert (call.name, call.input) == (prefix + "robot_navigate_safely", {"place": "kitchen"})

    held = "Needs human approval (approval id apr_0123abcd): robot_navigate_safely needs a human decision."
    messages += [
        {"role": "assistant", "content": [call.model_dump(include={"type", "id", "name", "input"})]},
        {
            "role": "user",
            "content": [{"type": "tool_result", "tool_use_id": call.id, "content": held, "is_error": True}],
        },
    ]
    reply = await client.messages.create(model="m", max_tokens=9, tools=tools(prefix), messages=messages)
    (text,) = reply.content
    assert reply.stop_reason == "end_turn" and text.type == "text" and text.text.startswith(LABEL)
    assert "auraison approvals approve apr_0123abcd" in text.text


async def test_missing_gateway_tools_are_searched_for_then_named() -> None:
    """Claude Code defers MCP tools behind ToolSearch: the stand-in asks for its plan's tools."""
    offered = [{"name": "ToolSearch", "input_schema": {"type": "object"}}]
    reply = await sdk().messages.create(model="m", max_tokens=9, tools=offered, messages=navigate(""))
    (call,) = reply.content
    assert call.name == "ToolSearch"
    assert call.input == {
        "query": "+auraison robot_get_state robot_plan_path robot_navigate_safely",
        "max_results": 6,
    }
    reply = await sdk().messages.create(
        model="m", max_tokens=9, messages=[{"role": "user", "content": "go to the kitchen"}]
    )
    assert reply.content[0].text == f"{LABEL} this agent has no robot_get_state, robot_plan_path, " + (
        "robot_navigate_safely tool here (is that plane installed?)"
    )


async def test_bad_requests_and_unknown_routes_answer_clearly() -> None:
    client = sdk()
    with pytest.raises(anthropic.BadRequestError, match="messages must be a non-empty list"):
        await client.messages.create(model="m", max_tokens=9, messages=[])
    raw = client._client  # the SDK's own httpx client, for routes the SDK does not call
    count = await raw.post("/v1/messages/count_tokens", json={"messages": navigate("")})
    assert count.status_code == 200 and count.json()["input_tokens"] > 0
    assert (await raw.head("/")).status_code == 200
    missing = await raw.get("/v1/models")
    assert missing.status_code == 404
    assert "GET /v1/models is not served here" in missing.json()["error"]["message"]


def test_user_intent_reads_commands_and_typed_text() -> None:
    assert user_intent(navigate("auraison:")[0]["content"]) == "navigate kitchen"
    typed = [
        {"type": "text", "text": "<system-reminder>ctx</system-reminder>"},
        {"type": "text", "text": "status?"},
    ]
    assert user_intent(typed) == "status?"


def test_recorded_claude_code_run_replays() -> None:
    """The real CLI's /navigate kitchen: held for approval, then (after `approvals approve` and
    `--continue "approved, go on"`) driven once to the kitchen; every answer replays exactly."""
    exchange = json.loads(RECORDING.read_text())
    for i, x in enumerate(exchange):
        again = answer(x["request"])
        assert (again["content"], again["stop_reason"]) == (
            x["response"]["content"],
            x["response"]["stop_reason"],
        ), f"exchange {i} differs"
    calls = [b["name"] for x in exchange for b in x["response"]["content"] if b["type"] == "tool_use"]
    steps = ["mcp__auraison__" + t for t in ("robot_get_state", "robot_plan_path", "robot_navigate_safely")]
    assert [c for c in calls if c != "ToolSearch"] == steps * 2  # planned, held; planned again, ran
    texts = [b["text"] for x in exchange for b in x["response"]["content"] if b["type"] == "text"]
    assert len(texts) == 2 and all(t.startswith(LABEL) for t in texts)
    assert "waiting for a person's approval" in texts[0] and "Arrived at kitchen" in texts[1]
    last = exchange[-1]["request"]["messages"][-1]["content"][0]
    assert json.loads(last["content"])["status"] == "succeeded"  # the gateway's own result


def test_model_serve_refuses_a_busy_port_in_one_line(tmp_path: Path) -> None:
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        out = subprocess.run(
            [sys.executable, "-m", "auraison", "model", "serve", "--port", str(busy.getsockname()[1])],
            capture_output=True,
            text=True,
            timeout=120,
            env={k: v for k, v in os.environ.items() if not k.startswith("AURAISON_")}
            | {"AURAISON_HOME": str(tmp_path)},
        )
    assert out.returncode == 2 and out.stdout == "", out
    assert out.stderr.count("\n") == 1 and "cannot listen on 127.0.0.1:" in out.stderr, out.stderr
