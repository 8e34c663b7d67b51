"""Query latency on 1M spans as written, after ``lake maintain``, and after a merge into one file.

The spans arrive as the trace sink writes them — one commit per batch of ``--batch`` rows — so
the table is many small files. Three lakes get the very same rows: one is left as written, one
is maintained as ``lake maintain`` does it (merges bounded by ``lake.target_file_size_mb``,
``--target-mb`` here), one is merged the way maintain did before it had a target (everything
into one file). Three typical questions — GROUP BY agent/tool, a 1% time range, a filter on a
JSON attribute — are then timed round-robin over the three lakes (``--rounds`` rounds of
``--repeat`` runs each, keeping the best), so that the load of a shared machine falls on all three alike; each
ratio is against the lake as written, per round, reported as median and spread over the rounds.

Run: ``python -m auraison.bench.lake_query [--rows 1000000 --batch 10000 --layout embedded]``.
"""

from __future__ import annotations

import argparse
import statistics
import time
from collections.abc import Callable

import numpy as np
import pyarrow as pa

from auraison.lakehouse.catalog import ALIAS, Lake
from auraison.lakehouse.maintenance import maintain
from auraison.logging import configure_logging

from ._common import machine, report
from ._lakes import LAYOUTS, lake_factory

T = f"{ALIAS}.spans"
QUERIES = {
    "GROUP BY agent, tool": f"SELECT agent, tool, count(*), avg(end_ns - start_ns) FROM {T} GROUP BY ALL",
    # the middle 1% of the rows' start times ({lo} and {hi} filled in from --rows)
    "time range (1%)": f"SELECT count(*), max(end_ns) FROM {T} WHERE start_ns BETWEEN {{lo}} AND {{hi}}",
    "JSON attribute": f"SELECT count(*) FROM {T} WHERE attributes->>'$.\"gen_ai.tool.name\"' = 'robot_3'",
}
COLUMNS = (
    "trace_id, span_id, name, kind, start_ns, end_ns, status, tenant, agent, tool, decision, cost, attributes"
)


def span_batch(n: int, offset: int) -> pa.Table:
    """``n`` execute_tool spans as the sink writes them (start times in arrival order)."""
    i = np.arange(offset, offset + n)
    tools = [f"robot_{x % 7}" for x in i]
    return pa.table(
        {
            "trace_id": [f"t{x // 20:012d}" for x in i],
            "span_id": [f"s{x:015d}" for x in i],
            "name": ["execute_tool robot_get_state"] * n,
            "kind": ["internal"] * n,
            "start_ns": i,
            "end_ns": i + 1000,
            "status": ["unset"] * n,
            "tenant": ["acme"] * n,
            "agent": ["navigator"] * n,
            "tool": tools,
            "decision": ["allow"] * n,
            "cost": np.zeros(n),
            "attributes": [f'{{"gen_ai.tool.name": "{t}", "i": {x}}}' for t, x in zip(tools, i, strict=True)],
        }
    )


def load(lake: Lake, rows: int, batch: int) -> None:
    """One commit per batch, as the trace sink makes them."""
    for start in range(0, rows, batch):
        table = span_batch(min(batch, rows - start), start)

        def insert(con, table: pa.Table = table) -> None:
            con.register("_spans", table)
            try:
                con.execute(f"INSERT INTO {T} ({COLUMNS}) SELECT {COLUMNS} FROM _spans")
            finally:
                con.unregister("_spans")

        lake.transact(insert)


def merge_into_one_file(lake: Lake) -> dict:
    """What ``lake maintain`` did before it had a target size: DuckDB's defaults, one file."""
    t0 = time.perf_counter()
    for sql in (
        f"CALL ducklake_flush_inlined_data('{ALIAS}')",
        f"CALL ducklake_merge_adjacent_files('{ALIAS}')",
        f"CALL ducklake_expire_snapshots('{ALIAS}', older_than => now())",
        f"CALL ducklake_cleanup_old_files('{ALIAS}', cleanup_all => true)",
    ):
        lake.execute(sql).fetchall()
    return {"seconds": time.perf_counter() - t0}


def timed(lake: Lake, sql: str, repeat: int) -> tuple[float, list]:
    times, result = [], None
    for _ in range(repeat):
        t0 = time.perf_counter()
        result = lake.execute(sql).fetchall()
        times.append(time.perf_counter() - t0)
    return min(times), result  # the run the shared machine disturbed least


def spread(xs: list[float]) -> str:
    return f"{statistics.median(xs):.2f}× (min {min(xs):.2f}, max {max(xs):.2f}, {len(xs)} rounds)"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--rows", type=int, default=1_000_000)
    ap.add_argument("--batch", type=int, default=10_000)
    ap.add_argument("--repeat", type=int, default=9)
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--target-mb", type=float, default=None, help="default: lake.target_file_size_mb")
    ap.add_argument("--layout", choices=LAYOUTS, default="embedded")
    args = ap.parse_args()
    configure_logging("json", "warning")
    print(f"lake query latency, as written vs maintained — {machine()}; {args.rows:,} spans, {args.layout}")
    with lake_factory(args.layout) as new_lake:
        lakes: dict[str, Lake] = {}
        variants: dict[str, Callable[[Lake], dict]] = {
            "as written": lambda lk: {},
            "maintain": lambda lk: maintain(lk, retention_days=0, target_file_size_mb=args.target_mb),
            "one file (old)": merge_into_one_file,
        }
        for name, prepare in variants.items():
            lake = lakes[name] = new_lake()
            t0 = time.perf_counter()
            load(lake, args.rows, args.batch)
            loaded = time.perf_counter() - t0
            out = prepare(lake)
            files = lake.execute(
                f"SELECT count(*), max(data_file_size_bytes) FROM ducklake_list_files('{ALIAS}', 'spans')"
            ).fetchone()
            detail = f", maintain {out['seconds']:.1f} s" if out else ""
            report(
                f"{name}: load{detail}",
                f"{loaded:.1f} s; {files[0]} files, largest {files[1] / 2**20:.1f} MiB",
            )
        lo = args.rows // 2
        for qname, template in QUERIES.items():
            sql = template.format(lo=lo, hi=lo + args.rows // 100 - 1)
            ratios: dict[str, list[float]] = {n: [] for n in lakes if n != "as written"}
            last: dict[str, float] = {}
            answers = {}
            for _ in range(args.rounds):
                for name, lake in lakes.items():  # round-robin: the machine's load hits all alike
                    last[name], answers[name] = timed(lake, sql, args.repeat)
                for name in ratios:
                    ratios[name].append(last[name] / last["as written"])
            assert len({str(sorted(map(str, a))) for a in answers.values()}) == 1, qname  # same answers
            for name, xs in ratios.items():
                report(
                    f"{qname}: {name}",
                    f"{last[name] * 1000:.1f} ms vs {last['as written'] * 1000:.1f} ms as written (last)",
                    ratio=spread(xs),
                )
        for lake in lakes.values():
            lake.close()


if __name__ == "__main__":
    main()
