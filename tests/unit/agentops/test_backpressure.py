"""The in-process limiter: bulkheads, priorities, never-wait safety calls, shedding."""

from __future__ import annotations

import asyncio

import pytest

from auraison.agentops.backpressure import InProcessLimiter
from auraison.agentops.errors import ToolShed
from auraison.agentops.policy import Limit


async def test_concurrency_bulkhead_and_priority_order() -> None:
    lim = InProcessLimiter()
    limit = Limit(concurrency=1, queue=10, max_wait_s=5)
    first = await lim.acquire("k", limit)
    order: list[str] = []

    async def waiter(name: str, priority: int) -> None:
        p = await lim.acquire("k", limit.model_copy(update={"priority": priority}))
        order.append(name)
        p.release()

    tasks = [
        asyncio.create_task(waiter("batch", 8)),
        asyncio.create_task(waiter("safety", 1)),
        asyncio.create_task(waiter("normal", 5)),
    ]
    while lim.depth("k") < 3:  # noqa: ASYNC110 - yielding until the waiters have queued
        await asyncio.sleep(0)  # let them queue (cooperative yield, not a timed sleep)
    first.release()
    await asyncio.gather(*tasks)
    assert order == ["safety", "normal", "batch"]


async def test_never_wait_bypasses_a_saturated_bulkhead() -> None:
    lim = InProcessLimiter()
    busy = await lim.acquire("k", Limit(concurrency=1, queue=0))
    stop = await asyncio.wait_for(lim.acquire("k", Limit(never_wait=True)), 0.1)
    assert stop.wait_s == 0.0
    busy.release()


async def test_full_queue_sheds_with_retry_after() -> None:
    lim = InProcessLimiter()
    limit = Limit(concurrency=1, queue=1, max_wait_s=5)
    held = await lim.acquire("k", limit)
    queued = asyncio.create_task(lim.acquire("k", limit))
    while lim.depth("k") < 1:  # noqa: ASYNC110 - yielding until the waiter has queued
        await asyncio.sleep(0)
    with pytest.raises(ToolShed) as err:
        await lim.acquire("k", limit)
    assert err.value.decision.kind == "shed" and err.value.decision.retry_after_s > 0
    held.release()
    (await queued).release()
    assert lim.stats.shed["k"] == 1


async def test_queue_timeout_sheds() -> None:
    lim = InProcessLimiter()
    held = await lim.acquire("k", Limit(concurrency=1))
    with pytest.raises(ToolShed, match="waited"):
        await lim.acquire("k", Limit(concurrency=1, max_wait_s=0.05))
    held.release()
    assert lim.depth("k") == 0


async def test_rate_limit_sheds_with_time_to_next_token() -> None:
    lim = InProcessLimiter()
    limit = Limit(rate_per_s=2, burst=2)
    await lim.acquire("r", limit)
    await lim.acquire("r", limit)
    with pytest.raises(ToolShed) as err:
        await lim.acquire("r", limit)
    assert 0 < err.value.decision.retry_after_s <= 0.5


async def test_keys_are_isolated() -> None:
    lim = InProcessLimiter()
    a = await lim.acquire("tenantA:robot:robot_drive", Limit(concurrency=1, queue=0))
    b = await lim.acquire("tenantB:robot:robot_drive", Limit(concurrency=1, queue=0))
    a.release()
    b.release()


async def test_queue_wait_depth_and_sheds_are_metrics() -> None:
    """The engine records queue wait, depth, sheds and decisions as OpenTelemetry metrics."""
    from opentelemetry.sdk.metrics import MeterProvider
    from opentelemetry.sdk.metrics.export import InMemoryMetricReader

    from auraison.agentops import AgentOps, ToolCall, ToolShed
    from auraison.agentops.policy import parse_policy

    reader = InMemoryMetricReader()
    eng = AgentOps(
        parse_policy(
            "version: 1\nrules:\n  - name: r\n    allow: ['robot_*']\n"
            "    limits: {robot_get_state: {concurrency: 1, queue: 0}}\n"
        ),
        meter_provider=MeterProvider(metric_readers=[reader]),
    )
    gate = asyncio.Event()

    async def slow() -> str:
        await gate.wait()
        return "ok"

    first = asyncio.create_task(eng.execute(ToolCall(tool="robot_get_state"), slow))
    while not eng.limiter.stats.admitted:  # noqa: ASYNC110 - yielding until the first call holds the slot
        await asyncio.sleep(0)
    with pytest.raises(ToolShed):
        await eng.execute(ToolCall(tool="robot_get_state"), slow)
    gate.set()
    await first
    data = reader.get_metrics_data()
    found = {m.name: m for rm in data.resource_metrics for sm in rm.scope_metrics for m in sm.metrics}
    assert {
        "auraison.agentops.calls",
        "auraison.agentops.shed",
        "auraison.agentops.queue.wait",
        "auraison.agentops.queue.depth",
    } <= set(found)
    shed_points = list(found["auraison.agentops.shed"].data.data_points)
    assert sum(p.value for p in shed_points) == 1
    decisions = {p.attributes["decision"]: p.value for p in found["auraison.agentops.calls"].data.data_points}
    assert decisions == {"allow": 1, "shed": 1}
