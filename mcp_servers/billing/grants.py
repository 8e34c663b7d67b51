"""AgentOps's quota ledger backed by the management plane, through block grants.

Reserving every tool call in PostgreSQL would make each call wait on the management plane and
halt agents when it is down. Instead an agent process reserves a *block* (say 50 tool calls)
as one lease, spends it locally, and settles the block's actual use when it is spent, expires
or the process closes. So: the database sees one reservation per block; a management outage
refuses only new blocks, while calls covered by the current one continue until it is spent or
its lease expires (the issue's "existing leases honoured"); and the tenant's limit still holds,
because every block was granted by the atomic ledger.

A process killed outright (SIGKILL, OOM) settles nothing, and its block's lease would expire
with its usage never counted. So a ledger given a ``journal`` folder writes each block's spend
there before the call it paid for returns (one line appended per call; no fsync: the threat is
the process dying, not the machine), and removes the file once the block is settled. A block
whose process is gone is settled from its file — committing an expired lease still counts what
it used, and settling twice is a no-op — by the next ledger on that folder (its first grant) or
by ``auraison management expire``.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import IO

import structlog

from auraison.agentops.quotas import Lease, QuotaExceeded, QuotaLedger, QuotaUnavailable
from auraison.agentops.spool import pid_alive
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
    journal: IO[str] | None = None  # the spend, line by line, until settled (``GrantLedger.journal``)

    @property
    def free(self) -> Decimal:
        return self.lease.amount - self.spent - self.held


@dataclass
class _Account:
    current: _Block | None = None
    lock: asyncio.Lock = field(default_factory=asyncio.Lock)


class GrantLedger(QuotaLedger):
    def __init__(
        self,
        billing: Billing | Callable[[], Billing],
        block: float = 50,
        agent: str | None = None,
        journal: Path | None = None,
    ) -> None:
        # A factory opens the store on the first grant, in a worker thread: a gateway starts
        # while the management plane is down, and its event loop never waits on a connect.
        self._billing = billing if callable(billing) else (lambda: billing)
        self.block = Decimal(str(block))
        self.agent = agent
        self._accounts: dict[tuple[str, str], _Account] = {}
        self._local: dict[str, _Block] = {}
        self._unsettled: list[_Block] = []  # spent blocks whose settlement met an outage
        self.journal = journal
        self._orphans_settled = journal is None

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
            spent = min(Decimal(str(actual)), Decimal(str(lease.amount)))
            block.spent += spent
            if block.journal is not None and spent:
                block.journal.write(f"{spent}\n")
                block.journal.flush()  # in the kernel's hands before the call returns
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
            return _Block(lease, time.monotonic() + max(ttl - 5, 0), journal=self._open_journal(lease))
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
            return
        _drop_journal(block)

    async def _settle_pending(self) -> None:
        pending, self._unsettled = self._unsettled, []
        for block in pending:
            await self._settle_if_done(block)
        if not self._orphans_settled:  # once a process: the management plane answers again
            self._orphans_settled = True
            await asyncio.to_thread(self.settle_orphans)

    # ---------------------------------------------------------------- the journal
    def _open_journal(self, lease: LeaseInfo) -> IO[str] | None:
        if self.journal is None:
            return None
        self.journal.mkdir(parents=True, exist_ok=True)
        f = (self.journal / f"{lease.id}.{os.getpid()}.spend").open("a")
        f.write(json.dumps({"lease": lease.id, "tenant": lease.tenant, "agent": self.agent}) + "\n")
        f.flush()
        return f

    def settle_orphans(self) -> int:
        """Settle the blocks of processes that died holding them, from their journals; how many
        were settled. Blocking (the store's calls): run it in a thread from async code."""
        if self.journal is None or not self.journal.is_dir():
            return 0
        settled = 0
        for path in sorted(self.journal.glob("*.spend")):
            if pid_alive(int(path.suffixes[-2][1:])):
                continue  # its own process settles it
            try:
                head, *lines = path.read_text().splitlines()
            except (FileNotFoundError, ValueError):
                continue  # another process settled it first; or empty: the header never landed
            meta = json.loads(head)
            spent = sum((Decimal(x) for x in lines if x), Decimal(0))
            lease = meta["lease"]
            principal = Identity(tenant=meta["tenant"], role=Role.agent, user_id=meta["agent"])
            try:
                self._billing().commit(principal, meta["tenant"], lease, spent)
            except AuraisonError as exc:  # the management plane is away: tried again next time
                log.warning("orphan grant not settled", lease=lease, spent=str(spent), error=str(exc))
                continue
            with contextlib.suppress(FileNotFoundError):
                path.unlink()
            log.info("orphan grant settled", lease=lease, spent=str(spent))
            settled += 1
        return settled


def _drop_journal(block: _Block) -> None:
    """A settled block's journal has done its work."""
    if block.journal is not None:
        block.journal.close()
        Path(block.journal.name).unlink(missing_ok=True)
        block.journal = None
