"""Redis Stream ingestion: a consumer killed mid-batch loses nothing and duplicates nothing."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
import redis

from auraison.errors import UserError
from auraison.lakehouse.catalog import ALIAS, Lake
from auraison.lakehouse.stream import StreamIngestor, StreamProducer
from auraison.settings import Settings
from tests.integration.lake.test_lake import spans

CRASHER = """
import os, sys, redis
from auraison.settings import Settings
from auraison.lakehouse.catalog import Lake
from auraison.lakehouse.stream import StreamIngestor
home, stream, point = sys.argv[1:4]
lake = Lake(Settings(home=home))
ing = StreamIngestor(lake, redis.Redis(), stream, consumer="doomed", batch_entries=3, block_ms=100)
if point == "before-write":
    ing._entries()  # read a batch (now pending on this consumer), then die
    os._exit(3)
ing.before_ack = lambda: os._exit(3)  # the rows are in the lake, the ack never happens
ing.run_once()
"""


@pytest.fixture
def stream(redis_prefix: str) -> str:
    name = f"{redis_prefix}lake:ingest"
    yield name
    redis.Redis().delete(name)


@pytest.mark.parametrize("point", ["before-write", "after-write-before-ack"])
def test_a_consumer_killed_mid_batch_loses_and_duplicates_nothing(
    tmp_path: Path, stream: str, point: str
) -> None:
    client = redis.Redis()
    producer = StreamProducer(client, stream)
    rows = spans(1000)
    for i in range(0, 1000, 100):  # ten batches, one entry each
        producer.add("spans", rows[i : i + 100])
    done = subprocess.run(
        [sys.executable, "-c", CRASHER, str(tmp_path), stream, point], capture_output=True, text=True
    )
    assert done.returncode == 3, done.stderr

    lake = Lake(Settings(home=tmp_path))
    survivor = StreamIngestor(
        lake, client, stream, consumer="survivor", batch_entries=4, block_ms=100, min_idle_ms=0
    )
    assert survivor.pending() == 3  # the dead consumer's three batches
    while survivor.run_once():
        pass
    count, distinct = lake.execute(f"SELECT count(*), count(DISTINCT span_id) FROM {ALIAS}.spans").fetchone()
    assert (count, distinct) == (1000, 1000)
    assert survivor.pending() == 0 and client.xlen(stream) == 0
    lake.close()


@pytest.mark.parametrize("catalog", ["sqlite", "postgres"])
def test_a_slow_consumers_batches_reclaimed_meanwhile_commit_once(
    tmp_path: Path, stream: str, catalog: str, request: pytest.FixtureRequest
) -> None:
    """A consumer slow past ``min_idle_ms``: it has read three batches, checked their ids (not
    in the lake) and inserted them, but not yet committed, when another consumer reclaims the
    same entries and commits them. DuckLake lets two concurrent inserts both commit (PostgreSQL
    catalog), so without the fence row both would; with it the slow commit conflicts, runs
    again, finds the ids, adds nothing."""
    overrides: dict[str, object] = {"home": tmp_path}
    if catalog == "postgres":
        overrides["postgres"] = {"dsn": request.getfixturevalue("pg_dsn")}
    settings = Settings(**overrides)
    client = redis.Redis()
    producer = StreamProducer(client, stream)
    rows = spans(300)
    for i in range(0, 300, 100):
        producer.add("spans", rows[i : i + 100])
    slow_lake, fast_lake = Lake(settings, catalog=catalog), Lake(settings, catalog=catalog)
    slow = StreamIngestor(slow_lake, client, stream, consumer="slow", batch_entries=3, block_ms=100)
    fast = StreamIngestor(
        fast_lake, client, stream, consumer="fast", batch_entries=3, block_ms=100, min_idle_ms=0
    )
    reclaimed: dict[str, int] = {}
    slow.before_commit = lambda: reclaimed.update(fast.run_once())
    assert slow.run_once() == {"spans": 0}  # its retried commit found the batches there
    assert reclaimed == {"spans": 300}  # the other consumer took them over and committed them
    count, distinct = slow_lake.execute(
        f"SELECT count(*), count(DISTINCT span_id) FROM {ALIAS}.spans"
    ).fetchone()
    assert (count, distinct) == (300, 300)
    assert slow.pending() == 0 and client.xlen(stream) == 0
    slow_lake.close()
    fast_lake.close()


def test_a_retried_xadd_of_the_same_rows_is_the_same_batch(tmp_path: Path, stream: str) -> None:
    client = redis.Redis()
    producer = StreamProducer(client, stream)
    events = [{"event_id": f"e{i}", "type": "job.started", "tenant": "acme"} for i in range(5)]
    producer.add("events", events)
    producer.add("events", events)  # a lost XADD reply, sent again
    lake = Lake(Settings(home=tmp_path))
    writer = StreamIngestor(lake, client, stream, batch_entries=8, block_ms=100)
    assert writer.run_once() == {"events": 5}
    assert lake.execute(f"SELECT count(*) FROM {ALIAS}.events").fetchone()[0] == 5
    lake.close()


def test_the_producer_refuses_rows_that_cannot_be_exactly_once(stream: str) -> None:
    producer = StreamProducer(redis.Redis(), stream)
    with pytest.raises(UserError, match="only keyed tables"):
        producer.add("metrics", [{"run_id": "r", "key": "loss", "value": 1.0}])
    with pytest.raises(UserError, match="needs event_id"):
        producer.add("events", [{"type": "x"}])


async def test_agentops_spans_travel_through_the_stream_to_the_lake(
    tmp_path: Path, redis_prefix: str
) -> None:
    """trace_via = stream: gateway processes XADD their spans; one lake writer commits them."""
    from auraison.agentops import ToolCall
    from auraison.agentops.factory import StreamTraceSink, build_agentops, trace_sink

    settings = Settings(
        home=tmp_path,
        redis={"key_prefix": redis_prefix},
        agentops={"approvals": "memory", "lake_sink": True, "trace_via": "stream", "tenant": "acme"},
    )
    sink = trace_sink(settings, lake=lambda: pytest.fail("spans go through the stream, not to a lake"))
    assert isinstance(sink, StreamTraceSink)
    engine = build_agentops(settings, sink=sink)

    async def tool() -> str:
        return "ok"

    for _ in range(4):
        await engine.execute(ToolCall(tool="robot_get_state"), tool)
    assert engine.tracer_provider.force_flush(10_000)
    engine.tracer_provider.shutdown()
    lake = Lake(settings)
    writer = StreamIngestor(lake, redis.Redis(), redis_prefix + settings.lake.stream, block_ms=100)
    assert writer.run_once() == {"spans": 4}
    assert (
        lake.execute(f"SELECT count(*) FROM {ALIAS}.spans WHERE tool = 'robot_get_state'").fetchone()[0] == 4
    )
    redis.Redis().delete(redis_prefix + settings.lake.stream)
    lake.close()
