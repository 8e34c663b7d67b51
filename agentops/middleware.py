"""Enforcement point 1: FastMCP middleware on the gateway.

``on_list_tools`` hides the tools a caller may not use (a tenant never sees another's tools);
``on_call_tool`` runs the call through the engine. The caller's identity comes from the HTTP
bearer token when there is one, else from the gateway's configured identity (stdio,
in-process). Trace context arrives in the request's ``_meta``.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from typing import Any

from fastmcp.exceptions import ToolError
from fastmcp.server.dependencies import get_access_token
from fastmcp.server.middleware import CallNext, Middleware, MiddlewareContext
from fastmcp.tools.base import Tool, ToolResult
from opentelemetry import trace
from opentelemetry.semconv._incubating.attributes.gen_ai_attributes import (
    GEN_AI_OPERATION_NAME,
    GEN_AI_TOOL_NAME,
)
from opentelemetry.semconv._incubating.attributes.mcp_attributes import MCP_METHOD_NAME, MCP_SESSION_ID

from auraison.identity import PrincipalKind

from .decision import Identity, ToolCall
from .engine import AgentOps
from .errors import AgentOpsError

IdentityResolver = Callable[[MiddlewareContext[Any]], Identity]


def current_identity(default: Identity) -> Identity:
    """The caller of the current MCP request: the identity its verified bearer token proved
    (claims written by the gateway's token verifier), else ``default`` — stdio and in-process
    callers, which are agent principals. Plane servers ask this too, so the tenant a tool acts
    for is the one AgentOps checked."""
    token = get_access_token()
    if token is None:
        return default
    claims = token.claims or {}
    return Identity(
        tenant=str(claims.get("tenant", default.tenant)),
        role=claims.get("role", default.role),
        subject=str(token.client_id),
        kind=claims.get("kind", PrincipalKind.agent),
        key_id=claims.get("key_id"),
        user_id=claims.get("user_id"),
    )


def token_identity(default: Identity) -> IdentityResolver:
    """Identity from the verified bearer token's claims, else ``default``."""

    def resolve(context: MiddlewareContext[Any]) -> Identity:
        return current_identity(default)

    return resolve


def _request_meta(context: MiddlewareContext[Any]) -> dict[str, Any]:
    fc = context.fastmcp_context
    rc = getattr(fc, "request_context", None) if fc is not None else None
    meta = getattr(rc, "meta", None)
    return dict(meta) if isinstance(meta, dict) else {}


class AgentOpsMiddleware(Middleware):
    def __init__(self, engine: AgentOps, identity: IdentityResolver | Identity) -> None:
        self.engine = engine
        self.identity = identity if callable(identity) else (lambda _ctx, i=identity: i)

    async def on_list_tools(
        self, context: MiddlewareContext[Any], call_next: CallNext[Any, Sequence[Tool]]
    ) -> Sequence[Tool]:
        tools = await call_next(context)
        who = self.identity(context)
        return [t for t in tools if self.engine.visible(who, t.name)]

    async def on_call_tool(
        self, context: MiddlewareContext[Any], call_next: CallNext[Any, ToolResult]
    ) -> ToolResult:
        msg = context.message
        meta = _request_meta(context)
        call = ToolCall(
            identity=self.identity(context),
            tool=msg.name,
            args=dict(msg.arguments or {}),
            point="gateway",
            traceparent=meta.get("traceparent"),
        )
        fc = context.fastmcp_context
        session = getattr(fc, "session_id", None) if fc is not None else None
        attributes = {MCP_METHOD_NAME: "tools/call", **({MCP_SESSION_ID: str(session)} if session else {})}
        _name_server_span(msg.name)
        try:
            return await self.engine.execute(
                call, lambda: _nested(call_next(context)), meta=meta, attributes=attributes
            )
        except AgentOpsError as exc:
            raise ToolError(exc.to_text()) from None


def _name_server_span(tool: str) -> None:
    """FastMCP's per-request SERVER span (its "seam") becomes ``tools/call {tool}`` with the
    tool's name, as the MCP conventions name it, before AgentOps's ``execute_tool`` span opens
    under it (FastMCP would name it only when it is still the current span)."""
    span = trace.get_current_span()
    attrs = getattr(span, "attributes", None) or {}
    if span.is_recording() and attrs.get("fastmcp.span.seam"):
        span.update_name(f"tools/call {tool}")
        span.set_attributes({GEN_AI_TOOL_NAME: tool, GEN_AI_OPERATION_NAME: "execute_tool"})


async def _nested(call: Awaitable[ToolResult]) -> ToolResult:
    """The tool's own FastMCP span, under ``execute_tool``, as INTERNAL: one SERVER span per
    request (FastMCP's rule for nested calls, through its context flag)."""
    try:
        from fastmcp.server.telemetry import _server_span_open
    except ImportError:  # another FastMCP: at worst a second SERVER span
        return await call
    token = _server_span_open.set(True)
    try:
        return await call
    finally:
        _server_span_open.reset(token)
