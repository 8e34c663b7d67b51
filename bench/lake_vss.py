"""Document search: the in-memory HNSW index (DuckDB ``vss``) against exact cosine, same run.

A lake gets ``--docs`` documents with **synthetic vectors** of all-MiniLM-L6-v2's dimension
(384), not real embeddings: by default unit vectors of a random ``--intrinsic``-dimensional
subspace plus a little noise (sentence embeddings have an intrinsic dimension of a few tens,
which is what makes graph indexes work on them); ``--intrinsic 0`` draws uniform random unit
vectors in all 384 dimensions, the worst case for HNSW (no structure: recall is far lower). The
HNSW index is built once (its build time is reported), then each run sends ``--queries`` query
vectors of the same kind through both paths end to end — exact: ``list_cosine_similarity`` over
the tenant's vectors in the lake joined with the documents; HNSW: the index's ``k`` nearest, then
those documents from the lake — and reports p50/p95 latency of each, of the index alone, the
ratio, and recall@k of HNSW against the exact answer of the same query. Figures are medians with
min–max over ``--runs`` runs (the machine is shared).

The build's CPU time is reported beside its wall time: on a shared machine the wall time says
more about the neighbours than about the index.

Run: ``python -m auraison.bench.lake_vss [--docs 100000 --dim 384 --intrinsic 32 --queries 30 --runs 3
--ef-construction 64]``.
"""

from __future__ import annotations

import argparse
import statistics
import time

import numpy as np
import pyarrow as pa

from auraison.lakehouse import vector_index
from auraison.lakehouse.catalog import ALIAS, Lake
from auraison.lakehouse.documents import _documents, exact
from auraison.lakehouse.vector_index import EF_CONSTRUCTION, EF_SEARCH, INDEXES
from auraison.logging import configure_logging

from ._common import machine, pct, report
from ._lakes import LAYOUTS, lake_factory

TENANT, MODEL = "acme", "random-unit-vectors"


def unit(rng: np.random.Generator, n: int, dim: int, basis: np.ndarray | None = None) -> np.ndarray:
    """``n`` unit vectors: uniform in ``dim`` dimensions, or in the span of ``basis`` plus noise."""
    if basis is None:
        x = rng.standard_normal((n, dim)).astype(np.float32)
    else:
        x = rng.standard_normal((n, basis.shape[0])).astype(np.float32) @ basis
        x += (
            0.05
            * rng.standard_normal((n, dim)).astype(np.float32)
            * np.linalg.norm(x, axis=1, keepdims=True)
            / dim**0.5
        )
    return x / np.linalg.norm(x, axis=1, keepdims=True)


def load(lake: Lake, vectors: np.ndarray, batch: int = 50_000) -> None:
    n, dim = vectors.shape
    for start in range(0, n, batch):
        part = vectors[start : start + batch]
        ids = [f"doc{i:08d}" for i in range(start, start + len(part))]
        docs = pa.table(
            {
                "doc_id": ids,
                "tenant": [TENANT] * len(ids),
                "source": ["bench"] * len(ids),
                "text": [f"document {i}" for i in ids],
                "metadata": ["{}"] * len(ids),
            }
        )
        flat = pa.FixedSizeListArray.from_arrays(pa.array(part.ravel()), dim).cast(pa.list_(pa.float32()))
        emb = pa.table(
            {
                "doc_id": ids,
                "model": [MODEL] * len(ids),
                "dim": pa.array([dim] * len(ids), pa.int32()),
                "vector": flat,
                "tenant": [TENANT] * len(ids),
            }
        )

        def insert(con, docs: pa.Table = docs, emb: pa.Table = emb) -> None:
            con.execute("BEGIN")
            for name, table in (("documents", docs), ("embeddings", emb)):
                con.register("_rows", table)
                try:
                    con.execute(f"INSERT INTO {ALIAS}.{name} SELECT * FROM _rows")
                finally:
                    con.unregister("_rows")
            con.execute("COMMIT")

        lake.transact(insert)


def spread(xs: list[float], fmt: str = "{:.2f}") -> str:
    return (
        f"{fmt.format(statistics.median(xs))} ({fmt.format(min(xs))}–{fmt.format(max(xs))}, {len(xs)} runs)"
    )


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--docs", type=int, default=100_000)
    ap.add_argument("--dim", type=int, default=384, help="all-MiniLM-L6-v2's dimension")
    ap.add_argument("--intrinsic", type=int, default=32, help="0: uniform random vectors (worst case)")
    ap.add_argument("--ef-search", type=int, default=EF_SEARCH)
    ap.add_argument("--ef-construction", type=int, default=EF_CONSTRUCTION, help="the build's breadth")
    ap.add_argument("--queries", type=int, default=30)
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--k", type=int, default=10)
    ap.add_argument("--layout", choices=LAYOUTS, default="embedded")
    args = ap.parse_args()
    configure_logging("json", "warning")
    print(
        f"document search, HNSW vs exact — {machine()}; {args.docs:,} docs × {args.dim} dims "
        f"({'intrinsic dimension ' + str(args.intrinsic) if args.intrinsic else 'uniform random'}), "
        f"k={args.k}, ef_search={args.ef_search}, ef_construction={args.ef_construction}, {args.layout}"
    )
    vector_index.EF_CONSTRUCTION = args.ef_construction
    rng = np.random.default_rng(7)
    basis = rng.standard_normal((args.intrinsic, args.dim)).astype(np.float32) if args.intrinsic else None
    with lake_factory(args.layout) as new_lake:
        lake = new_lake()
        t0 = time.perf_counter()
        load(lake, unit(rng, args.docs, args.dim, basis))
        report("load (documents + embeddings)", f"{time.perf_counter() - t0:.1f} s")
        t0, cpu0 = time.perf_counter(), time.process_time()
        INDEXES.nearest(lake, TENANT, MODEL, unit(rng, 1, args.dim)[0], args.k, wait=True)
        wall, cpu = time.perf_counter() - t0, time.process_time() - cpu0
        report("HNSW build (in memory, from the lake)", f"{wall:.1f} s wall, {cpu:.1f} s CPU (all threads)")
        index = INDEXES.by_lake[lake][(TENANT, MODEL)]
        index.con.execute(f"SET hnsw_ef_search = {int(args.ef_search)}")
        p50s: dict[str, list[float]] = {"exact": [], "hnsw": [], "hnsw index alone": []}
        p95s: dict[str, list[float]] = {"exact": [], "hnsw": [], "hnsw index alone": []}
        recalls, ratios = [], []
        for _ in range(args.runs):
            lat: dict[str, list[float]] = {"exact": [], "hnsw": [], "hnsw index alone": []}
            hits = []
            for q in unit(rng, args.queries, args.dim, basis):
                t0 = time.perf_counter()
                truth = exact(lake, TENANT, MODEL, q.tolist(), args.k)
                lat["exact"].append(time.perf_counter() - t0)
                t0 = time.perf_counter()
                found = _documents(lake, TENANT, INDEXES.nearest(lake, TENANT, MODEL, q, args.k, wait=True))
                lat["hnsw"].append(time.perf_counter() - t0)
                t0 = time.perf_counter()
                index.nearest(q, args.k)
                lat["hnsw index alone"].append(time.perf_counter() - t0)
                hits.append(len({r[0] for r in truth} & {r[0] for r in found}) / args.k)
            for name, xs in lat.items():
                p50s[name].append(pct(xs, 50) * 1000)
                p95s[name].append(pct(xs, 95) * 1000)
            ratios.append(p50s["hnsw"][-1] / p50s["exact"][-1])
            recalls.append(statistics.mean(hits))
        for name in p50s:
            report(
                f"{name}: p50 / p95 ms",
                f"{spread(p50s[name], '{:.1f}')} / {spread(p95s[name], '{:.1f}')}",
            )
        report(f"HNSW recall@{args.k} vs exact", spread(recalls, "{:.3f}"))
        report("HNSW p50 / exact p50", spread(ratios, "{:.3f}×"), ratio="same queries, same run")
        lake.close()


if __name__ == "__main__":
    main()
