"""Enforcement point 2: a Pydantic AI capability for agents that call tools in-process.

* ``prepare_tools`` hides tools the policy would deny outright (as the gateway's list does);
* ``wrap_tool_execute`` runs every call through the engine: a denial or a shed becomes
  ``ModelRetry`` with the hint (the model learns what to do instead); a call that needs a human
  becomes ``ApprovalRequired`` → ``DeferredToolRequests``; when the run resumes with
  ``DeferredToolResults`` approving it, the approval is recorded and the call runs;
* ``wrap_model_request`` records a ``chat {model}`` span with token usage.

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
    GEN_AI_AGENT_NAME,
    GEN_AI_OPERATION_NAME,
    GEN_AI_PROVIDER_NAME,
    GEN_AI_REQUEST_MODEL,
    GEN_AI_RESPONSE_MODEL,
    GEN_AI_USAGE_INPUT_TOKENS,
    GEN_AI_USAGE_OUTPUT_TOKENS,
    GenAiOperationNameValues,
)
from opentelemetry.trace import SpanKind
from pydantic import ValidationError
from pydantic_ai import ModelRetry
from pydantic_ai.capabilities import AbstractCapability
from pydantic_ai.exceptions import ApprovalRequired
from pydantic_ai.messages import ToolCallPart
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
    """False when the tools already pass the gateway (which enforces): spans and usage only."""

    async def prepare_tools(
        self, ctx: RunContext[Any], tool_defs: list[ToolDefinition]
    ) -> list[ToolDefinition]:
        if not self.enforce_tools:
            return tool_defs
        return [t for t in tool_defs if self.engine.visible(self.identity, t.name)]

    async def wrap_tool_execute(
        self, ctx: RunContext[Any], *, call: ToolCallPart, tool_def: ToolDefinition, args: Any, handler: Any
    ) -> Any:
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

    async def wrap_model_request(self, ctx: RunContext[Any], *, request_context: Any, handler: Any) -> Any:
        model = getattr(request_context.model, "model_name", "model")
        with self.engine.tracer.start_as_current_span(f"chat {model}", kind=SpanKind.CLIENT) as span:
            span.set_attributes(
                {
                    GEN_AI_OPERATION_NAME: GenAiOperationNameValues.CHAT.value,
                    GEN_AI_PROVIDER_NAME: provider_name(request_context.model),
                    GEN_AI_REQUEST_MODEL: model,
                    GEN_AI_AGENT_NAME: self.agent_name,
                    "auraison.tenant": self.identity.tenant,
                }
            )
            response = await handler(request_context)
            usage = getattr(response, "usage", None)
            if usage is not None:
                span.set_attributes(
                    {
                        GEN_AI_USAGE_INPUT_TOKENS: usage.input_tokens or 0,
                        GEN_AI_USAGE_OUTPUT_TOKENS: usage.output_tokens or 0,
                    }
                )
            if getattr(response, "model_name", None):
                span.set_attribute(GEN_AI_RESPONSE_MODEL, response.model_name)
            return response


def provider_name(model: Any) -> str:
    """``gen_ai.provider.name`` of a Pydantic AI model (or ``provider:name`` string): the
    conventions' well-known values (``anthropic``, ``openai``, …) where the model is one, else
    the model class's own system name (``function`` for the offline stand-in)."""
    if isinstance(model, str):
        return model.partition(":")[0] if ":" in model else "unknown"
    return str(getattr(model, "system", None) or "unknown")
