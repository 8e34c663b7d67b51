"""P2 — trace sink throughput: spans from the tracer's sink buffer into DuckLake, against a raw
columnar insert of the same rows into DuckLake, measured in the same run and the same layout
(embedded catalog, or PostgreSQL catalog + S3 on a SeaweedFS server the benchmark starts).

Run: ``python -m auraison.bench.lake_p2 [--rows 1000000] [--layout embedded|postgres+s3]``.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

from auraison.agentops.tracing import SinkProcessor
from auraison.lakehouse.catalog import ALIAS
from auraison.lakehouse.writer import LakeTraceSink, _columns, column
from auraison.logging import configure_logging

from ._common import machine, report
from ._lakes import LAYOUTS, lake_factory


def rows(n: int, offset: int = 0) -> list[dict]:
    return [
        {
            "trace_id": f"t{i // 20:012d}",
            "span_id": f"s{i:015d}",
            "parent_id": None,
            "name": "execute_tool robot_get_state",
            "kind": "internal",
            "start_ns": i,
            "end_ns": i + 1000,
            "status": "unset",
            "tenant": "acme",
            "agent": "navigator",
            "tool": f"robot_{i % 7}",
            "decision": "allow",
            "input_tokens": None,
            "output_tokens": None,
            "cost": 0.0,
            "attributes": {"gen_ai.tool.name": f"robot_{i % 7}", "i": i},
        }
        for i in range(offset, offset + n)
    ]


def main(n: int, layout: str) -> None:
    configure_logging("json", "warning")
    print(f"P2 trace sink → DuckLake — {machine()}; {n:,} spans, {layout}")
    with lake_factory(layout) as new_lake:
        run(n, new_lake)


def run(n: int, new_lake) -> None:
    data = rows(n)
    # Raw: the same rows as one columnar insert (the best a writer could do).
    raw_lake = new_lake()
    t0 = time.perf_counter()
    batch, exprs = {}, []
    for name, type_ in _columns("spans"):
        batch[name], expr = column(name, type_, [r.get(name) for r in data])
        exprs.append(expr)
    raw_lake.con.register("b", batch)
    raw_lake.con.execute(
        f"INSERT INTO {ALIAS}.spans SELECT {', '.join(exprs)} FROM b"
    )  # no dedupe: the floor
    raw_s = time.perf_counter() - t0
    raw_lake.close()
    # Sink: the tracer's path — add() per span (producer side), batches of 10k, exactly once.
    lake = new_lake()
    proc = SinkProcessor(
        LakeTraceSink(lake),
        Path(tempfile.mkdtemp()) / "spool",
        batch=10_000,
        max_buffer=200_000,
        interval_s=0.05,
    )
    t0 = time.perf_counter()
    for r in data:
        proc.add(r)
    produce_s = time.perf_counter() - t0
    assert proc.force_flush(600_000)
    sink_s = time.perf_counter() - t0
    count = lake.execute(f"SELECT count(*) FROM {ALIAS}.spans").fetchone()[0]
    proc.shutdown()
    lake.close()
    assert count == n, count
    report("raw columnar insert", f"{raw_s:.2f} s ({n / raw_s:,.0f} rows/s)")
    report(
        "tracer sink (buffer → batches → DuckLake)",
        f"{sink_s:.2f} s ({n / sink_s:,.0f} rows/s)",
        "≥ 0.5× raw",
        f"{raw_s / sink_s:.2f}× raw",
    )
    report(
        "producer side", f"{produce_s / n * 1e6:.2f} µs per span ({produce_s:.2f} s in all)", "never blocks"
    )


if __name__ == "__main__":
    ap = argparse.ArgumentParser()
    ap.add_argument("--rows", type=int, default=1_000_000)
    ap.add_argument("--layout", choices=LAYOUTS, default="embedded")
    args = ap.parse_args()
    main(args.rows, args.layout)
