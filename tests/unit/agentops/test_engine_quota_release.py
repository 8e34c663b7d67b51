"""A call that never runs gives its quota back, whatever stopped it — a shed, or the limiter
itself failing (a shared limiter's store going away): nothing reserved is left behind."""

from __future__ import annotations

import pytest

from auraison.agentops.backpressure import Limiter, Permit
from auraison.agentops.decision import ToolCall
from auraison.agentops.engine import AgentOps
from auraison.agentops.policy import Limit
from auraison.agentops.quotas import InProcessLedger


class BrokenLimiter(Limiter):
    """A limiter whose store is unreachable."""

    async def acquire(self, key: str, limit: Limit) -> Permit:
        raise ConnectionError("limiter store unreachable")


async def test_a_failing_limiter_releases_the_reserved_quota() -> None:
    """The limiter raises after the quota was reserved: the reservation is released."""
    ledger = InProcessLedger({("*", "tool_calls"): 100})
    engine = AgentOps(limiter=BrokenLimiter(), ledger=ledger)
    ran: list[str] = []

    async def tool() -> str:
        ran.append("ran")
        return "ok"

    call = ToolCall(tool="robot_get_state")
    assert engine.policy.cost_for(call.identity.tenant, call.identity.role, call.tool) > 0
    with pytest.raises(ConnectionError):
        await engine.execute(call, tool)
    assert not ran and not ledger.reserved and not ledger.used
