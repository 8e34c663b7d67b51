"""HNSW indexes (DuckDB's ``vss`` extension) for document search past ~100k vectors.

Why the index lives in process memory, beside the lake rather than in it:

* DuckLake tables carry no DuckDB indexes: an HNSW index can only be built on a table of a
  DuckDB database, not on the lake's Parquet files.
* Persisting HNSW in a DuckDB *file* is experimental in ``vss``
  (``hnsw_enable_experimental_persistence``: a crash can leave the index corrupt), and that file
  would be locked by one process, the very thing the SQLite catalog removed.

So each process keeps, per (tenant, embedding model), an in-memory DuckDB table of that tenant's
vectors as ``FLOAT[dim]`` with an HNSW index (cosine metric). It is built from the lake at one
snapshot, off the request path (a search that finds no index ready answers exactly and starts the
build), and kept current by snapshot id: when the lake has moved on, DuckLake's change feed
(``ducklake_table_changes``) names the documents touched since the index's snapshot and only those
rows are replaced, so a new document is searchable on the next query. If the feed cannot reach
back (``lake maintain`` expired that snapshot) the index is rebuilt. Memory: about
``n × dim × 4`` bytes plus the graph (~150 MB of vectors for 100k × 384). Below
``lake.ann_min_docs`` vectors exact cosine is fast enough and exact, and stays the answer.
HNSW is approximate: ``python -m auraison.bench.lake_vss`` measures its recall@10 and latency
against exact search in the same run.
"""

from __future__ import annotations

import threading
import time
import weakref
from collections import OrderedDict
from typing import Any

import duckdb
import numpy as np
import structlog

from .catalog import ALIAS, Lake
from .extensions import ensure_extensions

log = structlog.get_logger(__name__)

M = 16  # graph degree (vss default)
# build-time breadth: half vss's default of 128. The build is CREATE INDEX over one table loaded in
# bulk; its cost is vss's distance work per vector (~1.6-2.6 ms CPU at 100k x 384). At 100k
# documents 64 took 0.62x the CPU of 128 (160 vs 260 s) at the same recall@10 (0.952), and at
# 20k 0.990 vs 0.993 (bench/README, lake vss); 32 lost recall (0.967 at 20k)
EF_CONSTRUCTION = 64
EF_SEARCH = 128  # query-time breadth: recall against latency (vss default 64)
MAX_INDEXES = 4  # (tenant, model) indexes kept per lake in one process, least recently used first out


def _snapshot(lake: Lake) -> int:
    return lake.transact(lambda con: int(con.execute(f"FROM {ALIAS}.current_snapshot()").fetchone()[0]))


class VectorIndex:
    """One tenant's vectors of one model, at one lake snapshot, with an HNSW index."""

    def __init__(self, lake: Lake, tenant: str, model: str, dim: int) -> None:
        self.tenant, self.model, self.dim = tenant, model, dim
        self.snapshot = -1
        self.rows = 0
        self.lock = threading.Lock()
        self.con = ensure_extensions(lake.settings.duckdb_extension_dir, ("vss",))
        self.con.execute(f"SET hnsw_ef_search = {EF_SEARCH}")

    def _vectors(self, lake: Lake, snapshot: int, doc_ids: list[str] | None = None) -> Any:
        where = "tenant = ? AND model = ? AND dim = ?"
        params: list[Any] = [self.tenant, self.model, self.dim]
        if doc_ids is not None:
            where += " AND list_contains(?, doc_id)"
            params.append(doc_ids)
        sql = (
            f"SELECT doc_id, CAST(vector AS FLOAT[{self.dim}]) AS vector "
            f"FROM {ALIAS}.embeddings AT (VERSION => {int(snapshot)}) WHERE {where}"
        )
        return lake.transact(lambda con: con.execute(sql, params).to_arrow_table())

    def build(self, lake: Lake, snapshot: int) -> None:
        t0 = time.perf_counter()
        vectors = self._vectors(lake, snapshot)
        with self.lock:
            self.con.execute("DROP TABLE IF EXISTS v")
            self.con.register("_vectors", vectors)
            try:
                self.con.execute("CREATE TABLE v AS SELECT * FROM _vectors")
            finally:
                self.con.unregister("_vectors")
            self.con.execute(
                f"CREATE INDEX v_hnsw ON v USING HNSW (vector) "
                f"WITH (metric = 'cosine', m = {M}, ef_construction = {EF_CONSTRUCTION})"
            )
            self.snapshot, self.rows = snapshot, vectors.num_rows
        log.info("hnsw index built", tenant=self.tenant, model=self.model, rows=self.rows,
                 seconds=round(time.perf_counter() - t0, 2))  # fmt: skip

    def refresh(self, lake: Lake, snapshot: int) -> None:
        """Bring the index to ``snapshot``: replace only the documents changed since."""
        if snapshot == self.snapshot:
            return
        try:
            touched = lake.transact(
                lambda con: con.execute(
                    f"SELECT DISTINCT doc_id FROM ducklake_table_changes('{ALIAS}', 'main', 'embeddings', "
                    f"{self.snapshot + 1}, {int(snapshot)}) WHERE tenant = ? AND model = ?",
                    [self.tenant, self.model],
                ).fetchall()
            )
        except duckdb.Error:  # the index's snapshot was expired: start again
            self.build(lake, snapshot)
            return
        ids = [r[0] for r in touched]
        fresh = self._vectors(lake, snapshot, ids) if ids else None
        with self.lock:
            if ids:
                self.con.execute("DELETE FROM v WHERE list_contains(?, doc_id)", [ids])
                self.con.register("_fresh", fresh)
                try:
                    self.con.execute("INSERT INTO v SELECT * FROM _fresh")
                finally:
                    self.con.unregister("_fresh")
                self.rows = self.con.execute("SELECT count(*) FROM v").fetchone()[0]
            self.snapshot = snapshot

    def nearest(self, vector: np.ndarray | list[float], k: int) -> list[tuple[str, float]]:
        """The ``k`` nearest documents by cosine similarity (approximate), best first."""
        # inlined, not a parameter: the optimizer puts the HNSW scan in only for a constant (a
        # bound parameter made it a full scan, ~10× slower); the numbers are our own floats
        literal = "[" + ",".join(f"{float(x):.9g}" for x in vector) + f"]::FLOAT[{self.dim}]"
        if len(vector) != self.dim or "nan" in literal or "inf" in literal:
            raise ValueError(f"a query vector of {self.dim} finite numbers is needed")
        with self.lock:
            rows = self.con.execute(
                f"SELECT doc_id, array_cosine_distance(vector, {literal}) AS d "
                f"FROM v ORDER BY d LIMIT {int(k)}"
            ).fetchall()
        return [(doc_id, 1.0 - float(d)) for doc_id, d in rows]

    def close(self) -> None:
        with self.lock:
            self.con.close()


class Indexes:
    """The process's HNSW indexes, per lake and (tenant, model); builds run in the background."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.by_lake: weakref.WeakKeyDictionary[Lake, OrderedDict[tuple[str, str], VectorIndex]] = (
            weakref.WeakKeyDictionary()
        )
        self.building: set[tuple[int, str, str]] = set()

    def nearest(
        self, lake: Lake, tenant: str, model: str, vector: np.ndarray, k: int, wait: bool = False
    ) -> list[tuple[str, float]] | None:
        """The approximate ``k`` nearest, or ``None`` when exact search should answer: fewer
        vectors than ``lake.ann_min_docs``, or (unless ``wait``) the index is still building."""
        key = (tenant, model)
        with self.lock:
            index = self.by_lake.setdefault(lake, OrderedDict()).get(key)
        if index is None:
            count = lake.transact(
                lambda con: con.execute(
                    f"SELECT count(*) FROM {ALIAS}.embeddings WHERE tenant = ? AND model = ?", [tenant, model]
                ).fetchone()[0]
            )
            if count < lake.settings.lake.ann_min_docs and not wait:
                return None
            if not wait:
                self._build_in_background(lake, tenant, model, len(vector))
                return None
            index = self._build(lake, tenant, model, len(vector))
        index.refresh(lake, _snapshot(lake))
        return index.nearest(vector, k)

    def _build(self, lake: Lake, tenant: str, model: str, dim: int) -> VectorIndex:
        index = VectorIndex(lake, tenant, model, dim)
        try:
            index.build(lake, _snapshot(lake))
        except BaseException:
            index.close()
            raise
        with self.lock:
            cache = self.by_lake.setdefault(lake, OrderedDict())
            old = cache.pop((tenant, model), None)
            cache[(tenant, model)] = index
            while len(cache) > MAX_INDEXES:
                cache.popitem(last=False)[1].close()
        if old is not None:
            old.close()
        return index

    def _build_in_background(self, lake: Lake, tenant: str, model: str, dim: int) -> None:
        tag = (id(lake), tenant, model)
        with self.lock:
            if tag in self.building:
                return
            self.building.add(tag)

        def run() -> None:
            try:
                self._build(lake, tenant, model, dim)
            except Exception as exc:  # the next search tries again; exact search answers meanwhile
                log.warning("hnsw index build failed", tenant=tenant, model=model, error=str(exc))
            finally:
                with self.lock:
                    self.building.discard(tag)

        threading.Thread(target=run, name=f"hnsw-{tenant}-{model}", daemon=True).start()


INDEXES = Indexes()
