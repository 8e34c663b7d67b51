"""Batched, exactly-once appends to the lake, and the AgentOps trace sink built on them.

A batch goes in as one commit (DuckLake commits cost milliseconds: batch, never row by row) and
as an Arrow table (DuckDB scans Arrow without copying: the limit of what a writer can do).

Exactly once, two ways:

* by **batch id** (the trace sink and its spool, the ingestion stream, events a tool appends
  under ids it has just made): the commit that adds a batch's rows
  also records its id in the small ``ingest_batches`` table, in one transaction; a batch whose
  id is there already adds nothing. The check is one equality lookup in a table with one row
  per *commit*, so its cost does not grow with the data table (a key scan at 100M rows does);
* by the table's **key** (``tables.KEYS``; callers without batch ids: documents, whose ids are
  content hashes added again on purpose, and JSONL files loaded again): rows whose key is
  already there are dropped. This scans the key column,
  so it is for small tables and small batches; high-volume writers give batch ids.
"""

from __future__ import annotations

import json
import time
import uuid
import weakref
from collections.abc import Callable, Iterable
from typing import Any

import duckdb
import pyarrow as pa

from .catalog import ALIAS, Lake, LakeUnavailable
from .tables import KEYS, TABLES

BATCHES = "ingest_batches"
"""One row per batch committed by id (not in ``TABLES``: not a table agents query)."""
_BATCHES_DDL = (
    f"CREATE TABLE IF NOT EXISTS {ALIAS}.{BATCHES} "
    "(batch_id VARCHAR, table_name VARCHAR, rows BIGINT, committed_ns BIGINT)"
)
FENCE = "ingest_fence"
"""One row that every replayed commit updates (see ``append_batches``)."""
_FENCE_DDL = f"CREATE TABLE IF NOT EXISTS {ALIAS}.{FENCE} (commits BIGINT)"
_ready: weakref.WeakSet[Lake] = weakref.WeakSet()

_ARROW = {
    "VARCHAR": pa.string(),
    "JSON": pa.string(),
    "BIGINT": pa.int64(),
    "INTEGER": pa.int32(),
    "DOUBLE": pa.float64(),
    "FLOAT[]": pa.list_(pa.float32()),
}
_encode = json.JSONEncoder(separators=(",", ":"), default=str).encode


def _columns(table: str) -> list[tuple[str, str]]:
    out = []
    for part in TABLES[table].split(","):
        name, _, type_ = part.strip().partition(" ")
        out.append((name, type_.strip()))
    return out


def arrow_schema(table: str) -> pa.Schema:
    """The Arrow schema of a lake table (JSON columns travel as JSON text)."""
    return pa.schema([(name, _ARROW[type_]) for name, type_ in _columns(table)])


def new_batch_id() -> str:
    """Time-ordered (DuckLake's min/max statistics prune a lookup by it) and unique."""
    return f"{time.time_ns():020d}-{uuid.uuid4().hex[:12]}"


def _text(v: Any) -> str | None:
    return v if v is None or isinstance(v, str) else _encode(v)


def to_arrow(table: str, rows: list[dict[str, Any]]) -> pa.Table:
    """Row dicts (missing keys are NULL; JSON values may be objects or JSON text) as an Arrow
    table of ``table``'s schema — for callers that have rows; the tracer never builds them."""
    arrays = []
    for name, type_ in _columns(table):
        values = [r.get(name) for r in rows]
        if type_ in ("VARCHAR", "JSON"):
            values = [_text(v) for v in values]
        elif type_ in ("BIGINT", "INTEGER"):
            values = [None if v is None else int(v) for v in values]
        elif type_ == "DOUBLE":
            values = [None if v is None else float(v) for v in values]
        arrays.append(pa.array(values, type=_ARROW[type_]))
    return pa.Table.from_arrays(arrays, schema=arrow_schema(table))


def _ensure_batches(lake: Lake) -> None:
    if lake not in _ready:

        def create(con: duckdb.DuckDBPyConnection) -> None:
            con.execute("BEGIN")
            con.execute(_BATCHES_DDL)
            con.execute(_FENCE_DDL)
            con.execute(
                f"INSERT INTO {ALIAS}.{FENCE} SELECT 0 WHERE NOT EXISTS (SELECT 1 FROM {ALIAS}.{FENCE})"
            )
            con.execute("COMMIT")

        lake.transact(create)
        _ready.add(lake)


def committed(lake: Lake, batch_ids: Iterable[str]) -> set[str]:
    """Which of ``batch_ids`` are in the lake already (an equality lookup per id)."""
    ids = list(batch_ids)
    if not ids:
        return set()
    _ensure_batches(lake)
    marks = ", ".join("?" for _ in ids)
    with lake.lock:
        found = lake.con.execute(
            f"SELECT batch_id FROM {ALIAS}.{BATCHES} WHERE batch_id IN ({marks})", ids
        ).fetchall()
    return {r[0] for r in found}


def _insert_sql(table: str, source: str, dedupe: bool) -> str:
    names = [n for n, _ in _columns(table)]
    cols = ", ".join(names)
    where = ""
    if dedupe and (key := KEYS.get(table)):  # drop repeats inside the batch and rows already there
        same = " AND ".join(f"t.{k} = b.{k}" for k in key)
        where = (
            f" WHERE NOT EXISTS (SELECT 1 FROM {ALIAS}.{table} t WHERE {same})"
            f" QUALIFY row_number() OVER (PARTITION BY {', '.join(f'b.{k}' for k in key)}) = 1"
        )
    select = ", ".join(f"b.{n}" for n in names)
    return f"INSERT INTO {ALIAS}.{table} ({cols}) SELECT {select} FROM {source} b{where}"


def append_batches(
    lake: Lake,
    table: str,
    batches: list[tuple[str, pa.Table]],
    *,
    fresh: bool = False,
    before_commit: Callable[[], None] | None = None,
) -> int:
    """Commit the batches (``(batch_id, rows)``) not committed before, in one transaction that
    also records their ids; returns the rows added (0 for a replay).

    ``fresh``: the writer made these ids just now and tries them for the first time, so no
    commit can hold them yet and the lookup is skipped (its ids are still recorded, for the
    replay of a commit whose answer was lost). Replays and stream deliveries are never fresh.

    A replay also updates the one ``ingest_fence`` row in the same transaction. Two replays of
    the same batch that overlap in time (a stream consumer slow past ``min_idle_ms`` and the one
    that reclaimed its entries) would otherwise both find the id absent and both commit: DuckLake
    lets concurrent inserts commit side by side. Both updating one row is a DuckLake conflict:
    the later commit fails, ``Lake.transact`` runs it again, and the lookup now finds the id.
    ``before_commit`` runs just before COMMIT (a test's point to let another writer in)."""
    if not batches:
        return 0
    _ensure_batches(lake)

    def commit(con: duckdb.DuckDBPyConnection) -> int:
        con.execute("BEGIN")
        ids = [b for b, _ in batches]
        marks = ", ".join("?" for _ in ids)
        seen: set[str] = set()
        if not fresh:
            sql = f"SELECT batch_id FROM {ALIAS}.{BATCHES} WHERE batch_id IN ({marks})"
            seen = {r[0] for r in con.execute(sql, ids).fetchall()}
        new: dict[str, pa.Table] = {}
        for bid, data in batches:
            if bid not in seen and bid not in new:
                new[bid] = data
        if not new:
            con.execute("ROLLBACK")
            return 0
        if not fresh:
            con.execute(f"UPDATE {ALIAS}.{FENCE} SET commits = commits + 1")
        data = next(iter(new.values())) if len(new) == 1 else pa.concat_tables(new.values())
        con.register("_batch", data)
        try:
            con.execute(_insert_sql(table, "_batch", dedupe=False))
        finally:
            con.unregister("_batch")
        now = time.time_ns()
        con.executemany(
            f"INSERT INTO {ALIAS}.{BATCHES} VALUES (?, ?, ?, ?)",
            [[bid, table, t.num_rows, now] for bid, t in new.items()],
        )
        if before_commit is not None:
            before_commit()
        con.execute("COMMIT")
        return data.num_rows

    try:  # a commit that lost to another process's is rolled back and tried again (transact)
        return lake.transact(commit)
    except Exception as exc:
        raise LakeUnavailable(f"append to {table} failed ({lake.describe()}): {exc}") from exc


def append_arrow(
    lake: Lake, table: str, data: pa.Table, batch_id: str | None = None, *, fresh: bool = False
) -> int:
    """Insert an Arrow table in one commit, exactly once by ``batch_id`` if given (``fresh``:
    see ``append_batches``), else by the table's key (if it has one); returns the rows added."""
    if data.num_rows == 0:
        return 0
    if batch_id is not None:
        return append_batches(lake, table, [(batch_id, data)], fresh=fresh)

    def insert(con: duckdb.DuckDBPyConnection) -> int:
        con.register("_batch", data)
        try:
            con.execute("BEGIN")
            before = con.execute(f"SELECT count(*) FROM {ALIAS}.{table}").fetchone()[0]
            con.execute(_insert_sql(table, "_batch", dedupe=True))
            added = con.execute(f"SELECT count(*) FROM {ALIAS}.{table}").fetchone()[0] - before
            con.execute("COMMIT")
            return added
        finally:
            con.unregister("_batch")

    try:  # retried like every lake write when its commit meets another writer's
        return lake.transact(insert)
    except Exception as exc:
        raise LakeUnavailable(f"append to {table} failed ({lake.describe()}): {exc}") from exc


def append(
    lake: Lake, table: str, rows: list[dict[str, Any]], batch_id: str | None = None, *, fresh: bool = False
) -> int:
    """Insert ``rows`` (missing keys become NULL) in one commit; returns the rows added. Rows
    whose keys were made just now (new event ids) go in as a ``fresh`` batch: no key scan."""
    if not rows:
        return 0
    return append_arrow(lake, table, to_arrow(table, rows), batch_id, fresh=fresh)


class LakeTraceSink:
    """``agentops.tracing.TraceSink`` on the lake's ``spans`` table (exactly once by batch id)."""

    def __init__(self, lake: Lake) -> None:
        self.lake = lake

    def write(self, batch: pa.Table, batch_id: str, replay: bool = True) -> None:
        append_batches(self.lake, "spans", [(batch_id, batch)], fresh=not replay)
