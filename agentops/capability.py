"""Enforcement point 2: a Pydantic AI capability for agents that call tools in-process.

* ``prepare_tools`` hides tools the policy would deny outright (as the gateway's list does);
* ``wrap_tool_execute`` runs every call through the engine: a denial or a shed becomes
  ``ModelRetry`` with the hint (the model learns what to do instead); a call that needs a human
  becomes ``ApprovalRequired`` → ``DeferredToolRequests``; when the run resumes with
  ``DeferredToolResults`` approving it, the approval is recorded and the call runs;
* the run's spans are Pydantic AI's own instrumentation (``invoke_agent {agent}``,
  ``chat {model}`` with token usage, ``execute_tool {tool}``) through the engine's tracer
  provider — the process's one, exported to the lake and OTLP; ``agentops_capabilities`` puts it
  beside this capability, which adds what Pydantic AI does not know to those spans
  (``gen_ai.provider.name`` on the agent span, ``auraison.tenant``) and keeps the run's trace id.

``approval_deferral`` is the one place a needs-approval decision becomes a Pydantic AI deferral,
for this capability (the engine's ``ApprovalPending``) and for agents whose tools pass the gateway
(``DeferringToolset``: the gateway's refusal carries the same ``Decision`` as JSON, read back by
``decision_in``), so both stop a run with the same ``DeferredToolRequests`` metadata.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from opentelemetry.semconv._incubating.attributes.gen_ai_attributes import (
    GEN_AI_OPERATION_NAME,
    GEN_AI_PROVIDER_NAME,
)
from opentelemetry.trace import get_current_span
from pydantic import ValidationError
from pydantic_ai import ModelRetry
from pydantic_ai.capabilities import AbstractCapability, Instrumentation
from pydantic_ai.exceptions import ApprovalRequired
from pydantic_ai.messages import ToolCallPart
from pydantic_ai.models.instrumented import InstrumentationSettings
from pydantic_ai.tools import RunContext, ToolDefinition

from .approvals import approve_deferred
from .decision import Decision, Identity, ToolCall
from .engine import AgentOps
from .errors import AgentOpsError


def decision_in(text: str) -> Decision | None:
    """The ``Decision`` a refusal's text carries (``AgentOpsError.to_text``: the readable line,
    then ``{"decision": {...}}`` on a line of its own), validated; ``None`` for any other text.
    Reading the structure, not the prose, keeps deferral independent of how a message is worded."""
    for line in reversed(text.strip().splitlines()[1:]):
        if not line.startswith('{"decision"'):
            continue
        try:
            return Decision.model_validate(json.loads(line)["decision"])
        except (ValueError, KeyError, TypeError, ValidationError):
            return None
    return None


def approval_deferral(error: BaseException, *, approved: bool = False) -> ApprovalRequired | None:
    """``ApprovalRequired`` (→ ``DeferredToolRequests``, with the approval id in its metadata) when
    ``error`` is a needs-approval decision — an ``AgentOpsError`` raised in-process, or a tool error
    from the gateway whose text carries the decision. ``None`` for every other error, and for a call
    the run resumed as approved that still needs approval (no human decided it): the caller then
    lets the refusal through, so the model reads "needs human approval" instead of looping."""
    decision = error.decision if isinstance(error, AgentOpsError) else decision_in(str(error))
    if decision is None or decision.kind != "needs_approval" or approved:
        return None
    return ApprovalRequired(metadata={"approval_id": decision.approval_id, "reason": decision.message()})


@dataclass
class AgentOpsCapability(AbstractCapability[Any]):
    engine: AgentOps
    identity: Identity = field(default_factory=Identity)
    agent_name: str = "agent"
    enforce_tools: bool = True
    """False when the tools already pass the gateway (which enforces): span attributes only."""
    trace_id: str | None = field(default=None, init=False)
    """The trace id of the latest run (its ``invoke_agent`` span's), as 32 hex digits."""

    async def prepare_tools(
        self, ctx: RunContext[Any], tool_defs: list[ToolDefinition]
    ) -> list[ToolDefinition]:
        if not self.enforce_tools:
            return tool_defs
        return [t for t in tool_defs if self.engine.visible(self.identity, t.name)]

    async def wrap_tool_execute(
        self, ctx: RunContext[Any], *, call: ToolCallPart, tool_def: ToolDefinition, args: Any, handler: Any
    ) -> Any:
        self._annotate("execute_tool")
        plain = args if isinstance(args, dict) else getattr(args, "model_dump", lambda: {})()
        tc = ToolCall(
            identity=self.identity,
            tool=tool_def.name,
            args=dict(plain),
            call_id=call.tool_call_id,
            point="agent",
        )
        if not self.enforce_tools:
            return await handler(args)
        if ctx.tool_call_approved:
            await self._record_human_approval(tc, ctx)
        try:
            return await self.engine.execute(tc, lambda: handler(args))
        except AgentOpsError as exc:
            if (deferral := approval_deferral(exc, approved=ctx.tool_call_approved)) is not None:
                raise deferral from None
            raise ModelRetry(exc.decision.message()) from None

    async def _record_human_approval(self, tc: ToolCall, ctx: RunContext[Any]) -> None:
        """The run resumed with this call approved: mark its pending approval approved."""
        await approve_deferred(
            self.engine.approvals, tc.identity.tenant, tc.args_hash(), ctx.tool_call_metadata
        )

    async def wrap_run(self, ctx: RunContext[Any], *, handler: Any) -> Any:
        self._annotate("invoke_agent", {GEN_AI_PROVIDER_NAME: provider_name(ctx.model)})
        ids = get_current_span().get_span_context()
        self.trace_id = f"{ids.trace_id:032x}" if ids.is_valid else None
        return await handler()

    async def wrap_model_request(self, ctx: RunContext[Any], *, request_context: Any, handler: Any) -> Any:
        self._annotate("chat")
        return await handler(request_context)

    def _annotate(self, operation: str, extra: dict[str, Any] | None = None) -> None:
        """Add the tenant (and ``extra``) to the current span when it is Pydantic AI's span of
        ``operation``: without the instrumentation beside us the current span is someone else's."""
        span = get_current_span()
        attrs = getattr(span, "attributes", None) or {}
        if span.is_recording() and attrs.get(GEN_AI_OPERATION_NAME) == operation:
            span.set_attributes({"auraison.tenant": self.identity.tenant, **(extra or {})})


def agentops_capabilities(
    engine: AgentOps,
    identity: Identity | None = None,
    agent_name: str = "agent",
    *,
    enforce_tools: bool = True,
    content: bool = False,
) -> list[AbstractCapability[Any]]:
    """An agent's capabilities: the engine's enforcement and Pydantic AI's own instrumentation
    through the engine's tracer provider (the process's one, set globally, whose meter provider
    gets Pydantic AI's token-usage histogram). ``content``: record prompts, completions and
    tool arguments and results on the spans — opt-in in the GenAI conventions (they may hold
    personal data); without it the spans carry their structure only."""
    instrumentation = InstrumentationSettings(
        tracer_provider=engine.tracer_provider,
        include_content=content,
        include_binary_content=False,  # camera frames would bloat every span row in the lake
        include_model_request_parameters=False,  # the tool schemas are in gen_ai.tool.definitions
    )
    cap = AgentOpsCapability(engine, identity or Identity(), agent_name, enforce_tools=enforce_tools)
    return [Instrumentation(settings=instrumentation), cap]


def provider_name(model: Any) -> str:
    """``gen_ai.provider.name`` of a Pydantic AI model (or ``provider:name`` string): the
    conventions' well-known values (``anthropic``, ``openai``, …) where the model is one, else
    the model class's own system name (``function`` for the offline stand-in)."""
    if isinstance(model, str):
        return model.partition(":")[0] if ":" in model else "unknown"
    return str(getattr(model, "system", None) or "unknown")
