"""The offline stand-in model as an Anthropic Messages API endpoint, for real Claude Code runs.

``auraison model serve`` serves this app; with ``ANTHROPIC_BASE_URL`` pointing at it, the real
``claude`` CLI runs with no network and no key: the same deterministic policy the Pydantic AI
agents use offline (``offline.policy``) reads the conversation Claude Code sends and answers
it. It reads

* the tools Claude Code offers (``mcp__auraison__robot_get_state``, or from the installed
  plugin ``mcp__plugin_auraison_auraison__robot_get_state``): the policy sees the gateway's
  plain names and its calls go back under the name Claude Code offered;
* the user's turn: a slash command (``/navigate kitchen``, ``/auraison:navigate kitchen``, sent
  as ``<command-name>`` and ``<command-args>`` tags before the skill's text) is read as the
  command and its arguments ("navigate kitchen"); other text without Claude Code's
  ``<system-reminder>`` blocks is read as typed;
* the ``tool_result`` blocks: a result is the tool's JSON, an ``is_error`` result a failed call.

Every answer's text starts with the stand-in's label and every message names the model
``auraison-offline-stand-in``, so nobody mistakes it for Claude. ``POST /v1/messages`` answers
whole (``stream: false``) or as server-sent events (``message_start``, ``content_block_*`` with
``text_delta`` / ``input_json_delta``, ``message_delta``, ``message_stop``), as the API does.
``/v1/messages/count_tokens`` estimates; probes of ``/`` answer 200; any other route is logged
and answered with a 404 that names what is served. ``Exchanges`` keeps each request and answer
(the recording a replay test checks).
"""

from __future__ import annotations

import hashlib
import json
import re
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import structlog
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, StreamingResponse
from pydantic_ai.messages import (
    ModelMessage,
    ModelRequest,
    ModelResponse,
    TextPart,
    ToolCallPart,
    ToolReturnPart,
    UserPromptPart,
)
from pydantic_ai.models.function import AgentInfo
from pydantic_ai.tools import ToolDefinition

from auraison.agentops.hook import tool_name as gateway_tool_name

from .offline import LABEL, policy, tools_for

MODEL = "auraison-offline-stand-in"
log = structlog.get_logger("auraison.model")

_REMINDER = re.compile(r"<system-reminder>.*?</system-reminder>", re.S)
_COMMAND = re.compile(r"<command-name>/?([^<]+)</command-name>")
_ARGS = re.compile(r"<command-args>([^<]*)</command-args>", re.S)
SEARCHES = 3
TOOL_SEARCH = "ToolSearch"
"""Claude Code's loader of deferred tool schemas (MCP tools arrive through it): the stand-in
calls it for the tools its plan needs; its rounds are the client's business, not the plan's."""


class StandInError(ValueError):
    """A request the stand-in cannot read (answered 400, as the API answers a bad request)."""


def plain_tool_name(offered: str) -> str:
    """The gateway's name for a tool Claude Code offers (its own tools keep their names)."""
    return gateway_tool_name(offered) or offered


def _blocks(content: Any) -> list[dict[str, Any]]:
    if isinstance(content, str):
        return [{"type": "text", "text": content}]
    if not isinstance(content, list):
        raise StandInError("a message's content is a string or a list of blocks")
    return [b for b in content if isinstance(b, dict)]


def user_intent(blocks: list[dict[str, Any]]) -> str:
    """What the person asked: a slash command as "command args" (``auraison:navigate`` →
    "navigate"), else the typed text without Claude Code's system reminders."""
    texts = [_REMINDER.sub("", str(b.get("text", ""))) for b in blocks if b.get("type") == "text"]
    said = "\n".join(texts)
    if (m := _COMMAND.search(said)) is not None:
        args = _ARGS.search(said)
        command = m.group(1).strip().rsplit(":", 1)[-1]
        return f"{command} {args.group(1).strip() if args else ''}".strip()
    return " ".join(t.strip() for t in texts if t.strip())


def _result_content(block: dict[str, Any]) -> Any:
    content = block.get("content", "")
    if isinstance(content, list):
        content = "\n".join(str(c.get("text", "")) for c in content if c.get("type") == "text")
    try:
        return json.loads(content)
    except (TypeError, ValueError):
        return content


def conversation(messages: list[Any]) -> list[ModelMessage]:
    """Claude Code's messages as the policy reads them (tool names the gateway's)."""
    out: list[ModelMessage] = []
    called: dict[str, str] = {}
    for message in messages:
        if not isinstance(message, dict) or message.get("role") not in ("user", "assistant", "system"):
            raise StandInError("each message is an object with role user, assistant or system")
        if message["role"] == "system":  # Claude Code's mid-conversation context, not the person
            continue
        blocks = _blocks(message.get("content", ""))
        if message["role"] == "assistant":
            parts: list[Any] = []
            for b in blocks:
                if b.get("type") == "tool_use" and b.get("name") == TOOL_SEARCH:
                    called[str(b.get("id"))] = TOOL_SEARCH
                elif b.get("type") == "tool_use":
                    called[str(b.get("id"))] = plain_tool_name(str(b.get("name")))
                    parts.append(
                        ToolCallPart(called[str(b.get("id"))], b.get("input") or {}, str(b.get("id")))
                    )
                elif b.get("type") == "text":
                    parts.append(TextPart(str(b.get("text", ""))))
            if parts:
                out.append(ModelResponse(parts=parts))
            continue
        results = [b for b in blocks if b.get("type") == "tool_result"]
        if results:  # a tool round: the text beside it is Claude Code's, not the person's
            returns: list[Any] = []
            for b in results:
                call_id = str(b.get("tool_use_id"))
                name = called.get(call_id, "unknown")
                if name == TOOL_SEARCH:
                    continue
                outcome = "failed" if b.get("is_error") else "success"  # refused, held or raised
                content = _result_content(b)
                returns.append(ToolReturnPart(name, content, tool_call_id=call_id, outcome=outcome))
            if returns:
                out.append(ModelRequest(parts=returns))
        else:
            out.append(ModelRequest(parts=[UserPromptPart(user_intent(blocks))]))
    return out


def answer(body: dict[str, Any]) -> dict[str, Any]:
    """The stand-in's Message for one ``/v1/messages`` request body (deterministic)."""
    messages = body.get("messages")
    if not isinstance(messages, list) or not messages:
        raise StandInError("messages must be a non-empty list")
    offered = [str(t.get("name")) for t in body.get("tools") or [] if isinstance(t, dict) and t.get("name")]
    by_plain: dict[str, str] = {}
    for name in offered:
        by_plain.setdefault(plain_tool_name(name), name)
    info = AgentInfo(
        function_tools=[ToolDefinition(name=n) for n in by_plain],
        allow_text_output=True,
        output_tools=[],
        model_settings=None,
        model_request_parameters=None,  # type: ignore[arg-type]  # the policy never reads it
        instructions=None,
    )
    history = conversation(messages)
    if not history or not isinstance(history[-1], ModelRequest):
        raise StandInError("the last message must be the user's")
    missing = [t for t in tools_for(history) if t not in by_plain]
    if missing and TOOL_SEARCH in offered and _searches_this_turn(messages) < SEARCHES:
        response = ModelResponse(parts=[ToolCallPart(TOOL_SEARCH, _search(missing, body))])
        by_plain[TOOL_SEARCH] = TOOL_SEARCH
    else:
        response = policy(history, info)
    content: list[dict[str, Any]] = []
    calls = sum(1 for m in messages if m.get("role") == "assistant")
    for part in response.parts:
        if isinstance(part, ToolCallPart):
            content.append(
                {
                    "type": "tool_use",
                    "id": f"toolu_offline_{calls + 1:03d}_{len(content)}",
                    "name": by_plain[part.tool_name],
                    "input": part.args_as_dict(),
                }
            )
        elif isinstance(part, TextPart):
            text = part.content if part.content.startswith(LABEL) else f"{LABEL} {part.content}"
            content.append({"type": "text", "text": text})
    digest = hashlib.sha256(json.dumps(messages, sort_keys=True).encode()).hexdigest()[:24]
    return {
        "id": f"msg_offline_{digest}",
        "type": "message",
        "role": "assistant",
        "model": MODEL,
        "content": content,
        "stop_reason": "tool_use" if any(c["type"] == "tool_use" for c in content) else "end_turn",
        "stop_sequence": None,
        "usage": {"input_tokens": estimate_tokens(body), "output_tokens": estimate_tokens(content)},
    }


def _searches_this_turn(messages: list[dict[str, Any]]) -> int:
    """ToolSearch calls since the person last spoke: a search that found nothing (the gateway
    still connecting) is tried again, up to ``SEARCHES``; then the policy says what is missing."""
    n = 0
    for m in reversed(messages):
        blocks = _blocks(m.get("content", "")) if m.get("role") != "system" else []
        if m.get("role") == "user" and blocks and not any(b.get("type") == "tool_result" for b in blocks):
            break
        n += sum(1 for b in blocks if b.get("type") == "tool_use" and b.get("name") == TOOL_SEARCH)
    return n


def _search(missing: list[str], body: dict[str, Any]) -> dict[str, Any]:
    """ToolSearch's input: the exact names where Claude Code's own announcements list them
    (``mcp__<server>__<tool>``, in its system prompt or system turns; a skill's text may name
    the project's server where the plugin's is meant), else a keyword search of the gateway's."""
    said = [m for m in body.get("messages", []) if isinstance(m, dict) and m.get("role") == "system"]
    text = json.dumps([body.get("system"), said])
    exact = []
    for tool in missing:
        if (m := re.search(rf"mcp__[A-Za-z0-9_-]+?__{re.escape(tool)}\b", text)) is not None:
            exact.append(m.group(0))
    if len(exact) == len(missing):
        return {"query": "select:" + ",".join(exact)}
    return {"query": "+auraison " + " ".join(missing), "max_results": max(5, 2 * len(missing))}


def estimate_tokens(value: Any) -> int:
    """A rough count (4 characters a token): the stand-in has no tokenizer, and says so nowhere
    that matters (Claude Code shows it as usage)."""
    return max(1, len(json.dumps(value, default=str)) // 4)


def sse(message: dict[str, Any]) -> Iterator[str]:
    """The Message as the API streams it: server-sent events, one block at a time."""

    def event(kind: str, data: dict[str, Any]) -> str:
        return f"event: {kind}\ndata: {json.dumps({'type': kind, **data})}\n\n"

    usage = message["usage"]
    start = message | {"content": [], "stop_reason": None, "usage": usage | {"output_tokens": 1}}
    yield event("message_start", {"message": start})
    yield event("ping", {})
    for i, block in enumerate(message["content"]):
        if block["type"] == "text":
            yield event("content_block_start", {"index": i, "content_block": {"type": "text", "text": ""}})
            for piece in re.findall(r"\S+\s*|\s+", block["text"]):
                yield event(
                    "content_block_delta", {"index": i, "delta": {"type": "text_delta", "text": piece}}
                )
        else:
            head = {k: block[k] for k in ("type", "id", "name")} | {"input": {}}
            yield event("content_block_start", {"index": i, "content_block": head})
            args = json.dumps(block["input"])
            for piece in (args[: len(args) // 2], args[len(args) // 2 :]):
                yield event(
                    "content_block_delta",
                    {"index": i, "delta": {"type": "input_json_delta", "partial_json": piece}},
                )
        yield event("content_block_stop", {"index": i})
    delta = {"stop_reason": message["stop_reason"], "stop_sequence": None}
    yield event("message_delta", {"delta": delta, "usage": {"output_tokens": usage["output_tokens"]}})
    yield event("message_stop", {})


class Exchanges:
    """Each request the endpoint answered and its answer, in order; written to ``path`` (when
    given) after every exchange, so a run that is killed still leaves its recording."""

    def __init__(self, path: Path | None = None) -> None:
        self.path = path
        self.items: list[dict[str, Any]] = []
        self._lock = threading.Lock()

    def add(self, request: dict[str, Any], response: dict[str, Any]) -> None:
        with self._lock:
            self.items.append({"request": request, "response": response})
            if self.path is not None:
                self.path.write_text(json.dumps(self.items, indent=1) + "\n")


def create_app(exchanges: Exchanges | None = None) -> FastAPI:
    """The FastAPI app: the Messages API routes Claude Code calls, answered by the stand-in."""
    app = FastAPI(title="Auraison offline stand-in (Anthropic Messages API)", docs_url=None, redoc_url=None)
    kept = exchanges if exchanges is not None else Exchanges()
    app.state.exchanges = kept

    def error(status: int, kind: str, message: str) -> JSONResponse:
        return JSONResponse(
            {"type": "error", "error": {"type": kind, "message": message}}, status_code=status
        )

    async def body_of(request: Request) -> dict[str, Any]:
        try:
            body = await request.json()
        except ValueError:
            raise StandInError("the request body is not JSON") from None
        if not isinstance(body, dict):
            raise StandInError("the request body must be a JSON object")
        return body

    @app.post("/v1/messages")
    async def messages(request: Request) -> Any:
        try:
            body = await body_of(request)
        except StandInError as exc:
            return error(400, "invalid_request_error", f"{LABEL} {exc}")
        try:
            message = answer(body)
        except StandInError as exc:
            log.warning("model.bad_request", error=str(exc))
            kept.add(body, {"error": str(exc)})
            return error(400, "invalid_request_error", f"{LABEL} {exc}")
        kept.add(body, message)
        log.info(
            "model.answer",
            stop=message["stop_reason"],
            tools=[c["name"] for c in message["content"] if c["type"] == "tool_use"],
        )
        if body.get("stream"):
            return StreamingResponse(sse(message), media_type="text/event-stream")
        return message

    @app.post("/v1/messages/count_tokens")
    async def count_tokens(request: Request) -> Any:
        try:
            body = await body_of(request)
        except StandInError as exc:
            return error(400, "invalid_request_error", f"{LABEL} {exc}")
        return {"input_tokens": estimate_tokens(body)}

    @app.api_route("/", methods=["GET", "HEAD"])
    async def probe() -> Any:
        return {"model": MODEL, "serves": ["POST /v1/messages", "POST /v1/messages/count_tokens"]}

    @app.api_route("/{path:path}", methods=["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"])
    async def unknown(path: str, request: Request) -> Any:
        log.warning("model.unknown_route", method=request.method, path=f"/{path}")
        return error(
            404,
            "not_found_error",
            f"{LABEL} {request.method} /{path} is not served here; the offline stand-in serves "
            "POST /v1/messages and POST /v1/messages/count_tokens",
        )

    return app
