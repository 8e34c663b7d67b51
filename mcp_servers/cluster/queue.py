"""One dispatch contract, three backends.

``enqueue`` (idempotent by job id; refused with ``QueueFull`` when the queue is at its bound —
admission control, never silent trimming) → ``lease`` (a delivery, invisible to other
consumers until acked or until its visibility timeout lapses) → ``ack`` / ``nack``. A job
delivered more than ``max_deliveries`` times goes to the dead-letter queue instead.

* ``InProcessQueue`` — asyncio, the embedded default.
* ``RedisStreamQueue`` — a consumer group: XADD, XREADGROUP, XACK, XPENDING, XAUTOCLAIM
  (a dead consumer's deliveries are reclaimed after the visibility timeout).
* ``NatsQueue`` — a JetStream work-queue stream with a durable pull consumer: explicit ack,
  ``ack_wait`` as the visibility timeout, ``max_ack_pending`` as backpressure, ``Nats-Msg-Id``
  for publish-side dedupe, ``discard=new`` + ``max_msgs`` as the bound.

Delivery is at least once; consumers make side effects idempotent by job id (Ray does it for
jobs: a ``submission_id`` is accepted once).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
from abc import ABC, abstractmethod
from collections import OrderedDict, deque
from dataclasses import dataclass, field
from typing import Any

from pydantic import BaseModel, Field

from auraison.errors import Unavailable


class QueueFull(Unavailable):
    def __init__(self, name: str, bound: int) -> None:
        super().__init__(f"queue {name} is full ({bound} jobs waiting); retry later or raise its bound")
        self.retry_after_s = 1.0


class QueueItem(BaseModel):
    job_id: str = Field(min_length=1, max_length=200)
    payload: dict[str, Any] = {}
    priority: int = Field(5, ge=0, le=9)


@dataclass
class Delivery:
    item: QueueItem
    deliveries: int  # 1 on first delivery
    token: Any = field(repr=False, default=None)  # backend handle (stream id, NATS msg, …)


@dataclass
class QueueConfig:
    name: str = "jobs"
    max_length: int = 10_000
    max_deliveries: int = 3
    visibility_s: float = 30.0
    prefetch: int = 1  # deliveries a consumer reads ahead (they are in flight from that moment)


class JobQueue(ABC):
    def __init__(self, config: QueueConfig) -> None:
        self.config = config

    @abstractmethod
    async def enqueue(self, item: QueueItem) -> bool:
        """``True`` if queued, ``False`` if this job id was already queued (idempotent)."""

    async def enqueue_many(self, items: list[QueueItem]) -> list[bool]:
        """Enqueue a batch (one round trip where the backend allows); same rules per item —
        a full queue raises ``QueueFull`` for the first item that does not fit (those before it
        are queued)."""
        return [await self.enqueue(item) for item in items]

    @abstractmethod
    async def lease(self, consumer: str, timeout_s: float = 1.0) -> Delivery | None: ...

    @abstractmethod
    async def ack(self, delivery: Delivery) -> None: ...

    async def ack_many(self, deliveries: list[Delivery]) -> None:
        """Ack a batch (one round trip where the backend allows)."""
        for delivery in deliveries:
            await self.ack(delivery)

    @abstractmethod
    async def nack(self, delivery: Delivery) -> None:
        """Give the job back for another delivery now (it counts as one)."""

    @abstractmethod
    async def dead_letters(self) -> list[QueueItem]: ...

    @abstractmethod
    async def depth(self) -> int:
        """Jobs waiting or in flight (what the bound applies to)."""

    async def close(self) -> None:  # noqa: B027 - optional
        pass


# --------------------------------------------------------------------------- in-process
class InProcessQueue(JobQueue):
    def __init__(self, config: QueueConfig | None = None) -> None:
        super().__init__(config or QueueConfig())
        self._ready: deque[tuple[QueueItem, int]] = deque()
        self._inflight: dict[str, tuple[QueueItem, int, float]] = {}
        self._seen: OrderedDict[str, None] = OrderedDict()
        self._dead: list[QueueItem] = []
        self._cond = asyncio.Condition()

    async def enqueue(self, item: QueueItem) -> bool:
        async with self._cond:
            if item.job_id in self._seen:
                return False
            if await self.depth() >= self.config.max_length:
                raise QueueFull(self.config.name, self.config.max_length)
            self._seen[item.job_id] = None
            while len(self._seen) > 100_000:
                self._seen.popitem(last=False)
            self._ready.append((item, 0))
            self._cond.notify()
            return True

    def _reclaim(self) -> None:
        now = time.monotonic()
        for job_id, (item, n, deadline) in list(self._inflight.items()):
            if deadline <= now:
                del self._inflight[job_id]
                self._ready.appendleft((item, n))

    async def lease(self, consumer: str, timeout_s: float = 1.0) -> Delivery | None:
        deadline = time.monotonic() + timeout_s
        async with self._cond:
            while True:
                self._reclaim()
                while self._ready:
                    item, n = self._ready.popleft()
                    if n >= self.config.max_deliveries:
                        self._dead.append(item)
                        continue
                    self._inflight[item.job_id] = (item, n + 1, time.monotonic() + self.config.visibility_s)
                    return Delivery(item, n + 1, token=item.job_id)
                left = deadline - time.monotonic()
                if left <= 0:
                    return None
                # Wake on a new job, or when the earliest in-flight lease could lapse.
                lapse = min((d for _, _, d in self._inflight.values()), default=deadline) - time.monotonic()
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._cond.wait(), max(min(left, lapse), 0.001))

    async def ack(self, delivery: Delivery) -> None:
        async with self._cond:
            self._inflight.pop(delivery.item.job_id, None)

    async def nack(self, delivery: Delivery) -> None:
        async with self._cond:
            if self._inflight.pop(delivery.item.job_id, None) is not None:
                self._ready.append((delivery.item, delivery.deliveries))
                self._cond.notify()

    async def dead_letters(self) -> list[QueueItem]:
        async with self._cond:
            self._reclaim()
            for item, n in [x for x in self._ready if x[1] >= self.config.max_deliveries]:
                self._ready.remove((item, n))
                self._dead.append(item)
        return list(self._dead)

    async def depth(self) -> int:
        return len(self._ready) + len(self._inflight)


# ------------------------------------------------------------------------- Redis Streams
# Admission and idempotency in one atomic step: refuse when full, skip a known job id.
_ENQUEUE = """
if redis.call('EXISTS', KEYS[2]) == 1 then return 0 end
local waiting = redis.call('XLEN', KEYS[1])
if waiting >= tonumber(ARGV[1]) then return -1 end
redis.call('XADD', KEYS[1], '*', 'item', ARGV[2], 'base', '0')
redis.call('SET', KEYS[2], '1', 'EX', ARGV[3])
return 1
"""
# The same for a batch, in one script call: the results say, per item, 1 queued, 0 known, and
# -1 (then the rest are not tried) full.
_ENQUEUE_MANY = """
local out = {}
for i = 3, #ARGV, 2 do
  local idkey = KEYS[2] .. ARGV[i]
  if redis.call('EXISTS', idkey) == 1 then
    out[#out + 1] = 0
  elseif redis.call('XLEN', KEYS[1]) >= tonumber(ARGV[1]) then
    out[#out + 1] = -1
    return out
  else
    redis.call('XADD', KEYS[1], '*', 'item', ARGV[i + 1], 'base', '0')
    redis.call('SET', idkey, '1', 'EX', ARGV[2])
    out[#out + 1] = 1
  end
end
return out
"""
# Give a delivery back: one new entry carrying the deliveries so far, the old one acked away.
_REQUEUE = """
redis.call('XADD', KEYS[1], '*', 'item', ARGV[2], 'base', ARGV[3])
redis.call('XACK', KEYS[1], ARGV[1], ARGV[4])
redis.call('XDEL', KEYS[1], ARGV[4])
return 1
"""


class RedisStreamQueue(JobQueue):
    GROUP = "workers"

    def __init__(self, url: str, prefix: str, config: QueueConfig | None = None) -> None:
        import redis.asyncio as aioredis

        super().__init__(config or QueueConfig())
        self.redis = aioredis.Redis.from_url(url)
        self.stream = f"{prefix}q:{self.config.name}"
        self.dead_stream = f"{self.stream}:dead"
        self.ids = f"{self.stream}:id:"
        self._enqueue = self.redis.register_script(_ENQUEUE)
        self._enqueue_many = self.redis.register_script(_ENQUEUE_MANY)
        self._requeue = self.redis.register_script(_REQUEUE)
        self._group_ready = False
        self._buffers: dict[str, deque] = {}
        self._next_claim = 0.0

    async def _group(self) -> None:
        if self._group_ready:
            return
        import redis

        try:
            await self.redis.xgroup_create(self.stream, self.GROUP, id="0", mkstream=True)
        except redis.ResponseError as exc:
            if "BUSYGROUP" not in str(exc):
                raise
        self._group_ready = True

    async def enqueue(self, item: QueueItem) -> bool:
        await self._group()
        ttl = 7 * 24 * 3600  # how long a job id stays "already queued"
        res = await self._enqueue(
            keys=[self.stream, self.ids + item.job_id],
            args=[self.config.max_length, item.model_dump_json(), ttl],
        )
        if res == -1:
            raise QueueFull(self.config.name, self.config.max_length)
        return res == 1

    async def enqueue_many(self, items: list[QueueItem]) -> list[bool]:
        await self._group()
        args: list[Any] = [self.config.max_length, 7 * 24 * 3600]
        for item in items:
            args += [item.job_id, item.model_dump_json()]
        results = await self._enqueue_many(keys=[self.stream, self.ids], args=args)
        if results and results[-1] == -1:
            raise QueueFull(self.config.name, self.config.max_length)
        return [r == 1 for r in results]

    async def lease(self, consumer: str, timeout_s: float = 1.0) -> Delivery | None:
        await self._group()
        deadline = time.monotonic() + timeout_s
        buffer = self._buffers.setdefault(consumer, deque())
        while True:
            if not buffer:
                await self._fill(consumer, buffer, deadline)
                if not buffer:
                    if time.monotonic() >= deadline:
                        return None
                    continue
            entry_id, fields, times = buffer.popleft()
            if not fields:  # deleted meanwhile
                await self.redis.xack(self.stream, self.GROUP, entry_id)
                continue
            item = QueueItem.model_validate_json(fields[b"item"])
            deliveries = int(fields.get(b"base", b"0")) + times
            delivery = Delivery(item, deliveries, token=entry_id)
            if deliveries > self.config.max_deliveries:
                await self._dead_letter(delivery)
                continue
            return delivery

    async def _fill(self, consumer: str, buffer: deque, deadline: float) -> None:
        """Reclaim lapsed deliveries (at most every quarter visibility timeout: XAUTOCLAIM on
        every lease would double the round trips), else read new entries, ``prefetch`` at a time."""
        n = self.config.prefetch
        now = time.monotonic()
        if now >= self._next_claim:
            self._next_claim = now + self.config.visibility_s / 4
            vis_ms = int(self.config.visibility_s * 1000)
            _, claimed, _ = await self.redis.xautoclaim(
                self.stream, self.GROUP, consumer, vis_ms, "0-0", count=n
            )
            for entry_id, fields in claimed:
                pending = await self.redis.xpending_range(self.stream, self.GROUP, entry_id, entry_id, 1)
                buffer.append((entry_id, fields, pending[0]["times_delivered"] if pending else 1))
            if buffer:
                return
        # Block for new entries, but wake in time for the next reclaim.
        wake = min(deadline, self._next_claim) - time.monotonic()
        got = await self.redis.xreadgroup(
            self.GROUP, consumer, {self.stream: ">"}, count=n, block=max(int(wake * 1000), 1)
        )
        for entry_id, fields in got[0][1] if got else []:
            buffer.append((entry_id, fields, 1))

    async def _dead_letter(self, delivery: Delivery) -> None:
        async with self.redis.pipeline(transaction=True) as pipe:
            pipe.xadd(
                self.dead_stream,
                {"item": delivery.item.model_dump_json(), "deliveries": delivery.deliveries - 1},
            )
            pipe.xack(self.stream, self.GROUP, delivery.token)
            pipe.xdel(self.stream, delivery.token)
            await pipe.execute()

    async def ack(self, delivery: Delivery) -> None:
        await self.ack_many([delivery])

    async def ack_many(self, deliveries: list[Delivery]) -> None:
        if not deliveries:
            return
        ids = [d.token for d in deliveries]
        async with self.redis.pipeline(transaction=True) as pipe:
            pipe.xack(self.stream, self.GROUP, *ids)
            pipe.xdel(self.stream, *ids)
            await pipe.execute()

    async def nack(self, delivery: Delivery) -> None:
        await self._requeue(
            keys=[self.stream],
            args=[self.GROUP, delivery.item.model_dump_json(), delivery.deliveries, delivery.token],
        )

    async def dead_letters(self) -> list[QueueItem]:
        entries = await self.redis.xrange(self.dead_stream)
        return [QueueItem.model_validate_json(f[b"item"]) for _, f in entries]

    async def depth(self) -> int:
        return await self.redis.xlen(self.stream)

    async def close(self) -> None:
        await self.redis.aclose()


# ------------------------------------------------------------------------ NATS JetStream
class NatsQueue(JobQueue):
    def __init__(self, url: str, prefix: str, config: QueueConfig | None = None) -> None:
        super().__init__(config or QueueConfig())
        safe = "".join(c if c.isalnum() else "_" for c in f"{prefix}{self.config.name}")
        self.url = url
        self.stream = safe.upper()
        self.subject = f"auraison.jobs.{safe}"
        self.dead_subject = f"{self.subject}.dead"
        self.durable = f"{safe}_workers"
        self._nc = None
        self._js = None
        self._sub = None
        self._fetched: deque = deque()

    async def _connect(self):
        if self._js is not None and self._nc is not None and not self._nc.is_closed:
            return self._js
        # First use, or the client gave up reconnecting (NATS was away longer than its tries):
        # connect afresh, so a consumer recovers when NATS returns, with no restart by hand.
        self._js = self._sub = None
        self._fetched.clear()  # deliveries of the old connection are redelivered after ack_wait
        import nats
        from nats.js.api import AckPolicy, ConsumerConfig, DiscardPolicy, RetentionPolicy, StreamConfig

        self._nc = await nats.connect(self.url, connect_timeout=2, max_reconnect_attempts=2)
        js = self._nc.jetstream()
        await js.add_stream(
            StreamConfig(
                name=self.stream,
                subjects=[self.subject],
                retention=RetentionPolicy.WORK_QUEUE,
                max_msgs=self.config.max_length,
                discard=DiscardPolicy.NEW,  # full means refused, never silently trimmed
                duplicate_window=600,
            )
        )
        await js.add_stream(StreamConfig(name=f"{self.stream}_DEAD", subjects=[self.dead_subject]))
        self._sub = await js.pull_subscribe(
            self.subject,
            durable=self.durable,
            config=ConsumerConfig(
                ack_policy=AckPolicy.EXPLICIT,
                ack_wait=self.config.visibility_s,
                max_deliver=self.config.max_deliveries + 1,  # we dead-letter on the extra one
                max_ack_pending=max(self.config.max_length, 1),
            ),
        )
        self._js = js
        return js

    async def enqueue(self, item: QueueItem) -> bool:
        from nats.js.errors import APIError

        js = await self._connect()
        try:
            ack = await js.publish(
                self.subject, item.model_dump_json().encode(), headers={"Nats-Msg-Id": item.job_id}
            )
        except APIError as exc:
            if "maximum messages exceeded" in str(exc).lower() or getattr(exc, "err_code", None) == 10077:
                raise QueueFull(self.config.name, self.config.max_length) from None
            raise
        return not ack.duplicate

    async def lease(self, consumer: str, timeout_s: float = 1.0) -> Delivery | None:
        from nats.errors import TimeoutError as NatsTimeout

        await self._connect()
        deadline = time.monotonic() + timeout_s
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                return None
            if not self._fetched:
                try:
                    self._fetched.extend(await self._sub.fetch(self.config.prefetch, timeout=max(left, 0.05)))
                except (NatsTimeout, TimeoutError):
                    return None
            msg = self._fetched.popleft()
            item = QueueItem.model_validate_json(msg.data)
            delivery = Delivery(item, msg.metadata.num_delivered, token=msg)
            if delivery.deliveries > self.config.max_deliveries:
                await self._js.publish(
                    self.dead_subject,
                    json.dumps({"item": item.model_dump(), "deliveries": delivery.deliveries - 1}).encode(),
                )
                await msg.term()
                continue
            return delivery

    async def ack(self, delivery: Delivery) -> None:
        await delivery.token.ack_sync()

    async def ack_many(self, deliveries: list[Delivery]) -> None:
        # JetStream acks one message at a time; send them together and wait for all.
        await asyncio.gather(*(d.token.ack_sync() for d in deliveries))

    async def nack(self, delivery: Delivery) -> None:
        await delivery.token.nak()

    async def dead_letters(self) -> list[QueueItem]:
        js = await self._connect()
        info = await js.stream_info(f"{self.stream}_DEAD")
        out = []
        for seq in range(info.state.first_seq, info.state.last_seq + 1):
            if info.state.messages == 0:
                break
            msg = await js.get_msg(f"{self.stream}_DEAD", seq)
            out.append(QueueItem.model_validate(json.loads(msg.data)["item"]))
        return out

    async def depth(self) -> int:
        js = await self._connect()
        return (await js.stream_info(self.stream)).state.messages

    async def destroy(self) -> None:
        """Delete the streams (tests, and `auraison control queue-reset`)."""
        js = await self._connect()
        for name in (self.stream, f"{self.stream}_DEAD"):
            with contextlib.suppress(Exception):  # already gone
                await js.delete_stream(name)

    async def close(self) -> None:
        if self._nc is not None:
            # close, not drain: a pull subscription has nothing buffered to hand back (acks
            # were sent synchronously), and drain waits out its 30 s timeout on it.
            await self._nc.close()
            self._nc = self._js = self._sub = None


def build_queue(settings, name: str = "jobs", **config: Any) -> JobQueue:
    """The queue ``bus.backend`` names: inprocess, redis or nats."""
    cfg = QueueConfig(name=name, **config)
    backend = settings.bus.backend
    if backend == "redis":
        return RedisStreamQueue(settings.redis.url, settings.redis.key_prefix, cfg)
    if backend == "nats":
        return NatsQueue(settings.nats.url, settings.redis.key_prefix.replace(":", "_"), cfg)
    return InProcessQueue(cfg)
