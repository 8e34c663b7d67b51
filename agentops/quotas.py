"""Quotas through reservations: reserve before a call, commit the actual cost after, release
on failure. The billing issue supplies a strongly consistent ledger behind the same interface."""

from __future__ import annotations

import asyncio
import time
import uuid
from abc import ABC, abstractmethod
from dataclasses import dataclass

from auraison.errors import Conflict


@dataclass(frozen=True)
class Lease:
    lease_id: str
    tenant: str
    dimension: str
    amount: float
    expires_at: float  # monotonic


class QuotaExceeded(Conflict):
    """The tenant's quota does not cover the call."""

    hint = "wait for the next period or ask for a higher plan"

    def __init__(self, tenant: str, dimension: str, remaining: float, wanted: float) -> None:
        super().__init__(f"tenant {tenant} has {remaining:g} {dimension} left, the call needs {wanted:g}")
        self.remaining = remaining


class QuotaUnavailable(QuotaExceeded):
    """No grant can be obtained because the management plane is unreachable."""

    status_code = 503

    hint = "retry when the management plane is back; calls covered by an earlier grant continue"

    def __init__(self, tenant: str, dimension: str, reason: str) -> None:
        Exception.__init__(self, f"no {dimension} grant for tenant {tenant}: {reason}")
        self.remaining = 0.0


class QuotaLedger(ABC):
    @abstractmethod
    async def reserve(
        self, tenant: str, amount: float, dimension: str = "tool_calls", idempotency_key: str | None = None
    ) -> Lease: ...

    @abstractmethod
    async def commit(self, lease: Lease, actual: float) -> None: ...

    @abstractmethod
    async def release(self, lease: Lease) -> None: ...


class InProcessLedger(QuotaLedger):
    """Limits per (tenant, dimension); ``None`` limit means unlimited. Never overspends."""

    def __init__(self, limits: dict[tuple[str, str], float] | None = None, lease_s: float = 600) -> None:
        self.limits = dict(limits or {})
        self.used: dict[tuple[str, str], float] = {}
        self.reserved: dict[str, Lease] = {}
        self.lease_s = lease_s
        self._lock = asyncio.Lock()
        self._by_key: dict[str, Lease] = {}

    def _held(self, tenant: str, dimension: str) -> float:
        now = time.monotonic()
        for lid in [k for k, v in self.reserved.items() if v.expires_at < now]:
            del self.reserved[lid]
        return sum(v.amount for v in self.reserved.values() if (v.tenant, v.dimension) == (tenant, dimension))

    async def reserve(
        self, tenant: str, amount: float, dimension: str = "tool_calls", idempotency_key: str | None = None
    ) -> Lease:
        async with self._lock:
            if idempotency_key and idempotency_key in self._by_key:
                return self._by_key[idempotency_key]
            limit = self.limits.get((tenant, dimension), self.limits.get(("*", dimension)))
            if limit is not None:
                left = limit - self.used.get((tenant, dimension), 0.0) - self._held(tenant, dimension)
                if amount > left:
                    raise QuotaExceeded(tenant, dimension, max(left, 0.0), amount)
            lease = Lease(
                "lease_" + uuid.uuid4().hex[:12], tenant, dimension, amount, time.monotonic() + self.lease_s
            )
            self.reserved[lease.lease_id] = lease
            if idempotency_key:
                self._by_key[idempotency_key] = lease
            return lease

    async def commit(self, lease: Lease, actual: float) -> None:
        async with self._lock:
            if self.reserved.pop(lease.lease_id, None) is not None:
                key = (lease.tenant, lease.dimension)
                self.used[key] = self.used.get(key, 0.0) + actual

    async def release(self, lease: Lease) -> None:
        async with self._lock:
            self.reserved.pop(lease.lease_id, None)
