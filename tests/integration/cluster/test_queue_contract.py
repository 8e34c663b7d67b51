"""The dispatch contract, run unchanged against the in-process queue, Redis Streams and NATS
JetStream: idempotent enqueue, admission control, visibility timeouts, dead letters, and a
consumer killed mid-job whose job is reclaimed and completes exactly once."""

from __future__ import annotations

import asyncio
import contextlib
import subprocess
import sys
import time
import uuid
from collections.abc import AsyncIterator, Callable

import pytest

from auraison.mcp_servers.cluster.queue import (
    InProcessQueue,
    JobQueue,
    NatsQueue,
    QueueConfig,
    QueueFull,
    QueueItem,
    RedisStreamQueue,
)

BACKENDS = ["inprocess", "redis", "nats"]


def make(backend: str, prefix: str, **config) -> JobQueue:
    cfg = QueueConfig(name=f"q{uuid.uuid4().hex[:8]}", **config)
    if backend == "redis":
        return RedisStreamQueue("redis://127.0.0.1:6379/0", prefix, cfg)
    if backend == "nats":
        return NatsQueue("nats://127.0.0.1:4222", prefix.replace(":", "_"), cfg)
    return InProcessQueue(cfg)


@pytest.fixture(params=BACKENDS)
async def queue_factory(
    request: pytest.FixtureRequest, redis_prefix: str
) -> AsyncIterator[Callable[..., JobQueue]]:
    made: list[JobQueue] = []

    def factory(**config) -> JobQueue:
        q = make(request.param, redis_prefix, **config)
        made.append(q)
        return q

    factory.backend = request.param  # type: ignore[attr-defined]
    yield factory
    for q in made:
        if isinstance(q, NatsQueue):
            await q.destroy()
        elif isinstance(q, RedisStreamQueue):
            await q.redis.delete(q.stream, q.dead_stream)
            async for key in q.redis.scan_iter(match=q.ids + "*"):
                await q.redis.delete(key)
        await q.close()


def job(i: int | str) -> QueueItem:
    return QueueItem(job_id=f"job-{i}", payload={"n": i})


async def test_enqueue_is_idempotent_and_fifo(queue_factory) -> None:
    q = queue_factory()
    assert [await q.enqueue(job(i)) for i in range(3)] == [True, True, True]
    assert await q.enqueue(job(1)) is False  # the same job id again
    got = []
    for _ in range(3):
        d = await q.lease("c1", timeout_s=2)
        got.append((d.item.job_id, d.deliveries))
        await q.ack(d)
    assert got == [("job-0", 1), ("job-1", 1), ("job-2", 1)]
    assert await q.lease("c1", timeout_s=0.2) is None
    assert await q.depth() == 0


async def test_a_full_queue_refuses_instead_of_trimming(queue_factory) -> None:
    q = queue_factory(max_length=3)
    for i in range(3):
        await q.enqueue(job(i))
    with pytest.raises(QueueFull, match="is full"):
        await q.enqueue(job(3))
    with pytest.raises(QueueFull, match="is full"):
        await q.enqueue_many([job(7), job(8)])  # batches meet the same bound
    d = await q.lease("c1", timeout_s=2)
    await q.ack(d)
    assert await q.enqueue(job(3)) is True  # room again once a job is done
    ids = []
    while (d := await q.lease("c1", timeout_s=0.5)) is not None:
        ids.append(d.item.job_id)
        await q.ack(d)
    assert ids == ["job-1", "job-2", "job-3"]  # nothing was dropped to make room


async def test_an_unacked_delivery_comes_back_after_the_visibility_timeout(queue_factory) -> None:
    q = queue_factory(visibility_s=1.5)  # wide enough that "still invisible" holds on a busy machine
    await q.enqueue(job("slow"))
    first = await q.lease("c1", timeout_s=2)
    assert await q.lease("c2", timeout_s=0.1) is None  # invisible while leased
    again = await q.lease("c2", timeout_s=5)  # c1 never acked: c2 gets it once the lease lapses
    assert again is not None and (again.item.job_id, again.deliveries) == ("job-slow", 2)
    await q.ack(again)
    assert first.deliveries == 1


async def test_a_poison_job_is_dead_lettered(queue_factory) -> None:
    q = queue_factory(max_deliveries=3)
    await q.enqueue(job("poison"))
    await q.enqueue(job("fine"))
    seen = []
    while (d := await q.lease("c1", timeout_s=1)) is not None:
        seen.append((d.item.job_id, d.deliveries))
        if d.item.job_id == "job-poison":
            await q.nack(d)  # fails every time
        else:
            await q.ack(d)
    assert [n for j, n in seen if j == "job-poison"] == [1, 2, 3]
    assert ("job-fine", 1) in seen
    assert [i.job_id for i in await q.dead_letters()] == ["job-poison"]
    assert await q.depth() == 0


async def test_two_consumers_complete_every_job_exactly_once(queue_factory) -> None:
    q = queue_factory(prefetch=8)  # reading ahead must not lose or repeat a job
    assert await q.enqueue_many([job(i) for i in range(60)]) == [True] * 60
    assert await q.enqueue_many([job(0), job(60)]) == [False, True]  # idempotent in batches too
    done: list[str] = []

    async def consume(name: str) -> None:
        batch = []
        while (d := await q.lease(name, timeout_s=0.5)) is not None:
            done.append(d.item.job_id)
            batch.append(d)
            if len(batch) == 5:
                await q.ack_many(batch)  # acked in batches: none comes back
                batch = []
        await q.ack_many(batch)

    await asyncio.gather(consume("a"), consume("b"))
    assert sorted(done) == sorted(f"job-{i}" for i in range(61))


CRASH = """
import asyncio, os, sys
from auraison.mcp_servers.cluster.queue import NatsQueue, QueueConfig, RedisStreamQueue
backend, name, prefix = sys.argv[1:4]
cfg = QueueConfig(name=name, visibility_s=1.0)
q = (RedisStreamQueue("redis://127.0.0.1:6379/0", prefix, cfg) if backend == "redis"
     else NatsQueue("nats://127.0.0.1:4222", prefix, cfg))
async def main():
    d = await q.lease("doomed", timeout_s=5)
    print(d.item.job_id, flush=True)
    os._exit(9)  # killed in the middle of the job: no ack, no nack
asyncio.run(main())
"""


async def test_a_consumer_killed_mid_job_is_reclaimed_and_completes_once(queue_factory) -> None:
    q = queue_factory(visibility_s=1.0)
    await q.enqueue(job("train"))
    completed: dict[str, int] = {}
    if queue_factory.backend == "inprocess":
        started = asyncio.Event()

        async def doomed() -> None:
            await q.lease("doomed", timeout_s=2)
            started.set()
            await asyncio.Event().wait()  # works forever, until killed

        task = asyncio.create_task(doomed())
        await started.wait()
        task.cancel()
    else:
        prefix = q.stream.split("q:")[0] if isinstance(q, RedisStreamQueue) else q.subject.split(".")[-1]
        prefix = prefix[: -len(q.config.name)] if isinstance(q, NatsQueue) else prefix
        out = await asyncio.to_thread(
            subprocess.run,
            [sys.executable, "-c", CRASH, queue_factory.backend, q.config.name, prefix],
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert out.returncode == 9 and out.stdout.strip() == "job-train", out.stderr
    d = await q.lease("survivor", timeout_s=10)
    assert d is not None and d.item.job_id == "job-train" and d.deliveries == 2
    completed[d.item.job_id] = completed.get(d.item.job_id, 0) + 1
    await q.ack(d)
    assert await q.lease("survivor", timeout_s=1.5) is None  # not delivered a third time
    assert completed == {"job-train": 1}


async def test_a_nats_consumer_comes_back_when_nats_does(redis_prefix: str) -> None:
    """NATS cut for longer than the client's reconnect tries: calls fail while it is away, and
    the same queue object leases again once it answers (no restart by hand), losing nothing."""
    from tests.tcpproxy import TcpProxy

    proxy = TcpProxy("127.0.0.1", 4222).start()
    cfg = QueueConfig(name=f"q{uuid.uuid4().hex[:8]}")
    queue = NatsQueue(f"nats://127.0.0.1:{proxy.port}", redis_prefix.replace(":", "_"), cfg)
    direct = NatsQueue("nats://127.0.0.1:4222", redis_prefix.replace(":", "_"), cfg)
    try:
        assert await queue.enqueue(job(1))
        proxy.stop()
        deadline = time.monotonic() + 60
        while not queue._nc.is_closed and time.monotonic() < deadline:  # it spends its reconnect tries
            with contextlib.suppress(Exception):
                await queue.lease("w", timeout_s=0.5)
        assert queue._nc.is_closed  # the client gave up: what the dispatcher used to die of
        assert await direct.enqueue(job(2))  # the stream goes on filling meanwhile
        proxy.start()
        got = []
        for _ in range(20):
            if (d := await queue.lease("w", timeout_s=0.5)) is not None:
                got.append(d.item.job_id)
                await queue.ack(d)
            if len(got) == 2:
                break
        assert sorted(got) == ["job-1", "job-2"]
    finally:
        proxy.stop()
        await direct.destroy()
        await direct.close()
        await queue.close()
