"""The AgentOps engine: one pipeline every enforcement point calls.

``decide`` applies the policy (allow/deny globs, argument guardrails, approvals);
``execute`` wraps a tool call in the whole chain — decide → quota reservation → backpressure →
call → commit — inside an ``execute_tool`` span that records the decision. Every decision is
logged (structlog) and kept in a bounded in-memory log for inspection and parity tests.
"""

from __future__ import annotations

import json
import time
from collections import deque
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

from opentelemetry import metrics, trace
from opentelemetry.semconv._incubating.attributes.gen_ai_attributes import (
    GEN_AI_OPERATION_NAME,
    GEN_AI_TOOL_CALL_ARGUMENTS,
    GEN_AI_TOOL_CALL_ID,
    GEN_AI_TOOL_NAME,
    GEN_AI_TOOL_TYPE,
    GenAiOperationNameValues,
)
from opentelemetry.semconv.attributes.error_attributes import ERROR_TYPE
from opentelemetry.trace import SpanKind, Status, StatusCode

from . import guardrails
from .approvals import ApprovalStore, MemoryApprovalStore
from .backpressure import InProcessLimiter, Limiter
from .decision import Decision, Identity, ToolCall
from .errors import AgentOpsError, ApprovalPending, PolicyError, ToolDenied
from .policy import DEFAULT_POLICY, Limit, Policy, load_policy
from .quotas import InProcessLedger, QuotaExceeded, QuotaLedger, QuotaUnavailable
from .redaction import Redactor

TRACER_NAME = "auraison.agentops"


class _Log:
    """structlog, imported on first use: the Claude Code hook builds an engine before every
    tool call, and its dry checks never log — it must not pay structlog's import."""

    def __getattr__(self, name: str) -> Any:
        import structlog

        return getattr(structlog.get_logger("auraison.agentops"), name)


log = _Log()
T = TypeVar("T")
UNLIMITED = Limit()
HUMAN_ONLY = frozenset({"approvals_decide"})
"""Tools only a human principal may call, whatever a policy file says: agents never see them."""


class PolicySource:
    """The policy file, reloaded when it changes (checked at most every ``check_s``).

    A broken edit never takes effect: the last good policy stays, and the error is logged.
    """

    def __init__(self, path: Path | None = None, policy: Policy | None = None, check_s: float = 0.5):
        self.path = path
        self.check_s = check_s
        self._policy = policy or load_policy(path or DEFAULT_POLICY)
        self._mtime = path.stat().st_mtime_ns if path else None
        self._checked = time.monotonic()
        self.reloads = 0

    def current(self) -> Policy:
        if self.path is None or time.monotonic() - self._checked < self.check_s:
            return self._policy
        self._checked = time.monotonic()
        try:
            mtime = self.path.stat().st_mtime_ns
        except OSError:
            return self._policy
        if mtime != self._mtime:
            self._mtime = mtime
            self.reload()
        return self._policy

    def reload(self) -> None:
        try:
            new = load_policy(self.path)  # type: ignore[arg-type]
        except PolicyError as exc:
            log.error("policy reload failed; keeping the previous policy", error=str(exc))
            return
        log.info("policy reloaded", path=str(self.path), diff=policy_diff(self._policy, new))
        self._policy = new
        self.reloads += 1


def policy_diff(old: Policy, new: Policy) -> dict[str, list[str]]:
    before = {r.name: r.model_dump() for r in old.rules}
    after = {r.name: r.model_dump() for r in new.rules}
    return {
        "added": sorted(set(after) - set(before)),
        "removed": sorted(set(before) - set(after)),
        "changed": sorted(n for n in set(before) & set(after) if before[n] != after[n]),
    }


@dataclass(frozen=True)
class DecisionRecord:
    point: str
    tenant: str
    role: str
    tool: str
    args_hash: str
    kind: str
    reason: str
    rule: str | None


class AgentOps:
    def __init__(
        self,
        policy: PolicySource | Policy | Path | None = None,
        approvals: ApprovalStore | None = None,
        limiter: Limiter | None = None,
        ledger: QuotaLedger | None = None,
        tracer_provider: trace.TracerProvider | None = None,
        enabled: bool = True,
        meter_provider: metrics.MeterProvider | None = None,
        record_arguments: bool = False,
    ) -> None:
        if isinstance(policy, Policy):
            policy = PolicySource(policy=policy)
        elif policy is None or isinstance(policy, Path):
            policy = PolicySource(policy)
        self.policy_source = policy
        self.approvals = approvals or MemoryApprovalStore()
        self.limiter = limiter or InProcessLimiter()
        self.ledger = ledger or InProcessLedger()
        self.tracer_provider = tracer_provider or trace.get_tracer_provider()
        self.tracer = self.tracer_provider.get_tracer(TRACER_NAME)
        meter = (meter_provider or metrics.get_meter_provider()).get_meter(TRACER_NAME)
        self._m_calls = meter.create_counter("auraison.agentops.calls", description="tool calls by decision")
        self._m_shed = meter.create_counter("auraison.agentops.shed", description="calls shed under load")
        self._m_wait = meter.create_histogram(
            "auraison.agentops.queue.wait", unit="ms", description="time admitted calls waited for a slot"
        )
        self._m_depth = meter.create_histogram(
            "auraison.agentops.queue.depth", description="waiters ahead when a call queued"
        )
        self.enabled = enabled
        self.record_arguments = record_arguments
        """Put each call's (redacted) arguments on its span: opt-in, as the GenAI conventions
        make ``gen_ai.tool.call.arguments`` (arguments may hold personal data)."""
        self.decisions: deque[DecisionRecord] = deque(maxlen=10_000)
        # Planes may show the guardrails a fuller view of a call's arguments than the caller
        # sent (the robot resolves a place name to x/y so a geofence sees where it leads).
        self.arg_views: dict[str, Callable[[dict[str, Any]], dict[str, Any]]] = {}
        self._redactor: tuple[Policy, Redactor] | None = None

    @property
    def policy(self) -> Policy:
        return self.policy_source.current()

    def redactor(self) -> Redactor:
        policy = self.policy
        if self._redactor is None or self._redactor[0] is not policy:
            self._redactor = (policy, Redactor(policy.redact))
        return self._redactor[1]

    # ----------------------------------------------------------------- visibility
    def visible(self, identity: Identity, tool: str) -> bool:
        if tool in HUMAN_ONLY and not identity.is_human:
            return False
        return not self.enabled or self.policy.visible(identity.tenant, identity.role, tool)

    # ------------------------------------------------------------------- decision
    async def decide(self, call: ToolCall, dry: bool = False) -> Decision:
        """The policy's verdict on one call. A real decision may open a pending approval request
        and consumes a granted one (the call is about to run); a ``dry`` one (the Claude Code
        hook asks before the gateway decides for real) changes nothing."""
        if not self.enabled:
            return Decision.allow(reason="agentops disabled")
        decision = await self._decide(call, dry)
        self._record(call, decision, log_it=not dry)
        return decision

    async def _decide(self, call: ToolCall, dry: bool = False) -> Decision:
        p, i = self.policy, call.identity
        if call.tool in HUMAN_ONLY and not i.is_human:
            return Decision.deny(
                f"{call.tool} is for people only; {i.principal()} is an agent principal",
                "tell the person which approval id to decide (approvals_list shows them)",
                "humans-only",
            )
        r = p.resolve(i.tenant, i.role, call.tool)
        if r.deny_rule is not None:
            return Decision.deny(
                f"{call.tool} is denied for role {i.role} (rule {r.deny_rule})",
                _alternatives(p, i),
                r.deny_rule,
            )
        if r.allow_rule is None:
            return Decision.deny(
                f"{call.tool} is not allowed for tenant {i.tenant}, role {i.role}", _alternatives(p, i)
            )
        args = self._view(call)
        for rule, constraints in r.constraints:
            if (violation := guardrails.check(rule, constraints, args)) is not None:
                return violation
        if r.approval_rule is not None:
            return await (self._dry_approval if dry else self._approval)(call, r.approval_rule)
        return Decision.allow(r.allow_rule)

    def _view(self, call: ToolCall) -> dict[str, Any]:
        import fnmatch

        for glob, view in self.arg_views.items():
            if fnmatch.fnmatchcase(call.tool, glob):
                return view(call.args)
        return call.args

    async def _dry_approval(self, call: ToolCall, rule: str) -> Decision:
        """What ``_approval`` would answer, without opening, expiring or consuming anything: a
        granted approval is reported as allow (the real call will consume it), anything else as
        needs-approval naming the open request, if there is one."""
        existing = await self.approvals.find(call.identity.tenant, call.args_hash())
        status = existing.effective().status if existing is not None else None
        if existing is not None and status == "approved":
            return Decision.allow(rule, f"approved by {existing.decided_by} ({existing.id})")
        if existing is not None and status == "denied" and time.time() <= existing.expires_at:
            return Decision.deny(f"{existing.decided_by} denied this exact call", "", rule)
        return Decision(
            kind="needs_approval",
            reason=f"{call.tool} needs a human decision",
            approval_id=existing.id if status == "pending" else None,
            rule=rule,
        )

    async def _approval(self, call: ToolCall, rule: str) -> Decision:
        existing = await self.approvals.find(call.identity.tenant, call.args_hash())
        if existing is not None:
            if existing.status == "approved":
                if await self.approvals.consume(existing.id):
                    return Decision.allow(rule, f"approved by {existing.decided_by} ({existing.id})")
            elif existing.status == "pending":
                return Decision(
                    kind="needs_approval",
                    reason=f"{call.tool} needs a human decision",
                    approval_id=existing.id,
                    rule=rule,
                )
            elif existing.status == "denied" and time.time() <= existing.expires_at:
                why = f": {existing.reason}" if existing.reason else ""
                return Decision.deny(
                    f"{existing.decided_by} denied this exact call{why}",
                    "do something else, or change the arguments",
                    rule,
                )
            elif existing.status == "expired" and not existing.decided_by:
                # Expiry is a deny, once; the next identical call opens a new request.
                await self.approvals.transition(
                    existing.id, ("pending", "expired"), "expired", "expiry", "no decision before the TTL"
                )
                return Decision.deny(
                    f"approval {existing.id} expired without a decision",
                    "call again to open a new approval request",
                    rule,
                )
        approval = await self.approvals.request(call, self.redactor()(call.args), self.policy.approval_ttl_s)
        log.info("approval requested", approval_id=approval.id, tool=call.tool, tenant=call.identity.tenant)
        return Decision(
            kind="needs_approval",
            reason=f"{call.tool} needs a human decision",
            approval_id=approval.id,
            rule=rule,
        )

    def _record(self, call: ToolCall, d: Decision, log_it: bool = True) -> None:
        i = call.identity
        self.decisions.append(
            DecisionRecord(
                call.point,
                i.tenant,
                i.role,
                call.tool,
                call.args_hash() if d.kind != "allow" else "",
                d.kind,
                d.reason,
                d.rule,
            )
        )
        if not log_it:  # a dry check (the hook) acts on nothing, and must stay cheap
            return
        (log.debug if d.kind == "allow" else log.info)(
            "decision",
            point=call.point,
            tool=call.tool,
            tenant=i.tenant,
            role=i.role,
            decision=d.kind,
            reason=d.reason,
            rule=d.rule,
            call_id=call.call_id,
        )

    # ------------------------------------------------------------------ execution
    async def execute(
        self,
        call: ToolCall,
        fn: Callable[[], Awaitable[T]],
        meta: dict[str, Any] | None = None,
        attributes: dict[str, Any] | None = None,
    ) -> T:
        """Run ``fn`` under the full policy; raises an ``AgentOpsError`` if it may not run.
        ``attributes`` go on the span from its start (the gateway's ``mcp.*``), so a denied
        call's span carries them too."""
        import structlog
        from opentelemetry.propagate import extract

        # W3C trace context from MCP ``params._meta`` — unless a span is already current (the
        # MCP server's own SERVER span, which continued that same context).
        ctx = extract(meta) if meta and not trace.get_current_span().is_recording() else None
        i = call.identity
        base = {
            GEN_AI_OPERATION_NAME: GenAiOperationNameValues.EXECUTE_TOOL.value,
            GEN_AI_TOOL_NAME: call.tool,
            GEN_AI_TOOL_CALL_ID: call.call_id,
            GEN_AI_TOOL_TYPE: "function",
            "auraison.tenant": i.tenant,
            "auraison.role": i.role,
            "auraison.plane": call.plane,
            "auraison.enforcement_point": call.point,
            **(attributes or {}),
        }
        if self.record_arguments:
            base[GEN_AI_TOOL_CALL_ARGUMENTS] = json.dumps(self.redactor()(call.args), default=str)
        with self.tracer.start_as_current_span(
            f"execute_tool {call.tool}",
            context=ctx,
            kind=SpanKind.INTERNAL,
            attributes=base,
        ) as span:
            sc = span.get_span_context()
            with structlog.contextvars.bound_contextvars(
                trace_id=f"{sc.trace_id:032x}", span_id=f"{sc.span_id:016x}", tenant=i.tenant
            ):  # every log line of this call carries the span's ids
                return await self._decide_and_run(call, fn, span)

    async def _decide_and_run(self, call: ToolCall, fn: Callable[[], Awaitable[T]], span: trace.Span) -> T:
        decision = await self.decide(call)
        try:
            if decision.kind == "deny":
                raise ToolDenied(decision)
            if decision.kind == "needs_approval":
                span.set_attribute("auraison.approval_id", decision.approval_id or "")
                raise ApprovalPending(decision)
            return await self._run(call, fn, span, decision)
        except AgentOpsError as exc:
            d = exc.decision
            if d.kind != "shed":  # sheds are counted where they happen
                self._m_calls.add(1, {"tool": call.tool, "decision": d.kind})
            span.set_attributes(
                {
                    "auraison.decision": d.kind,
                    "auraison.decision.reason": d.reason,
                    "auraison.decision.rule": d.rule or "",
                }
            )
            if d.retry_after_s is not None:
                span.set_attribute("auraison.retry_after_s", d.retry_after_s)
            span.set_attribute(ERROR_TYPE, type(exc).__name__)
            span.set_status(Status(StatusCode.ERROR, d.kind))
            raise

    async def _run(
        self, call: ToolCall, fn: Callable[[], Awaitable[T]], span: trace.Span, decision: Decision
    ) -> T:
        p, i = self.policy, call.identity
        cost = p.cost_for(i.tenant, i.role, call.tool) if self.enabled else 0.0
        lease = None
        if cost > 0:
            try:
                lease = await self.ledger.reserve(i.tenant, cost, idempotency_key=call.call_id)
            except QuotaExceeded as exc:
                raise ToolDenied(
                    Decision.deny(
                        f"{'quota unavailable' if isinstance(exc, QuotaUnavailable) else 'quota exhausted'}:"
                        f" {exc}",
                        exc.hint,
                        "quota",
                    )
                ) from None
        limit = (p.limit_for(i.tenant, i.role, call.tool) if self.enabled else None) or UNLIMITED
        key = f"{i.tenant}:{call.plane}:{call.tool}"
        try:
            permit = await self.limiter.acquire(key, limit)
        except AgentOpsError as exc:
            if lease is not None:
                await self.ledger.release(lease)
            span.set_attribute("auraison.queue.shed", True)
            self._m_shed.add(1, {"tool": call.tool, "tenant": i.tenant})
            self._m_calls.add(1, {"tool": call.tool, "decision": "shed"})
            self._record(call, exc.decision)
            raise
        except BaseException:  # the limiter itself failed: what was reserved goes back
            if lease is not None:
                await self.ledger.release(lease)
            raise
        labels = {"tool": call.tool, "tenant": i.tenant}
        self._m_wait.record(permit.wait_s * 1000, labels)
        self._m_depth.record(permit.depth, labels)
        self._m_calls.add(1, {"tool": call.tool, "decision": decision.kind})
        span.set_attributes(
            {
                "auraison.decision": decision.kind,
                "auraison.decision.rule": decision.rule or "",
                "auraison.queue.wait_ms": round(permit.wait_s * 1000, 3),
                "auraison.queue.depth": permit.depth,
                "auraison.cost": cost,
            }
        )
        try:
            result = await fn()
        except BaseException as exc:
            if lease is not None:
                await self.ledger.release(lease)
            span.record_exception(exc)
            span.set_attribute(ERROR_TYPE, type(exc).__qualname__)
            span.set_status(Status(StatusCode.ERROR, type(exc).__name__))
            raise
        finally:
            permit.release()
        if lease is not None:
            await self.ledger.commit(lease, cost)
        return result


def _alternatives(p: Policy, i: Identity) -> str:
    allowed = p.allowed_globs(i.tenant, i.role)
    return f"tools you may use: {', '.join(allowed)}" if allowed else "this role may use no tools"
