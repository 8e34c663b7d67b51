"""P2 — the trace pipeline against the Arrow limit, measured in one run on the same rows:

1. **sink**: real OpenTelemetry spans, buffered by ``SinkProcessor.on_end`` (each span buffer:
   the C one and the Python columns), then drained end to end — Arrow conversion, attribute
   JSON, batches of ``--batch`` rows, each one commit exactly once by batch id — into a fresh
   lake; against **the Arrow-table insert** of the very same rows (the table built from the same
   buffers beforehand) into a fresh lake of the same layout, one commit per ``--batch`` rows,
   nothing else. Runs alternate (limit, sink, …).
2. **producer**: the cost per span on the producer's thread — ``on_end`` alone, and with the
   runtime's drain committing beside it — with each span buffer (the C one, the default; the
   Python columns), on top of the SDK's own cost per span (the same spans, no processor), in µs
   and as a share of the SDK's span. The arms are short blocks taken in turn, each between two
   blocks of the SDK alone and read against their mean (``--rounds``, ``--block``): this host's
   speed swings by a quarter within seconds.
3. **exactly once at growing table sizes**: one ``--batch``-row commit on its first try (the
   batch id recorded, not looked up: the drain's ordinary commit), as a replay (the id looked up,
   and the replay fence's row updated), and by the old key check (``NOT EXISTS`` over the key
   column), into a spans table of each ``--sizes`` rows (and an ``ingest_batches`` table of one
   row per ``--batch`` rows, as a writer leaves it); against the same commit with no check at all
   at that size (what the catalog itself costs).

Run: ``python -m auraison.bench.lake_p2 [--rows 1000000] [--runs 3] [--rounds 30 --block 40000]
[--layout embedded|postgres+s3] [--sizes 1000000,10000000] [--only sink|producer|exactly-once]``.
Figures are ratios and spreads over runs (``--runs``; the producer's ``--rounds``).
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pyarrow as pa
from opentelemetry.sdk.trace import ReadableSpan, SpanProcessor, Tracer, TracerProvider

from auraison.agentops.span_arrow import native_batches, native_to_arrow
from auraison.agentops.tracing import COLUMNS, NativeSpanColumns, SinkProcessor, SpanColumns
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
    return timed_spans(provider.get_tracer("bench"), [_attrs(i) for i in range(n)])


def timed_spans(tracer: Tracer, attrs: list[dict]) -> tuple[float, float]:
    """One ``execute_tool`` span per attribute set, timed: (wall seconds, this thread's CPU)."""
    t0, c0 = time.perf_counter(), time.thread_time()
    for a in attrs:
        with tracer.start_as_current_span(f"execute_tool {a['gen_ai.tool.name']}", attributes=a):
            pass
    return time.perf_counter() - t0, time.thread_time() - c0


class Capture(SpanProcessor):
    """Keeps both column buffers (the drain never runs): the rows every side of the run uses."""

    def __init__(self) -> None:
        self.cols = SpanColumns()
        self.native = NativeSpanColumns()

    def on_end(self, span: ReadableSpan) -> None:
        self.cols.add(span)
        self.native.add(span)

    def shutdown(self) -> None:
        return None


class Taken:
    """The native buffer's columns as ``take`` handed them over, drained as often as a run
    needs: ``batches`` is ``NativeSpanColumns.batches`` over the same bytes (the buffer itself
    is read once)."""

    def __init__(self, taken: tuple) -> None:
        self.taken = taken

    def __len__(self) -> int:
        return self.taken[0]

    def batches(self, size: int) -> Iterator[pa.Table]:
        return native_batches(self.taken, size)


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


def sink_run(lake: Lake, cols: SpanColumns | Taken, batch: int) -> float:
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
    """Median, the middle half (from eight runs on) and the extremes."""
    med = statistics.median(xs)
    mid = ""
    if len(xs) >= 8:
        q1, _, q3 = statistics.quantiles(xs, n=4)
        mid = f"middle half {fmt.format(q1)}–{fmt.format(q3)}, "
    return f"{fmt.format(med)} ({mid}min {fmt.format(min(xs))}, max {fmt.format(max(xs))}, n={len(xs)})"


def p2(n: int, batch: int, runs: int, new_lake: Callable[[], Lake]) -> None:
    cap = Capture()
    provider = TracerProvider()
    provider.add_span_processor(cap)
    make_spans(provider, n)
    native = Taken(cap.native.take())
    limit = native_to_arrow(native.taken)  # the same rows, as an Arrow table (built outside the timing)
    ratios: dict[str, list[float]] = {"native": [], "python": []}
    rates: dict[str, list[float]] = {"limit": [], "native": [], "python": []}
    sql = f"SELECT count(*), count(DISTINCT span_id) FROM {ALIAS}.spans"
    for _ in range(runs):
        lake = new_lake()
        lim_s = insert_limit(lake, limit, batch)
        assert lake.execute(f"SELECT count(*) FROM {ALIAS}.spans").fetchone()[0] == n
        lake.close()
        rates["limit"].append(n / lim_s)
        for side, cols in (("native", native), ("python", _copy(cap.cols))):
            lake = new_lake()
            sink_s = sink_run(lake, cols, batch)
            count, distinct = lake.execute(sql).fetchone()
            assert (count, distinct) == (n, n), (count, distinct)
            lake.close()
            rates[side].append(n / sink_s)
            ratios[side].append(lim_s / sink_s)
    report(f"Arrow-table insert ({batch:,}-row commits)", f"{spread(rates['limit'], '{:,.0f}')} rows/s")
    for side, label in (("native", "the C buffer, the default"), ("python", "the Python columns")):
        report(
            f"sink end to end ({label} → lake, exactly once)",
            f"{spread(rates[side], '{:,.0f}')} rows/s",
            "≥ 0.5× the Arrow insert",
            f"{spread(ratios[side])}× the Arrow insert",
        )


SHARE = 3 / 11
"""The issue's producer target as a share of the SDK's own span: 3 µs on top of an SDK span it
measured at ~11 µs. Per-span costs scale with the machine (the SDK's span took 16 µs on one of
these 2-core machines and 18–25 µs on another), so the share is read against the SDK's span
measured in the same run, beside the µs."""

Columns = type[SpanColumns] | type[NativeSpanColumns]
BUFFERS: dict[str, Columns] = {"the C buffer": COLUMNS, "the Python columns": SpanColumns}
"""The span buffers the producer is measured with: the C one (the default where it was built)
and the Python columns (an install with no C compiler)."""


class Arm:
    """One side of the producer measurement, kept for the whole run: a provider, and (but for
    the SDK alone) a ``SinkProcessor`` into a lake of its own, drained — or never, for ``on_end``
    alone. Its timer never fires: a drained arm's block starts a drain of the spans the block
    before it left (``SinkProcessor._drain``, on a thread beside the producer), the steady state
    of the runtime's drain (a commit a second of what the second before made), with every drain
    inside a timed block and none inside the SDK's."""

    def __init__(self, columns: Columns | None, lake: Lake | None, drained: bool) -> None:
        self.provider = TracerProvider()
        self.proc: SinkProcessor | None = None
        self.lake, self.drained, self.made = lake, drained, 0
        if columns is not None:
            sink = LakeTraceSink(lake)  # type: ignore[arg-type] - an idle arm never writes
            spool = Path(tempfile.mkdtemp()) / "spool"
            unbounded = {"batch": 10**9, "max_buffer": 10**9, "interval_s": 3600}  # a block, a commit
            self.proc = SinkProcessor(sink, spool, columns=columns, **unbounded)
            self.provider.add_span_processor(self.proc)
        self.tracer = self.provider.get_tracer("bench")

    def block(self, attrs: list[dict]) -> tuple[float, float]:
        """One block of spans: (wall, this thread's CPU) µs per span."""
        drain = None
        if self.proc is not None and self.drained:
            drain = threading.Thread(target=self.proc._drain, name="bench-drain")
            drain.start()
        wall, cpu = timed_spans(self.tracer, attrs)
        if drain is not None:
            drain.join()  # untimed: the drain that ran beside the block ends before the next one
        elif self.proc is not None:
            self.proc._cut()  # on_end alone: drop the rows, nothing is written
        self.made += len(attrs)
        return wall / len(attrs) * 1e6, cpu / len(attrs) * 1e6

    def close(self) -> None:
        if self.proc is not None and self.drained:
            assert self.proc.force_flush(600_000)
            assert self.lake is not None
            count = self.lake.execute(f"SELECT count(*) FROM {ALIAS}.spans").fetchone()[0]
            assert count == self.made, (count, self.made)  # every span in the lake, once
        if self.proc is not None:
            self.proc.shutdown()
        if self.lake is not None:
            self.lake.close()


def producer(block: int, rounds: int, new_lake: Callable[[], Lake]) -> None:
    """Per span, on the producer's thread: CPU time (what the span costs the thread that made
    it) and wall time (which also counts the GIL a drain holds and the cores its commits take:
    on two shared cores they compete). This host's speed swings by a quarter within seconds, so
    the arms are short blocks (``block`` spans, under a second) taken in turn, each between two
    blocks of the SDK alone and read against their mean; the order turns every round. One arm is
    the SDK alone again: its spread is what the host alone puts on a figure. Each cost is also
    read as a share of that baseline (``SHARE``)."""
    attrs = [_attrs(i) for i in range(block)]
    arms: dict[str, Arm] = {"sdk": Arm(None, None, False)}
    arms["the SDK alone again: the measurement's own noise (its true cost is 0)"] = Arm(None, None, False)
    for label, columns in BUFFERS.items():
        arms[f"on_end alone, drain idle, {label}"] = Arm(columns, None, False)
    for label, columns in BUFFERS.items():
        arms[f"the runtime's drain ({block:,}-row commits, one per block), {label}"] = Arm(
            columns, new_lake(), True
        )
    measured = [k for k in arms if k != "sdk"]
    sdk_wall: list[float] = []
    sdk_cpu: list[float] = []
    cpu: dict[str, list[float]] = {k: [] for k in measured}
    wall: dict[str, list[float]] = {k: [] for k in measured}
    shares: dict[str, list[float]] = {k: [] for k in measured}
    for arm in arms.values():  # warm-ups, not counted: cold caches, the drain's first imports
        arm.block(attrs)
        arm.block(attrs)
    before = arms["sdk"].block(attrs)
    for r in range(rounds):
        for label in measured[r % len(measured) :] + measured[: r % len(measured)]:
            w, c = arms[label].block(attrs)
            after = arms["sdk"].block(attrs)
            sdk_wall.append(after[0])
            sdk_cpu.append(after[1])
            base_wall, base_cpu = (before[0] + after[0]) / 2, (before[1] + after[1]) / 2
            before = after
            wall[label].append(w - base_wall)
            cpu[label].append(c - base_cpu)
            shares[label].append(wall[label][-1] / base_wall)
    for arm in arms.values():
        arm.close()
    report(
        "OTel SDK span, no processor", f"thread CPU {spread(sdk_cpu)} µs, wall {spread(sdk_wall)} µs per span"
    )
    for label in measured:
        report(
            f"producer cost on top of the SDK, {label}",
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
    rows = cap.native.to_arrow()
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
    ap.add_argument("--block", type=int, default=40_000, help="spans per producer block (one commit each)")
    ap.add_argument("--rounds", type=int, default=30, help="producer rounds (every arm once each)")
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
            producer(args.block, args.rounds, new_lake)
        if args.only in (None, "exactly-once") and args.sizes:
            exactly_once([int(s) for s in args.sizes.split(",")], args.batch, args.runs, new_lake)


if __name__ == "__main__":
    main()
