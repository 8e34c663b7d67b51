"""Ingestion through a Redis Stream (services profile): producers XADD batches, a consumer
group commits them to the lake.

An entry is one **batch**: its rows as an Arrow IPC stream (columnar from the producer to the
lake; a span batch never becomes dicts) and its batch id. Delivery is at least once and the
lake makes it exactly once: the entries a consumer read are committed in one transaction that
records their batch ids (``writer.append_batches``), and only then acknowledged (XACK, then
XDEL so the stream does not grow). A consumer that dies mid-batch leaves its entries pending;
another consumer takes them over with XAUTOCLAIM once they have been idle for ``min_idle_ms``
and commits them again — batches already in the lake are skipped by id, whatever the grouping.
A consumer that was only slow commits at the same time as the one that reclaimed its entries:
both commits update ``writer.FENCE``'s one row, so DuckLake refuses the later one, which runs
again and finds the ids (``writer.append_batches``). A producer that retries an XADD (a lost
reply, a spool replay) repeats the batch id — given, or derived from the rows' keys — so that is
exactly once too. Entries of the older one-row-per-entry format (``row``: JSON) still load; their
stream entry id is their batch id.
"""

from __future__ import annotations

import hashlib
import json
import os
import socket
from collections import defaultdict
from collections.abc import Callable
from typing import Any

import pyarrow as pa
import redis
import structlog

from auraison.errors import UserError

from .catalog import Lake
from .tables import KEYS
from .writer import append_batches, new_batch_id, to_arrow

log = structlog.get_logger(__name__)
GROUP = "lake-writers"


def encode(data: pa.Table) -> bytes:
    sink = pa.BufferOutputStream()
    with pa.ipc.new_stream(sink, data.schema) as w:
        w.write_table(data)
    return sink.getvalue().to_pybytes()


def decode(payload: bytes) -> pa.Table:
    return pa.ipc.open_stream(payload).read_all()


def _check(table: str, row: dict[str, Any]) -> None:
    if table not in KEYS:
        raise UserError(
            f"table {table!r} cannot be ingested through the stream",
            f"only keyed tables are exactly-once there: {', '.join(KEYS)}",
        )
    missing = [k for k in KEYS[table] if not row.get(k)]
    if missing:
        raise UserError(f"a {table} row needs {', '.join(missing)} (its exactly-once key)")


def keyed_batch_id(table: str, rows: list[dict[str, Any]]) -> str:
    """A batch id from the rows' keys (``tables.KEYS``): the same rows, the same id."""
    digest = hashlib.sha256(table.encode())
    for row in rows:
        for k in KEYS[table]:
            digest.update(b"\0" + str(row[k]).encode())
    return f"{table}:{digest.hexdigest()[:32]}"


class StreamProducer:
    def __init__(self, client: redis.Redis, stream: str) -> None:
        self.client = client
        self.stream = stream

    def add(self, table: str, rows: list[dict[str, Any]], batch_id: str | None = None) -> list[str]:
        """XADD ``rows`` as one batch entry; returns the entry ids. Without ``batch_id`` the id
        is derived from the rows' keys, so a retried XADD of the same rows (a lost reply) is the
        same batch and commits once."""
        for row in rows:
            _check(table, row)
        if not rows:
            return []
        return [self.add_arrow(table, to_arrow(table, rows), batch_id or keyed_batch_id(table, rows))]

    def add_arrow(self, table: str, data: pa.Table, batch_id: str | None = None) -> str:
        """XADD one batch (an Arrow table of ``table``'s columns) under ``batch_id``."""
        if table not in KEYS:
            _check(table, {})
        entry = self.client.xadd(
            self.stream, {"table": table, "batch": batch_id or new_batch_id(), "arrow": encode(data)}
        )
        return entry.decode() if isinstance(entry, bytes) else entry


class StreamIngestor:
    """One consumer of the group; ``run_once`` moves at most one batch."""

    def __init__(
        self,
        lake: Lake,
        client: redis.Redis,
        stream: str,
        consumer: str | None = None,
        batch_rows: int = 10_000,
        batch_entries: int = 64,
        block_ms: int = 1000,
        min_idle_ms: int = 30_000,
    ) -> None:
        self.lake = lake
        self.client = client
        self.stream = stream
        self.consumer = consumer or f"{socket.gethostname()}-{os.getpid()}"
        self.count = max(1, min(batch_rows, batch_entries))  # entries per commit (each a batch)
        self.block_ms = block_ms
        self.min_idle_ms = min_idle_ms
        self.before_ack: Callable[[], None] | None = None  # a test's crash point
        self.before_commit: Callable[[], None] | None = None  # a test's point to let another consumer in
        try:
            client.xgroup_create(stream, GROUP, id="0", mkstream=True)
        except redis.ResponseError as exc:
            if "BUSYGROUP" not in str(exc):
                raise

    def _entries(self) -> list[tuple[bytes, dict]]:
        # 1. our own pending entries (a write that failed last time), 2. entries a dead
        # consumer left behind, 3. new ones.
        mine = self.client.xreadgroup(GROUP, self.consumer, {self.stream: "0"}, count=self.count)
        if mine and mine[0][1]:
            return mine[0][1]
        claimed = self.client.xautoclaim(
            self.stream, GROUP, self.consumer, self.min_idle_ms, start_id="0-0", count=self.count
        )
        if claimed[1]:
            log.info("stream entries reclaimed", count=len(claimed[1]), consumer=self.consumer)
            return claimed[1]
        new = self.client.xreadgroup(
            GROUP, self.consumer, {self.stream: ">"}, count=self.count, block=self.block_ms
        )
        return new[0][1] if new else []

    def run_once(self) -> dict[str, int]:
        raw = self._entries()
        if not raw:
            return {}
        by_table: dict[str, list[tuple[str, pa.Table]]] = defaultdict(list)
        for entry_id, fields in raw:
            if not fields:  # deleted entries come back empty
                continue
            table = fields[b"table"].decode()
            if b"arrow" in fields:
                by_table[table].append((fields[b"batch"].decode(), decode(fields[b"arrow"])))
            else:  # the older format: one JSON row per entry
                eid = entry_id.decode() if isinstance(entry_id, bytes) else entry_id
                row = to_arrow(table, [json.loads(fields[b"row"])])
                by_table[table].append((f"{self.stream}:{eid}", row))
        added = {
            table: append_batches(self.lake, table, batches, before_commit=self._once())
            for table, batches in by_table.items()
        }
        if self.before_ack is not None:
            self.before_ack()
        ids = [i for i, _ in raw]
        self.client.xack(self.stream, GROUP, *ids)
        self.client.xdel(self.stream, *ids)
        return added

    def _once(self) -> Callable[[], None] | None:
        """``before_commit``, run on the first commit attempt only (a retried commit runs again)."""
        hook, self.before_commit = self.before_commit, None
        return hook

    def pending(self) -> int:
        return self.client.xpending(self.stream, GROUP)["pending"]
