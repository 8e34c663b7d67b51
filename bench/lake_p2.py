"""P2 — the trace pipeline against the Arrow limit, measured in one run on the same rows:

1. **sink**: real OpenTelemetry spans, buffered by ``SinkProcessor.on_end`` (column buffers), then
   drained end to end — Arrow conversion, attribute JSON, batches of ``--batch`` rows, each one
   commit exactly once by batch id — into a fresh lake; against **the Arrow-table insert** of the
   very same rows (the table built from the same buffers beforehand) into a fresh lake of the
   same layout, one commit per ``--batch`` rows, nothing else. Runs alternate (limit, sink, …).
2. **producer**: the cost per span of ``on_end`` on the producer's thread (with the drain running
   into the lake), on top of the SDK's own cost per span (the same spans, no processor), in µs
   and as a share of the SDK's span; each arm between two runs of the SDK alone, read against
   their mean (``--runs 10`` for a spread worth reading: this host drifts by more than the figure).
3. **exactly once at growing table sizes**: one ``--batch``-row commit on its first try (the
   batch id recorded, not looked up: the drain's ordinary commit), as a replay (the id looked up,
   and the replay fence's row updated), and by the old key check (``NOT EXISTS`` over the key
   column), into a spans table of each ``--sizes`` rows (and an ``ingest_batches`` table of one
   row per ``--batch`` rows, as a writer leaves it); against the same commit with no check at all
   at that size (what the catalog itself costs).

Run: ``python -m auraison.bench.lake_p2 [--rows 1000000] [--runs 3] [--layout embedded|postgres+s3]
[--sizes 1000000,10000000]``. Figures are ratios and spreads over ``--runs`` runs.
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import pyarrow as pa
from opentelemetry.sdk.trace import ReadableSpan, SpanProcessor, TracerProvider

from auraison.agentops.tracing import SinkProcessor, SpanColumns
from auraison.lakehouse.catalog import ALIAS, Lake
from auraison.lakehouse.writer import BATCHES, LakeTraceSink, append_arrow, append_batches, new_batch_id
from auraison.logging import configure_logging

from ._common import machine, report
from ._lakes import LAYOUTS, lake_factory

TOOLS = [f"robot_{n}" for n in ("get_state", "navigate_to", "stop", "scan", "map", "drive", "dock")]


def _attrs(i: int) -> dict:
    """An ``execute_tool`` span's attributes, as the engine sets them (8 of them)."""
    tool = TOOLS[i % len(TOOLS)]
    return {
        "gen_ai.operation.name": "execute_tool",
        "gen_ai.tool.name": tool,
        "gen_ai.tool.call.id": f"call_{i}",
        "mcp.method.name": "tools/call",
        "auraison.tenant": "acme",
        "auraison.plane": "robot",
        "auraison.decision": "allow",
        "auraison.cost": 0.5,
    }


def make_spans(provider: TracerProvider, n: int) -> tuple[float, float]:
    """``n`` spans through ``provider``; returns (wall seconds, this thread's CPU seconds)."""
    tracer = provider.get_tracer("bench")
    attrs = [_attrs(i) for i in range(n)]
    t0, c0 = time.perf_counter(), time.thread_time()
    for a in attrs:
        with tracer.start_as_current_span(f"execute_tool {a['gen_ai.tool.name']}", attributes=a):
            pass
    return time.perf_counter() - t0, time.thread_time() - c0


class Capture(SpanProcessor):
    """Keeps the column buffers (the drain never runs): the rows both sides of the run use."""

    def __init__(self) -> None:
        self.cols = SpanColumns()

    def on_end(self, span: ReadableSpan) -> None:
        self.cols.add(span)

    def shutdown(self) -> None:
        return None


def _copy(cols: SpanColumns) -> SpanColumns:
    out = SpanColumns()
    for name in SpanColumns.__slots__:
        setattr(out, name, list(getattr(cols, name)))
    return out


def insert_limit(lake: Lake, table: pa.Table, batch: int) -> float:
    """The Arrow-table insert: one commit per ``batch`` rows, no checks."""
    t0 = time.perf_counter()
    for off in range(0, table.num_rows, batch):
        with lake.lock:
            lake.con.register("_b", table.slice(off, batch))
            lake.con.execute(f"INSERT INTO {ALIAS}.spans SELECT * FROM _b")
            lake.con.unregister("_b")
    return time.perf_counter() - t0


def sink_run(lake: Lake, cols: SpanColumns, batch: int) -> float:
    """The sink end to end: buffered spans → Arrow → batches → DuckLake, exactly once."""
    spool = Path(tempfile.mkdtemp()) / "spool"
    proc = SinkProcessor(LakeTraceSink(lake), spool, batch=batch, interval_s=3600)
    proc._cols = cols  # the same spans, as on_end left them
    t0 = time.perf_counter()
    assert proc.force_flush(3_600_000)
    elapsed = time.perf_counter() - t0
    proc.shutdown()
    return elapsed


def spread(xs: list[float], fmt: str = "{:.2f}") -> str:
    med = statistics.median(xs)
    return f"{fmt.format(med)} (min {fmt.format(min(xs))}, max {fmt.format(max(xs))}, n={len(xs)})"


def p2(n: int, batch: int, runs: int, new_lake: Callable[[], Lake]) -> None:
    cap = Capture()
    provider = TracerProvider()
    provider.add_span_processor(cap)
    make_spans(provider, n)
    limit = cap.cols.to_arrow()  # the same rows, as an Arrow table (built outside the timing)
    ratios, limit_rates, sink_rates = [], [], []
    for _ in range(runs):
        lake = new_lake()
        lim_s = insert_limit(lake, limit, batch)
        assert lake.execute(f"SELECT count(*) FROM {ALIAS}.spans").fetchone()[0] == n
        lake.close()
        lake = new_lake()
        sink_s = sink_run(lake, _copy(cap.cols), batch)
        sql = f"SELECT count(*), count(DISTINCT span_id) FROM {ALIAS}.spans"
        count, distinct = lake.execute(sql).fetchone()
        assert (count, distinct) == (n, n), (count, distinct)
        lake.close()
        limit_rates.append(n / lim_s)
        sink_rates.append(n / sink_s)
        ratios.append(lim_s / sink_s)
    report(f"Arrow-table insert ({batch:,}-row commits)", f"{spread(limit_rates, '{:,.0f}')} rows/s")
    report(
        "sink end to end (on_end buffers → lake, exactly once)",
        f"{spread(sink_rates, '{:,.0f}')} rows/s",
        "≥ 0.5× the Arrow insert",
        f"{spread(ratios)}× the Arrow insert",
    )


SHARE = 3 / 11
"""The issue's producer target as a share of the SDK's own span: 3 µs on top of an SDK span it
measured at ~11 µs. Per-span costs scale with the machine (the SDK's span took 16 µs on one of
these 2-core machines and 18–25 µs on another), so the share is read against the SDK's span
measured in the same run, beside the µs."""

DRAINS: dict[str, tuple[float, int | None]] = {
    "the runtime's (1 s, commits of up to 50k rows)": (1.0, None),
    "1 s, commits of up to 10k rows (the default before)": (1.0, 10_000),
    "a 50 ms stress interval": (0.05, None),
}
"""Drains the producer is measured against (interval, rows per commit; ``None``: the default):
the one ``processors()`` gives every runtime (``SinkProcessor``'s defaults), the same with the
smaller commits it had before (what a commit's fixed cost does to the producer), and a
twentyfold interval that keeps a batch build or a commit under way through nearly the whole
run."""


def _idle(n: int) -> tuple[float, float]:
    """``n`` spans into a processor whose drain never runs (``on_end`` only): µs per span, wall
    and thread CPU."""
    spool = Path(tempfile.mkdtemp()) / "spool"
    idle = SinkProcessor(LakeTraceSink(None), spool, batch=n + 1, max_buffer=n + 1, interval_s=3600)  # type: ignore[arg-type]
    provider = TracerProvider()
    provider.add_span_processor(idle)
    w, c = make_spans(provider, n)
    idle._cut()  # drop the buffered rows: nothing to write
    idle.shutdown()
    return w / n * 1e6, c / n * 1e6


def _drained(n: int, new_lake: Callable[[], Lake], interval: float, batch: int | None) -> tuple[float, float]:
    """``n`` spans into a processor draining into a fresh lake every ``interval`` s: µs per
    span, wall and thread CPU (every span checked in the lake after)."""
    lake = new_lake()
    spool = Path(tempfile.mkdtemp()) / "spool"
    sized = {"batch": batch} if batch else {}
    proc = SinkProcessor(LakeTraceSink(lake), spool, interval_s=interval, **sized)
    provider = TracerProvider()
    provider.add_span_processor(proc)
    w, c = make_spans(provider, n)
    assert proc.force_flush(600_000)
    assert lake.execute(f"SELECT count(*) FROM {ALIAS}.spans").fetchone()[0] == n
    proc.shutdown()
    lake.close()
    return w / n * 1e6, c / n * 1e6


def producer(n: int, runs: int, new_lake: Callable[[], Lake]) -> None:
    """Per span, on the producer's thread: CPU time (what the span costs the thread that made
    it) and wall time (which also counts the GIL the drain thread holds while it builds batches,
    and the cores its commits take: on two shared cores they compete). Each arm — ``on_end``
    with the drain idle, then each drain of ``DRAINS``, in an order that turns every run — sits
    between two runs of the SDK alone, and its cost is read against their mean: this host's
    speed drifts by more than the figure between runs a minute apart, and a baseline taken
    on both sides cancels a drift that is steady over the pair. Each cost is also read as a
    share of that baseline (``SHARE``)."""
    sdk_cpu, sdk_wall, alone = [], [], []
    cpu: dict[str, list[float]] = {k: [] for k in DRAINS}
    wall: dict[str, list[float]] = {k: [] for k in DRAINS}
    shares: dict[str, list[float]] = {k: [] for k in DRAINS}
    arms = ["idle", *DRAINS]

    def sdk() -> tuple[float, float]:
        w, c = make_spans(TracerProvider(), n)
        sdk_wall.append(w / n * 1e6)
        sdk_cpu.append(c / n * 1e6)
        return sdk_wall[-1], sdk_cpu[-1]

    _drained(max(1, n // 10), new_lake, *DRAINS[arms[1]])  # warm-ups, not counted: the first
    make_spans(TracerProvider(), n)  # run pays for cold caches and the drain's first imports
    before = sdk()
    for r in range(runs):
        for arm in arms[r % len(arms) :] + arms[: r % len(arms)]:
            w, c = _idle(n) if arm == "idle" else _drained(n, new_lake, *DRAINS[arm])
            after = sdk()
            base_wall, base_cpu = (before[0] + after[0]) / 2, (before[1] + after[1]) / 2
            before = after
            if arm == "idle":
                alone.append(c - base_cpu)
                continue
            wall[arm].append(w - base_wall)
            cpu[arm].append(c - base_cpu)
            shares[arm].append(wall[arm][-1] / base_wall)
    sdk_line = f"thread CPU {spread(sdk_cpu)} µs, wall {spread(sdk_wall)} µs per span"
    report("OTel SDK span, no processor", sdk_line)
    report("on_end alone, drain idle (thread CPU)", f"{spread(alone)} µs per span on top of the SDK")
    for label in DRAINS:
        report(
            f"producer cost on top of the SDK, drain {label}",
            f"thread CPU {spread(cpu[label])} µs, wall {spread(wall[label])} µs per span",
            f"≤ 3 µs, i.e. ≤ {SHARE:.2f}× the SDK's span",
            f"wall {spread(shares[label])}× the SDK's span",
        )


def _fill(lake: Lake, upto: int, have: int, batch: int) -> None:
    """Spans rows ``have..upto`` (DuckDB-generated, in 1M-row commits) and the ``ingest_batches``
    rows a writer of ``batch``-row commits would have left."""
    for lo in range(have, upto, 1_000_000):
        hi = min(upto, lo + 1_000_000)
        lake.execute(
            f"INSERT INTO {ALIAS}.spans SELECT printf('%032x', i // 20), printf('%016x', i), NULL, "
            "'execute_tool robot_get_state', 'internal', i, i + 1000, 'unset', 'acme', NULL, "
            "'robot_get_state', 'allow', NULL, NULL, 0.5, '{}' "
            f"FROM range({lo}, {hi}) t(i)"
        )
        lake.execute(
            f"INSERT INTO {ALIAS}.{BATCHES} SELECT printf('%020d-fill', b), 'spans', {batch}, b "
            f"FROM range({lo // batch}, {hi // batch}) t(b)"
        )


def exactly_once(sizes: list[int], batch: int, reps: int, new_lake: Callable[[], Lake]) -> None:
    cap = Capture()
    provider = TracerProvider()
    provider.add_span_processor(cap)
    make_spans(provider, batch * reps * 4 * len(sizes))
    rows = cap.cols.to_arrow()
    lake = new_lake()
    append_batches(lake, "spans", [(new_batch_id(), rows.slice(0, 1))])  # creates ingest_batches
    have, k = 1, 0
    for size in sizes:
        _fill(lake, size, have, batch)
        have = size
        plain, fresh, by_id, by_key = [], [], [], []
        for _ in range(reps):
            part = rows.slice(k * batch, batch)
            k += 1
            plain.append(insert_limit(lake, part, batch) * 1000)  # the commit with no check at all
            part = rows.slice(k * batch, batch)
            k += 1
            t0 = time.perf_counter()  # a batch's first try: its id recorded, not looked up
            assert append_batches(lake, "spans", [(new_batch_id(), part)], fresh=True) == batch
            fresh.append((time.perf_counter() - t0) * 1000)
            part = rows.slice(k * batch, batch)
            k += 1
            t0 = time.perf_counter()
            assert append_batches(lake, "spans", [(new_batch_id(), part)]) == batch  # a replay's
            by_id.append((time.perf_counter() - t0) * 1000)
            part = rows.slice(k * batch, batch)
            k += 1
            t0 = time.perf_counter()
            assert append_arrow(lake, "spans", part) == batch
            by_key.append((time.perf_counter() - t0) * 1000)
        report(f"{batch:,}-row commit at {size:,} rows, no check", f"{spread(plain)} ms")
        report(f"{batch:,}-row commit at {size:,} rows, first try (id recorded)", f"{spread(fresh)} ms")
        report(f"{batch:,}-row commit at {size:,} rows, by batch id + fence", f"{spread(by_id)} ms")
        report(f"{batch:,}-row commit at {size:,} rows, by key scan", f"{spread(by_key)} ms")
    lake.close()


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--rows", type=int, default=1_000_000, help="spans through the sink per run")
    ap.add_argument("--batch", type=int, default=10_000)
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--producer-spans", type=int, default=200_000)
    ap.add_argument("--sizes", default="1000000,10000000", help="table sizes for the exactly-once cost")
    ap.add_argument("--layout", choices=LAYOUTS, default="embedded")
    ap.add_argument("--only", choices=("sink", "producer", "exactly-once"), default=None)
    args = ap.parse_args()
    configure_logging("json", "warning")
    print(f"P2 trace pipeline → DuckLake — {machine()}; {args.layout}; {args.runs} runs")
    with lake_factory(args.layout) as new_lake:
        if args.only in (None, "sink"):
            p2(args.rows, args.batch, args.runs, new_lake)
        if args.only in (None, "producer"):
            producer(args.producer_spans, args.runs, new_lake)
        if args.only in (None, "exactly-once") and args.sizes:
            exactly_once([int(s) for s in args.sizes.split(",")], args.batch, args.runs, new_lake)


if __name__ == "__main__":
    main()
