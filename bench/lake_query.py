"""Query latency on 1M spans before and after ``lake maintain``.

The spans arrive as the trace sink writes them — one commit per batch of ``--batch`` rows —
so the table is many files; three typical questions are timed (median of ``--repeat`` runs):
GROUP BY agent/tool, a time range, and a filter on a JSON attribute. Then ``maintain`` merges
the files and expires the snapshots, and the same queries run again. The ratio is after/before,
same run, same data.

Run: ``python -m auraison.bench.lake_query [--rows 1000000 --batch 10000 --layout embedded]``.
"""

from __future__ import annotations

import argparse
import time

from auraison.lakehouse.catalog import ALIAS
from auraison.lakehouse.maintenance import maintain
from auraison.lakehouse.writer import append
from auraison.logging import configure_logging

from ._common import machine, median, report
from ._lakes import LAYOUTS, lake_factory
from .lake_p2 import rows

T = f"{ALIAS}.spans"
QUERIES = {
    "GROUP BY agent, tool": f"SELECT agent, tool, count(*), avg(end_ns - start_ns) FROM {T} GROUP BY ALL",
    "time range (1%)": f"SELECT count(*), max(end_ns) FROM {T} WHERE start_ns BETWEEN 500000 AND 509999",
    "JSON attribute": f"SELECT count(*) FROM {T} WHERE attributes->>'$.\"gen_ai.tool.name\"' = 'robot_3'",
}


def timed(lake, sql: str, repeat: int) -> tuple[float, list]:
    times, result = [], None
    for _ in range(repeat):
        t0 = time.perf_counter()
        result = lake.execute(sql).fetchall()
        times.append(time.perf_counter() - t0)
    return median(times), result


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--rows", type=int, default=1_000_000)
    ap.add_argument("--batch", type=int, default=10_000)
    ap.add_argument("--repeat", type=int, default=5)
    ap.add_argument("--layout", choices=LAYOUTS, default="embedded")
    args = ap.parse_args()
    configure_logging("json", "warning")
    print(f"lake query latency before/after maintain — {machine()}; {args.rows:,} spans, {args.layout}")
    with lake_factory(args.layout) as new_lake:
        lake = new_lake()
        t0 = time.perf_counter()
        for start in range(0, args.rows, args.batch):
            append(lake, "spans", rows(min(args.batch, args.rows - start), start))
        report("load (one commit per batch)", f"{time.perf_counter() - t0:.1f} s")
        before = {name: timed(lake, sql, args.repeat) for name, sql in QUERIES.items()}
        out = maintain(lake, retention_days=0)
        report(
            "maintain",
            f"{out['seconds']:.1f} s: files {out['files_before']} → {out['files_after']}, "
            f"snapshots {out['snapshots_before']} → {out['snapshots_after']}",
        )
        for name, sql in QUERIES.items():
            after_s, result = timed(lake, sql, args.repeat)
            before_s, before_result = before[name]
            assert sorted(map(str, result)) == sorted(map(str, before_result)), name  # same answers
            report(
                name,
                f"before {before_s * 1000:.1f} ms, after {after_s * 1000:.1f} ms",
                ratio=f"{after_s / before_s:.2f}× (after/before)",
            )
        lake.close()


if __name__ == "__main__":
    main()
