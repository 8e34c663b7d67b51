"""Shared limits on real Redis: several processes contend, the bulkhead holds."""

from __future__ import annotations

import asyncio
import multiprocessing as mp
import time

import pytest
import redis

from auraison.agentops.errors import ToolShed
from auraison.agentops.policy import Limit
from auraison.agentops.redis_limiter import RedisLimiter

URL = "redis://127.0.0.1:6379/0"


def _worker(prefix: str, key: str, n: int, out: mp.Queue) -> None:
    async def run() -> list[tuple[float, float]]:
        lim = RedisLimiter(URL, prefix)
        spans = []
        limit = Limit(concurrency=2, queue=64, max_wait_s=20)
        for _ in range(n):
            p = await lim.acquire(key, limit)
            start = time.time()
            await asyncio.sleep(0.01)  # the "tool call" holding the slot
            spans.append((start, time.time()))
            p.release()
            await asyncio.sleep(0)  # let the release reach Redis
        await asyncio.sleep(0.05)
        await lim.close()
        return spans

    out.put(asyncio.run(run()))


@pytest.fixture
def clean(redis_prefix: str):
    yield redis_prefix
    r = redis.Redis.from_url(URL)
    keys = r.keys(redis_prefix + "*")
    if keys:
        r.delete(*keys)


def test_four_processes_never_exceed_the_shared_bulkhead(clean: str) -> None:
    ctx = mp.get_context("spawn")
    out: mp.Queue = ctx.Queue()
    procs = [ctx.Process(target=_worker, args=(clean, "t:robot:robot_drive", 10, out)) for _ in range(4)]
    for p in procs:
        p.start()
    spans = [s for _ in procs for s in out.get(timeout=60)]
    for p in procs:
        p.join(10)
    assert len(spans) == 40
    # at no instant were more than 2 calls running across all processes
    events = sorted([(s, 1) for s, _ in spans] + [(e, -1) for _, e in spans], key=lambda x: (x[0], x[1]))
    running = peak = 0
    for _, delta in events:
        running += delta
        peak = max(peak, running)
    assert peak <= 2


async def test_shared_rate_limit_and_crash_safe_leases(clean: str) -> None:
    a, b = RedisLimiter(URL, clean), RedisLimiter(URL, clean)
    rate = Limit(rate_per_s=1, burst=2)
    await a.acquire("t:lake:lake_query", rate)
    await b.acquire("t:lake:lake_query", rate)  # the bucket is shared across clients
    with pytest.raises(ToolShed) as err:
        await a.acquire("t:lake:lake_query", rate)
    assert 0 < err.value.decision.retry_after_s <= 1.0
    # A holder that dies without releasing: its lease expires instead of leaking the slot.
    short = RedisLimiter(URL, clean, lease_s=0.2)
    await short.acquire("t:robot:x", Limit(concurrency=1))
    with pytest.raises(ToolShed):
        await b.acquire("t:robot:x", Limit(concurrency=1, queue=0))
    permit = await b.acquire("t:robot:x", Limit(concurrency=1, max_wait_s=3))
    permit.release()
    assert (await a.acquire("t:robot:stop", Limit(never_wait=True))).wait_s == 0
    for lim in (a, b, short):
        await lim.close()


async def test_a_redis_outage_keeps_the_limits_per_process(clean: str, monkeypatch) -> None:
    """Redis cut: calls are still admitted (agents go on) within the same limits, held per
    process; once Redis answers again, permits are shared again."""
    from auraison.agentops import redis_limiter
    from tests.tcpproxy import TcpProxy

    monkeypatch.setattr(redis_limiter, "RETRY_SHARED_S", 0.0)  # try Redis again on every call
    proxy = TcpProxy("127.0.0.1", 6379).start()
    lim = RedisLimiter(f"redis://127.0.0.1:{proxy.port}/0", clean)
    limit = Limit(concurrency=1, queue=0, max_wait_s=0)
    inflight = f"{clean}limits:inflight:k"
    r = redis.Redis.from_url(URL)
    try:
        shared = await lim.acquire("k", limit)
        assert r.zcard(inflight) == 1
        shared.release()  # its ZREM is a task of this loop: wait until Redis has it
        for _ in range(1000):  # at most 10 s
            if not r.zcard(inflight):
                break
            await asyncio.sleep(0.01)
        assert r.zcard(inflight) == 0
        proxy.stop()
        held = await lim.acquire("k", limit)  # admitted by the process's own bulkhead
        with pytest.raises(ToolShed):
            await lim.acquire("k", limit)  # …which still bounds it
        held.release()
        proxy.start()  # the same port: Redis is back
        again = await lim.acquire("k", limit)
        assert r.zcard(inflight) == 1  # shared again
        again.release()
    finally:
        proxy.stop()
        await lim.close()
