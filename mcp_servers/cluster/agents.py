"""Agent lifecycle: register, start (with a quota grant from the management plane), heartbeat,
status, stop.

The control plane's outage must never halt a running agent: agents heartbeat on their own
schedule and keep working when heartbeats fail (``AgentHandle``); when the control plane is
back and no longer knows them (its state was lost), they re-register as running with the grant
they already hold. The management plane's outage refuses new starts only — with that reason.
"""

from __future__ import annotations

import hashlib
import time
from decimal import Decimal
from typing import Protocol

from auraison.errors import AuraisonError, Conflict, NotFound, UserError
from auraison.identity import Identity

from .events import EventLog
from .models import AgentInfo, AgentSpec
from .state import ControlState, agents


class GrantRefused(Conflict):
    """No quota grant: the tenant is out of quota (or unknown to the management plane)."""


class GrantUnavailable(GrantRefused):
    """No quota grant because the management plane is unreachable: retry when it is back."""

    status_code = 503


class AgentUnknown(NotFound):
    pass


class QuotaGrantor(Protocol):
    def grant(self, tenant: str, agent: str, amount: float) -> str: ...

    def settle(self, tenant: str, lease_id: str, used: float) -> None: ...


class BillingGrantor:
    """Grants from the management plane's ledger (``tool_calls``), as the agent itself."""

    def __init__(self, billing_factory) -> None:
        self._factory = billing_factory  # opened on first grant: job commands never touch the store
        self._billing = None

    @property
    def billing(self):
        if self._billing is None:
            self._billing = self._factory()
        return self._billing

    def _who(self, tenant: str, agent: str | None = None):

        return Identity(tenant=tenant, role="agent", user_id=agent)

    def grant(self, tenant: str, agent: str, amount: float) -> str:
        from auraison.mcp_servers.billing.store import ManagementUnavailable

        try:
            lease = self.billing.reserve(self._who(tenant, agent), tenant, "tool_calls", amount, agent=agent)
        except ManagementUnavailable as exc:
            raise GrantUnavailable(
                f"management plane unavailable, no new agent starts until it is back: {exc}"
            ) from None
        except AuraisonError as exc:  # exhausted, unknown tenant, …
            raise GrantRefused(str(exc)) from None
        return lease.id

    def settle(self, tenant: str, lease_id: str, used: float) -> None:
        self.billing.commit(self._who(tenant), tenant, lease_id, Decimal(str(used)))

    def record_tokens(
        self, tenant: str, key: str, agent: str, model: str, input_tokens: int, output_tokens: int
    ) -> None:
        """An agent run's model tokens (and their cost, where genai-prices knows the model),
        counted once per ``key``."""
        who = self._who(tenant, agent)
        self.billing.record_model_usage(who, tenant, key, model, input_tokens, output_tokens, agent)

    def lease_active(self, tenant: str, lease_id: str) -> bool:
        """Whether ``lease_id`` is an active quota lease of ``tenant`` (a run re-registering
        proves itself with it)."""
        who = Identity(tenant=tenant, role="operator", subject="control-plane")
        return any(lease.id == lease_id for lease in self.billing.reservations_list(who, tenant, "active"))


def agent_id_for(tenant: str, name: str) -> str:
    """Stable per tenant and name, so a re-registration finds the same agent."""
    return "agt_" + hashlib.sha256(f"{tenant}\0{name}".encode()).hexdigest()[:16]


class AgentRegistry:
    def __init__(
        self, state: ControlState, events: EventLog, grantor: QuotaGrantor, heartbeat_s: float
    ) -> None:
        self.state = state
        self.events = events
        self.grantor = grantor
        self.heartbeat_s = heartbeat_s

    def _row(self, tenant: str, agent_id: str) -> dict:
        row = self.state.get(agents, "agent_id", agent_id)
        if row is None or row["tenant"] != tenant:
            raise AgentUnknown(
                f"no agent {agent_id} in tenant {tenant}", "register it first (agent_register)"
            )
        return row

    def _info(self, row: dict) -> AgentInfo:
        state = row["state"]
        if state == "running" and (row["last_heartbeat"] or 0) < time.time() - 3 * self.heartbeat_s:
            state = "stale"  # three heartbeats missed: the control plane cannot vouch for it
        return AgentInfo(
            agent_id=row["agent_id"],
            name=row["name"],
            version=row["version"],
            tenant=row["tenant"],
            policy=row["policy"],
            state=state,
            last_heartbeat=row["last_heartbeat"],
            lease_id=row["lease_id"],
        )

    def register(self, tenant: str, spec: AgentSpec, resume_lease: str | None = None) -> AgentInfo:
        """Register (or update) an agent; ``resume_lease`` re-registers one that is already
        running on a grant it holds (after the control plane lost track of it)."""
        agent_id = agent_id_for(tenant, spec.name)
        existing = self.state.get(agents, "agent_id", agent_id)
        running = resume_lease is not None
        self.state.upsert(
            agents,
            "agent_id",
            agent_id=agent_id,
            name=spec.name,
            version=spec.version,
            tenant=tenant,
            policy=spec.policy,
            state="running" if running else (existing or {}).get("state", "registered"),
            last_heartbeat=time.time() if running else (existing or {}).get("last_heartbeat"),
            lease_id=resume_lease or (existing or {}).get("lease_id"),
        )
        self.events.emit(
            "agent.reregistered" if running else "agent.registered", agent_id, tenant, spec.model_dump()
        )
        return self._info(self._row(tenant, agent_id))

    def start(self, tenant: str, agent_id: str, quota_tool_calls: float = 50) -> AgentInfo:
        row = self._row(tenant, agent_id)
        if row["state"] == "running":
            return self._info(row)
        lease_id = self.grantor.grant(tenant, row["name"], quota_tool_calls)  # GrantRefused says why
        self.state.update(
            agents, "agent_id", agent_id, state="running", lease_id=lease_id, last_heartbeat=time.time()
        )
        self.events.emit("agent.started", agent_id, tenant, {"lease_id": lease_id, "quota": quota_tool_calls})
        return self._info(self._row(tenant, agent_id))

    def heartbeat(self, tenant: str, agent_id: str) -> AgentInfo:
        row = self._row(tenant, agent_id)
        if row["state"] == "stopped":
            raise UserError(f"agent {agent_id} was stopped", "start it again with agent_start")
        self.state.update(agents, "agent_id", agent_id, last_heartbeat=time.time(), state="running")
        return self._info(self._row(tenant, agent_id))

    def stop(self, tenant: str, agent_id: str, used_tool_calls: float = 0) -> AgentInfo:
        row = self._row(tenant, agent_id)
        if row["state"] != "stopped" and row["lease_id"]:
            try:
                self.grantor.settle(tenant, row["lease_id"], used_tool_calls)
            except AuraisonError as exc:  # the lease expires on its own; stopping must not fail
                self.events.emit("agent.settle_failed", agent_id, tenant, {"error": str(exc)})
        self.state.update(agents, "agent_id", agent_id, state="stopped")
        self.events.emit("agent.stopped", agent_id, tenant, {"used_tool_calls": used_tool_calls})
        return self._info(self._row(tenant, agent_id))

    def status(self, tenant: str, agent_id: str) -> AgentInfo:
        return self._info(self._row(tenant, agent_id))

    def list(self, tenant: str) -> list[AgentInfo]:
        return [self._info(r) for r in self.state.select(agents, agents.c.tenant == tenant)]
