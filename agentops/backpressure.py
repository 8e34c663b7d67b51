"""Backpressure: per (tenant, plane, tool) bulkheads, token buckets and bounded priority queues.

One interface, two implementations: ``InProcessLimiter`` here and ``RedisLimiter``
(``redis_limiter.py``) for limits shared by several processes. A call that cannot be admitted
in time is shed with a machine-readable retry-after; ``never_wait`` calls (robot ``stop``)
bypass every limit. All timing uses the monotonic clock.
"""

from __future__ import annotations

import asyncio
import heapq
import itertools
import time
from abc import ABC, abstractmethod
from collections import Counter
from dataclasses import dataclass, field

from .decision import Decision
from .errors import ToolShed
from .policy import Limit


@dataclass
class Permit:
    """Held while the call runs; ``release`` hands the slot to the best waiter."""

    key: str
    wait_s: float = 0.0
    depth: int = 0
    _release: object = None

    def release(self) -> None:
        if callable(self._release):
            fn, self._release = self._release, None
            fn()


@dataclass
class Stats:
    admitted: Counter[str] = field(default_factory=Counter)
    shed: Counter[str] = field(default_factory=Counter)


def shed(key: str, reason: str, retry_after_s: float) -> ToolShed:
    return ToolShed(
        Decision(kind="shed", reason=f"{reason} for {key}", retry_after_s=round(max(retry_after_s, 0.001), 3))
    )


class Limiter(ABC):
    stats: Stats

    @abstractmethod
    async def acquire(self, key: str, limit: Limit) -> Permit:
        """Admit (possibly after queueing) or raise ``ToolShed``."""


class TokenBucket:
    def __init__(self, rate: float, burst: float) -> None:
        self.rate, self.burst = rate, burst
        self.tokens = burst
        self.stamp = time.monotonic()

    def take(self) -> float:
        """0.0 if a token was taken, else seconds until one is available."""
        now = time.monotonic()
        self.tokens = min(self.burst, self.tokens + (now - self.stamp) * self.rate)
        self.stamp = now
        if self.tokens >= 1.0:
            self.tokens -= 1.0
            return 0.0
        return (1.0 - self.tokens) / self.rate


@dataclass
class _Slot:
    in_flight: int = 0
    waiters: list[tuple[int, int, asyncio.Future[None]]] = field(default_factory=list)
    bucket: TokenBucket | None = None
    service_s: float = 0.05  # EWMA of call durations, for retry-after estimates


class InProcessLimiter(Limiter):
    def __init__(self) -> None:
        self._slots: dict[str, _Slot] = {}
        self._seq = itertools.count()
        self.stats = Stats()

    def depth(self, key: str) -> int:
        slot = self._slots.get(key)
        return len(slot.waiters) if slot else 0

    async def acquire(self, key: str, limit: Limit) -> Permit:
        if limit.never_wait:
            self.stats.admitted[key] += 1
            return Permit(key)
        slot = self._slots.setdefault(key, _Slot())
        if limit.rate_per_s is not None:
            if slot.bucket is None or slot.bucket.rate != limit.rate_per_s:
                slot.bucket = TokenBucket(limit.rate_per_s, limit.burst or max(1.0, limit.rate_per_s))
            wait = slot.bucket.take()
            if wait > 0:
                self.stats.shed[key] += 1
                raise shed(key, f"rate limit {limit.rate_per_s:g}/s exceeded", wait)
        if limit.concurrency is None:
            self.stats.admitted[key] += 1
            return Permit(key)
        started = time.monotonic()
        if slot.in_flight >= limit.concurrency or slot.waiters:
            if len(slot.waiters) >= limit.queue or limit.max_wait_s == 0:
                self.stats.shed[key] += 1
                backlog = (len(slot.waiters) + 1) / limit.concurrency
                raise shed(
                    key,
                    f"{slot.in_flight} calls running and {len(slot.waiters)} queued",
                    backlog * slot.service_s,
                )
            fut: asyncio.Future[None] = asyncio.get_running_loop().create_future()
            entry = (limit.priority, next(self._seq), fut)
            heapq.heappush(slot.waiters, entry)
            depth = len(slot.waiters)
            try:
                await asyncio.wait_for(asyncio.shield(fut), limit.max_wait_s)
            except TimeoutError:
                if fut.done():  # the slot was handed over just as we timed out: keep it
                    pass
                else:
                    fut.cancel()
                    slot.waiters.remove(entry)
                    heapq.heapify(slot.waiters)
                    self.stats.shed[key] += 1
                    raise shed(
                        key,
                        f"waited {limit.max_wait_s:g}s in the queue",
                        len(slot.waiters) / limit.concurrency * slot.service_s,
                    ) from None
        else:
            slot.in_flight += 1
            depth = 0
        self.stats.admitted[key] += 1
        wait_s = time.monotonic() - started
        return Permit(key, wait_s, depth, lambda: self._release(slot, started + wait_s))

    def _release(self, slot: _Slot, admitted_at: float) -> None:
        slot.service_s = 0.8 * slot.service_s + 0.2 * (time.monotonic() - admitted_at)
        while slot.waiters:
            _, _, fut = heapq.heappop(slot.waiters)
            if not fut.done():
                fut.set_result(None)  # the slot passes straight to the most urgent waiter
                return
        slot.in_flight -= 1
