"""Backpressure shared by several processes: one atomic Lua script per admission.

The script refills a token bucket and counts in-flight permits in a sorted set whose scores
are lease deadlines (a crashed holder's permit expires instead of leaking). Waiting for a
concurrency slot happens in the caller's process, in priority order, retrying the script.

When Redis cannot be reached the same limits hold per process (``InProcessLimiter``) until it
answers again: a shared limiter's outage must not halt running agents (the first principle),
and it must not admit without any bound either. Redis is tried again at most once a second
while it is away, so a cut costs no call more than the client's short timeouts.
"""

from __future__ import annotations

import asyncio
import contextlib
import heapq
import itertools
import time
import uuid

import structlog

from .backpressure import InProcessLimiter, Limiter, Permit, Stats, shed
from .policy import Limit

log = structlog.get_logger("auraison.agentops.backpressure")
RETRY_SHARED_S = 1.0

_ACQUIRE = """
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local rate, burst, conc = tonumber(ARGV[1]), tonumber(ARGV[2]), tonumber(ARGV[3])
local lease_ms = tonumber(ARGV[5])
if conc > 0 then
  redis.call('ZREMRANGEBYSCORE', KEYS[2], '-inf', now)
  if redis.call('ZCARD', KEYS[2]) >= conc then
    local first = redis.call('ZRANGE', KEYS[2], 0, 0, 'WITHSCORES')
    return {0, 'busy', 0}
  end
end
if rate > 0 then
  local b = redis.call('HMGET', KEYS[1], 'tokens', 'ts')
  local tokens = tonumber(b[1]) or burst
  local ts = tonumber(b[2]) or now
  tokens = math.min(burst, tokens + (now - ts) * rate / 1000)
  if tokens < 1 then
    redis.call('HSET', KEYS[1], 'tokens', tokens, 'ts', now)
    redis.call('PEXPIRE', KEYS[1], 60000)
    return {0, 'rate', math.ceil((1 - tokens) * 1000 / rate)}
  end
  redis.call('HSET', KEYS[1], 'tokens', tokens - 1, 'ts', now)
  redis.call('PEXPIRE', KEYS[1], 60000)
end
if conc > 0 then
  redis.call('ZADD', KEYS[2], now + lease_ms, ARGV[4])
  redis.call('PEXPIRE', KEYS[2], lease_ms + 1000)
end
return {1, 'ok', 0}
"""


class RedisLimiter(Limiter):
    def __init__(self, url: str, prefix: str = "auraison:", lease_s: float = 300.0) -> None:
        import redis.asyncio as aioredis

        self.r = aioredis.Redis.from_url(url, socket_connect_timeout=1.0, socket_timeout=2.0)
        self.prefix = prefix + "limits:"
        self.lease_ms = int(lease_s * 1000)
        self._script = self.r.register_script(_ACQUIRE)
        self._waiters: dict[str, list[tuple[int, int, asyncio.Event]]] = {}
        self._seq = itertools.count()
        self.stats = Stats()
        self._local = InProcessLimiter()
        self._away_until: float | None = None  # Redis unreachable: per-process limits until then

    async def _try(self, key: str, limit: Limit, permit_id: str) -> tuple[bool, str, float]:
        rate = limit.rate_per_s or 0
        burst = limit.burst or max(1.0, rate)
        ok, why, retry_ms = await self._script(
            keys=[f"{self.prefix}bucket:{key}", f"{self.prefix}inflight:{key}"],
            args=[rate, burst, limit.concurrency or 0, permit_id, self.lease_ms],
        )
        return bool(ok), why.decode() if isinstance(why, bytes) else why, retry_ms / 1000

    async def acquire(self, key: str, limit: Limit) -> Permit:
        from redis import exceptions as redis_errors

        if self._away_until is not None and time.monotonic() < self._away_until:
            return await self._local.acquire(key, limit)
        try:
            permit = await self._acquire_shared(key, limit)
        except (redis_errors.ConnectionError, redis_errors.TimeoutError, OSError) as exc:
            if self._away_until is None:
                log.warning(
                    "shared limiter unreachable: limits hold per process until Redis answers",
                    error=str(exc).splitlines()[0] if str(exc) else type(exc).__name__,
                )
            self._away_until = time.monotonic() + RETRY_SHARED_S
            return await self._local.acquire(key, limit)
        if self._away_until is not None:
            log.info("shared limiter back: limits are shared again")
            self._away_until = None
        return permit

    async def _acquire_shared(self, key: str, limit: Limit) -> Permit:
        if limit.never_wait:
            self.stats.admitted[key] += 1
            return Permit(key)
        permit_id = uuid.uuid4().hex
        started = time.monotonic()
        ok, why, retry = await self._try(key, limit, permit_id)
        if not ok and why == "rate":
            self.stats.shed[key] += 1
            raise shed(key, f"rate limit {limit.rate_per_s:g}/s exceeded (shared)", retry)
        depth = 0
        if not ok:
            waiters = self._waiters.setdefault(key, [])
            if len(waiters) >= limit.queue or limit.max_wait_s == 0:
                self.stats.shed[key] += 1
                raise shed(key, "all shared slots busy and the queue is full", 0.05 * (len(waiters) + 1))
            me = (limit.priority, next(self._seq), asyncio.Event())
            heapq.heappush(waiters, me)
            depth = len(waiters)
            backoff = 0.002
            try:
                while True:
                    if waiters[0] is me:  # only the most urgent local waiter polls Redis
                        ok, why, retry = await self._try(key, limit, permit_id)
                        if ok:
                            break
                    remaining = limit.max_wait_s - (time.monotonic() - started)
                    if remaining <= 0:
                        self.stats.shed[key] += 1
                        raise shed(key, f"waited {limit.max_wait_s:g}s for a shared slot", backoff)
                    with contextlib.suppress(TimeoutError):
                        await asyncio.wait_for(me[2].wait(), min(backoff, remaining))
                    me[2].clear()
                    backoff = min(backoff * 2, 0.05)
            finally:
                waiters.remove(me)
                heapq.heapify(waiters)
                if waiters:
                    waiters[0][2].set()
        self.stats.admitted[key] += 1
        inflight = f"{self.prefix}inflight:{key}"

        def release() -> None:
            task = asyncio.ensure_future(self.r.zrem(inflight, permit_id))
            task.add_done_callback(lambda t: t.exception())
            if self._waiters.get(key):
                self._waiters[key][0][2].set()

        return Permit(key, time.monotonic() - started, depth, release)

    async def close(self) -> None:
        await self.r.aclose()
