"""One approval-deferral path: the gateway's refusal text and the in-process engine's error both
become the same Pydantic AI deferral, read from the structured ``Decision``, never from the prose."""

from __future__ import annotations

from typing import Any

import pytest
from pydantic_ai import Agent, DeferredToolRequests, ModelRetry, models
from pydantic_ai.messages import ModelMessage, ModelResponse, TextPart, ToolCallPart
from pydantic_ai.models.function import AgentInfo, FunctionModel
from pydantic_ai.toolsets import FunctionToolset

from auraison.agentops import AgentOps, Identity
from auraison.agentops.capability import AgentOpsCapability, decision_in
from auraison.agentops.decision import Decision
from auraison.agentops.errors import ApprovalPending, ToolDenied
from auraison.agents.recording import DeferringToolset

models.ALLOW_MODEL_REQUESTS = False

DRIVE = {"linear": 0.1, "duration": 1.0}
PENDING = Decision(
    kind="needs_approval", reason="robot_drive needs a human decision", rule="r", approval_id="apr_00c0ffee"
)


def drive_once() -> FunctionModel:
    """Calls robot_drive once, then says what the tool answered."""

    def fn(messages: list[ModelMessage], info: AgentInfo) -> ModelResponse:
        if len(messages) == 1:
            return ModelResponse(parts=[ToolCallPart("robot_drive", dict(DRIVE), tool_call_id="c1")])
        last = messages[-1].parts[-1]
        return ModelResponse(parts=[TextPart(f"tool said: {getattr(last, 'content', '')}")])

    return FunctionModel(fn)


async def through_the_gateway_path(error_text: str) -> Any:
    """A tool that fails as an MCP tool error does (``ModelRetry`` with the error's text), behind
    the ``DeferringToolset`` every gateway-backed agent run uses."""
    tools: FunctionToolset[Any] = FunctionToolset()

    @tools.tool_plain(name="robot_drive")
    def drive(linear: float, duration: float) -> str:
        raise ModelRetry(error_text)

    agent = Agent(drive_once(), toolsets=[DeferringToolset(tools)], output_type=[str, DeferredToolRequests])
    return (await agent.run("drive")).output


async def test_the_gateways_needs_approval_text_defers_with_the_decisions_approval_id() -> None:
    out = await through_the_gateway_path(ApprovalPending(PENDING).to_text())
    assert isinstance(out, DeferredToolRequests)
    assert out.metadata["c1"] == {"approval_id": "apr_00c0ffee", "reason": PENDING.message()}


@pytest.mark.parametrize(
    "text",
    [
        # The approval sentence without the decision (a tool's own error text, say): no deferral.
        "Needs human approval (approval id apr_0bad): robot_drive needs a human decision.",
        # A denial whose prose quotes an approval: the decision says deny.
        ToolDenied(Decision.deny("Needs human approval (approval id apr_0bad) was refused")).to_text(),
        # A decision line that is not a valid Decision.
        'Needs human approval (approval id apr_0bad): x\n{"decision": {"kind": "maybe"}}',
        'Needs human approval (approval id apr_0bad): x\n{"decision": {"kind": "needs_approval"',
    ],
)
async def test_only_a_structured_needs_approval_decision_defers(text: str) -> None:
    out = await through_the_gateway_path(text)
    assert isinstance(out, str) and out.startswith("tool said: ")  # the model read the refusal


async def test_the_decision_is_read_however_the_message_is_worded() -> None:
    """The prose line is for the model; rewording it must not break deferral."""
    text = "Ein Mensch muss zustimmen.\n" + ApprovalPending(PENDING).to_text().splitlines()[1]
    out = await through_the_gateway_path(text)
    assert isinstance(out, DeferredToolRequests) and out.metadata["c1"]["approval_id"] == "apr_00c0ffee"


def test_decision_in_reads_back_what_to_text_wrote() -> None:
    shed = Decision(kind="shed", reason="busy", retry_after_s=0.25)
    assert decision_in(ToolDenied(shed).to_text()) == shed
    assert decision_in("Denied: no.") is None and decision_in("") is None


async def test_the_in_process_capability_defers_exactly_as_the_gateway_path() -> None:
    """Same decision, same deferral: the capability (engine in-process) and the gateway path
    (decision read back from the refusal's text) hand the caller identical metadata."""
    engine = AgentOps()
    ran: list[dict[str, Any]] = []
    agent = Agent(
        drive_once(),
        capabilities=[AgentOpsCapability(engine, Identity(tenant="acme", role="operator"), "t")],
        output_type=[str, DeferredToolRequests],
    )

    @agent.tool_plain(name="robot_drive")
    def drive(linear: float, duration: float) -> str:
        ran.append({"linear": linear, "duration": duration})
        return "drove"

    in_process = (await agent.run("drive")).output
    assert isinstance(in_process, DeferredToolRequests) and ran == []
    (approval,) = await engine.approvals.list("acme")
    made = engine.decisions[-1]  # the engine's decision, as the gateway would have sent it
    decision = Decision(kind=made.kind, reason=made.reason, rule=made.rule, approval_id=approval.id)
    via_gateway = await through_the_gateway_path(ApprovalPending(decision).to_text())
    assert in_process.metadata["c1"] == via_gateway.metadata["c1"]
    assert in_process.metadata["c1"]["approval_id"] == approval.id
