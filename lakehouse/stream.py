"""Ingestion through a Redis Stream (services profile): producers XADD rows, a consumer group
flushes them to the lake in batches.

Delivery is at least once and the lake makes it exactly once: a batch is written with the
writer's key-based dedupe and only then acknowledged (XACK, then XDEL so the stream does not
grow). A consumer that dies mid-batch leaves its entries pending; another consumer takes them
over with XAUTOCLAIM once they have been idle for ``min_idle_ms`` and writes them again — rows
that had already landed are skipped by key.
"""

from __future__ import annotations

import json
import os
import socket
from collections import defaultdict
from collections.abc import Callable
from typing import Any

import redis
import structlog

from auraison.errors import UserError

from .catalog import Lake
from .tables import KEYS
from .writer import append

log = structlog.get_logger(__name__)
GROUP = "lake-writers"


def _check(table: str, row: dict[str, Any]) -> None:
    if table not in KEYS:
        raise UserError(
            f"table {table!r} cannot be ingested through the stream",
            f"only keyed tables are exactly-once there: {', '.join(KEYS)}",
        )
    missing = [k for k in KEYS[table] if not row.get(k)]
    if missing:
        raise UserError(f"a {table} row needs {', '.join(missing)} (its exactly-once key)")


class StreamProducer:
    def __init__(self, client: redis.Redis, stream: str) -> None:
        self.client = client
        self.stream = stream

    def add(self, table: str, rows: list[dict[str, Any]]) -> list[str]:
        for row in rows:
            _check(table, row)
        pipe = self.client.pipeline(transaction=False)
        for row in rows:
            pipe.xadd(self.stream, {"table": table, "row": json.dumps(row, default=str)})
        return [i.decode() if isinstance(i, bytes) else i for i in pipe.execute()]


class StreamIngestor:
    """One consumer of the group; ``run_once`` moves at most one batch."""

    def __init__(
        self,
        lake: Lake,
        client: redis.Redis,
        stream: str,
        consumer: str | None = None,
        batch_rows: int = 10_000,
        block_ms: int = 1000,
        min_idle_ms: int = 30_000,
    ) -> None:
        self.lake = lake
        self.client = client
        self.stream = stream
        self.consumer = consumer or f"{socket.gethostname()}-{os.getpid()}"
        self.batch_rows = batch_rows
        self.block_ms = block_ms
        self.min_idle_ms = min_idle_ms
        self.before_ack: Callable[[], None] | None = None  # a test's crash point
        try:
            client.xgroup_create(stream, GROUP, id="0", mkstream=True)
        except redis.ResponseError as exc:
            if "BUSYGROUP" not in str(exc):
                raise

    def _entries(self) -> list[tuple[bytes, dict]]:
        # 1. our own pending entries (a write that failed last time), 2. entries a dead
        # consumer left behind, 3. new ones.
        mine = self.client.xreadgroup(GROUP, self.consumer, {self.stream: "0"}, count=self.batch_rows)
        if mine and mine[0][1]:
            return mine[0][1]
        claimed = self.client.xautoclaim(
            self.stream, GROUP, self.consumer, self.min_idle_ms, start_id="0-0", count=self.batch_rows
        )
        if claimed[1]:
            log.info("stream entries reclaimed", count=len(claimed[1]), consumer=self.consumer)
            return claimed[1]
        new = self.client.xreadgroup(
            GROUP, self.consumer, {self.stream: ">"}, count=self.batch_rows, block=self.block_ms
        )
        return new[0][1] if new else []

    def run_once(self) -> dict[str, int]:
        raw = self._entries()
        entries = [(i, f) for i, f in raw if f]  # deleted entries come back empty
        if not raw:
            return {}
        by_table: dict[str, list[dict[str, Any]]] = defaultdict(list)
        for _, fields in entries:
            by_table[fields[b"table"].decode()].append(json.loads(fields[b"row"]))
        added = {table: append(self.lake, table, rows) for table, rows in by_table.items()}
        if self.before_ack is not None:
            self.before_ack()
        ids = [i for i, _ in raw]
        self.client.xack(self.stream, GROUP, *ids)
        self.client.xdel(self.stream, *ids)
        return added

    def pending(self) -> int:
        return self.client.xpending(self.stream, GROUP)["pending"]
