"""AgentOps's quota ledger backed by the management plane, through block grants.

Reserving every tool call in PostgreSQL would make each call wait on the management plane and
halt agents when it is down. Instead an agent process reserves a *block* (say 50 tool calls)
as one lease, spends it locally, and settles the block's actual use when it is spent, expires
or the process closes. So: the database sees one reservation per block; a management outage
refuses only new blocks, while calls covered by the current one continue until it is spent or
its lease expires (the issue's "existing leases honoured"); and the tenant's limit still holds,
because every block was granted by the atomic ledger.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from decimal import Decimal

import structlog

from auraison.agentops.quotas import Lease, QuotaExceeded, QuotaLedger, QuotaUnavailable
from auraison.errors import AuraisonError
from auraison.identity import Identity

from .dimensions import Role
from .ledger import QuotaExhausted
from .models import LeaseInfo
from .service import Billing
from .store import ManagementUnavailable, utcnow

log = structlog.get_logger(__name__)


@dataclass
class _Block:
    lease: LeaseInfo
    deadline: float  # monotonic, a little before the lease's own expiry
    spent: Decimal = Decimal(0)
    held: Decimal = Decimal(0)
    retired: bool = False

    @property
    def free(self) -> Decimal:
        return self.lease.amount - self.spent - self.held


@dataclass
class _Account:
    current: _Block | None = None
    lock: asyncio.Lock = field(default_factory=asyncio.Lock)


class GrantLedger(QuotaLedger):
    def __init__(
        self, billing: Billing | Callable[[], Billing], block: float = 50, agent: str | None = None
    ) -> None:
        # A factory opens the store on the first grant, in a worker thread: a gateway starts
        # while the management plane is down, and its event loop never waits on a connect.
        self._billing = billing if callable(billing) else (lambda: billing)
        self.block = Decimal(str(block))
        self.agent = agent
        self._accounts: dict[tuple[str, str], _Account] = {}
        self._local: dict[str, _Block] = {}
        self._unsettled: list[_Block] = []  # spent blocks whose settlement met an outage

    def _store_reserve(self, principal: Identity, tenant: str, dimension: str, size: Decimal) -> LeaseInfo:
        return self._billing().reserve(principal, tenant, dimension, size, agent=self.agent)

    def _store_commit(self, lease: LeaseInfo, spent: Decimal) -> None:
        self._billing().commit(self._principal(lease.tenant), lease.tenant, lease.id, spent)

    def _principal(self, tenant: str) -> Identity:
        return Identity(tenant=tenant, role=Role.agent, user_id=self.agent)

    async def reserve(
        self, tenant: str, amount: float, dimension: str = "tool_calls", idempotency_key: str | None = None
    ) -> Lease:
        want = Decimal(str(amount))
        account = self._accounts.setdefault((tenant, dimension), _Account())
        async with account.lock:
            block = account.current
            if block is None or block.free < want or time.monotonic() >= block.deadline:
                fresh = await self._grant(tenant, dimension, want)  # if refused, the old block stays
                if block is not None:
                    await self._retire(block)
                block = account.current = fresh
                await self._settle_pending()
            block.held += want
        lease = Lease("grant_" + uuid.uuid4().hex[:12], tenant, dimension, float(want), block.deadline)
        self._local[lease.lease_id] = block
        return lease

    async def commit(self, lease: Lease, actual: float) -> None:
        block = self._local.pop(lease.lease_id, None)
        if block is not None:
            block.held -= Decimal(str(lease.amount))
            block.spent += min(Decimal(str(actual)), Decimal(str(lease.amount)))
            await self._settle_if_done(block)

    async def release(self, lease: Lease) -> None:
        block = self._local.pop(lease.lease_id, None)
        if block is not None:
            block.held -= Decimal(str(lease.amount))
            await self._settle_if_done(block)

    async def close(self) -> None:
        """Settle every block: what was spent is counted, the rest returns to the tenant."""
        for account in self._accounts.values():
            if account.current is not None:
                await self._retire(account.current)
                account.current = None
        await self._settle_pending()

    async def _grant(self, tenant: str, dimension: str, want: Decimal) -> _Block:
        principal = self._principal(tenant)
        for size in dict.fromkeys((max(self.block, want), want)):  # a full block, else just enough
            try:
                lease = await asyncio.to_thread(self._store_reserve, principal, tenant, dimension, size)
            except QuotaExhausted as exc:
                last = exc
                continue
            except ManagementUnavailable as exc:
                raise QuotaUnavailable(tenant, dimension, str(exc)) from None
            except AuraisonError as exc:  # refused by the store (unknown tenant, …)
                raise QuotaUnavailable(tenant, dimension, str(exc)) from None
            ttl = (lease.expires_at - utcnow()).total_seconds()
            return _Block(lease, time.monotonic() + max(ttl - 5, 0))
        raise QuotaExceeded(tenant, dimension, float(last.remaining), float(want))

    async def _retire(self, block: _Block) -> None:
        block.retired = True
        await self._settle_if_done(block)

    async def _settle_if_done(self, block: _Block) -> None:
        if not block.retired or block.held > 0:
            return
        lease = block.lease
        try:
            await asyncio.to_thread(self._store_commit, lease, block.spent)
        except AuraisonError as exc:
            # Retried after the next grant and at close; committing an expired lease still
            # counts its usage, so a late settlement loses nothing.
            log.warning("grant settlement deferred", lease=lease.id, spent=str(block.spent), error=str(exc))
            self._unsettled.append(block)

    async def _settle_pending(self) -> None:
        pending, self._unsettled = self._unsettled, []
        for block in pending:
            await self._settle_if_done(block)
