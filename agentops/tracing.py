"""Traces: OpenTelemetry spans named by the GenAI and MCP semantic conventions, exported to the
lakehouse (columnar, never blocking, spooling when the lake is down), to OTLP, and (when asked)
to a JSONL file.

Span names: ``invoke_agent {agent}``, ``chat {model}`` and the agent side's ``execute_tool
{tool}`` (Pydantic AI's instrumentation, see ``capability.agentops_capabilities``), the engine's
``execute_tool {tool}`` (the decision), and FastMCP's ``tools/call {tool}`` SERVER spans.
Attributes come from ``opentelemetry.semconv`` (``gen_ai.*``, ``mcp.*``, ``error.type``) plus
Auraison's own ``auraison.decision*``, ``auraison.tenant``, ``auraison.queue.*``.

The lake path is columnar end to end: ``SinkProcessor.on_end`` appends a finished span to
column buffers — in C where it was built (``_spanbuf.c``: the row written in its Arrow form at
once, ids as hex and attributes as JSON, no Python object kept), else typed Python lists — and
the drain thread turns a batch into one Arrow table and hands it to the sink with a batch id,
which the lake commits exactly once. A batch the sink refuses goes to the spool (JSONL,
``spool.py``) under the same id.
"""

from __future__ import annotations

import gc
import threading
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path
from typing import TYPE_CHECKING, Any, Generic, Protocol, TypeVar

import structlog
from opentelemetry.sdk.trace import ReadableSpan, SpanProcessor, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor, SpanExporter, SpanExportResult

from .spool import LIFTED, Spool, WriteAhead, encode_row, new_batch_id

try:  # the C span buffer (optional: ``setup.py`` builds it where a compiler is found)
    from . import _spanbuf
except ImportError:  # pragma: no cover - exercised on a machine without a C compiler
    _spanbuf = None

if TYPE_CHECKING:  # the Arrow side (span_arrow) loads with the first batch written
    import pyarrow as pa
    from opentelemetry.sdk.metrics.export import MetricExporter

log = structlog.get_logger("auraison.agentops.tracing")

__all__ = ["JsonlExporter", "SinkProcessor", "SpanColumns", "Spool", "build_provider"]


def span_to_row(span: ReadableSpan) -> dict[str, Any]:
    """A span as one row of the lakehouse ``spans`` table (the JSONL exporter's line)."""
    ctx = span.get_span_context()
    attrs = dict(_plain_attrs(span))
    parent = span.parent.span_id if span.parent else None
    row = {
        "trace_id": f"{ctx.trace_id:032x}",
        "span_id": f"{ctx.span_id:016x}",
        "parent_id": f"{parent:016x}" if parent else None,
        "name": span.name,
        "kind": span.kind.name.lower(),
        "start_ns": span.start_time,
        "end_ns": span.end_time,
        "status": span.status.status_code.name.lower(),
    }
    for column, attr in LIFTED.items():
        row[column] = attrs.get(attr)
    row["attributes"] = attrs
    return row


_EMPTY: dict[str, Any] = {}


def _plain_attrs(span: ReadableSpan) -> Mapping[str, Any]:
    """A finished span's attributes as the plain dict behind them: the public mapping takes a
    lock per key, and a finished span's attributes no longer change (a span built by hand may
    hold a plain mapping, or none)."""
    attrs = span._attributes
    return _EMPTY if attrs is None else getattr(attrs, "_dict", None) or dict(attrs)


class SpanColumns:
    """Typed column buffers for finished spans: ``add`` costs a few list appends on the
    producer's thread (ids stay ints, attributes stay the span's own mapping); ``to_arrow``,
    on the drain thread, formats ids, encodes the attributes as JSON text, parses the queried
    ones back into typed columns and builds the Arrow arrays (``span_arrow``)."""

    __slots__ = ("attrs", "end", "kind", "name", "parent", "span", "start", "status", "trace")

    def __init__(self) -> None:
        self.trace: list[int] = []
        self.span: list[int] = []
        self.parent: list[int | None] = []
        self.name: list[str] = []
        self.kind: list[Any] = []
        self.start: list[int | None] = []
        self.end: list[int | None] = []
        self.status: list[Any] = []
        self.attrs: list[Any] = []

    def __len__(self) -> int:
        return len(self.span)

    def slice(self, lo: int, hi: int) -> SpanColumns:
        if lo == 0 and hi >= len(self.span):
            return self
        out = SpanColumns()
        for name in self.__slots__:
            setattr(out, name, getattr(self, name)[lo:hi])
        return out

    def add(self, span: ReadableSpan) -> int:
        # The SDK span's own fields, read directly: its public properties are a Python call each
        # (a third of this method's cost), and a finished span's fields no longer change.
        ctx = span._context  # a SpanContext is a tuple: (trace_id, span_id, …)
        parent = span._parent
        self.trace.append(ctx[0])
        self.span.append(ctx[1])
        self.parent.append(parent[1] if parent is not None else None)
        self.name.append(span._name)
        self.kind.append(span._kind)
        self.start.append(span._start_time)
        self.end.append(span._end_time)
        self.status.append(span._status._status_code)
        self.attrs.append(_plain_attrs(span))
        return len(self.span)

    def batches(self, size: int) -> Iterator[pa.Table]:
        """The buffer as Arrow tables of at most ``size`` rows, each built when asked (the drain
        commits one while it builds the next)."""
        for lo in range(0, len(self), size):
            yield self.slice(lo, lo + size).to_arrow()

    def to_arrow(self) -> pa.Table:
        """The batch as Arrow. The cyclic GC pauses meanwhile: the conversion allocates many
        short-lived objects while the buffers hold many long-lived ones, and the collections
        that triggers cost ~40% of the conversion (nothing here makes a cycle)."""
        enabled = gc.isenabled()
        gc.disable()
        from .span_arrow import columns_to_arrow

        try:
            return columns_to_arrow(self)
        finally:
            if enabled:
                gc.enable()


if _spanbuf is not None:

    class NativeSpanColumns(_spanbuf.SpanBuffer):
        """``SpanColumns`` built in C (``_spanbuf.c``): ``add`` writes the span's row in its
        Arrow form at once — ids as hex, attributes as JSON — and keeps no Python object, so
        the drain has no per-span work left that holds the GIL the producer needs. The buffer
        is read once: ``to_arrow``/``batches`` take its columns and leave it empty."""

        __slots__ = ()

        def to_arrow(self) -> pa.Table:
            from .span_arrow import native_to_arrow

            return native_to_arrow(self.take())

        def batches(self, size: int) -> Iterator[pa.Table]:
            from .span_arrow import native_batches

            return native_batches(self.take(), size)

    def _encode_attributes(attrs: Mapping[str, Any]) -> bytes:
        from .span_json import encode_attributes  # msgspec loads with the first such mapping

        return encode_attributes(attrs)

    from opentelemetry.trace import SpanKind, StatusCode

    _spanbuf.configure(tuple(SpanKind), tuple(StatusCode), _encode_attributes)


COLUMNS: type[SpanColumns] | type[NativeSpanColumns] = SpanColumns if _spanbuf is None else NativeSpanColumns
"""The span buffer the processor uses: the native one where it was built (``setup.py`` builds it
wherever a C compiler is found), else the Python columns; both give the same rows."""


class JsonlExporter(SpanExporter):
    """One JSON object per finished span, appended to a file."""

    def __init__(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self.path = path
        self._lock = threading.Lock()

    def export(self, spans: Sequence[ReadableSpan]) -> SpanExportResult:
        lines = b"".join(encode_row(span_to_row(s)) for s in spans)  # the spool's lines
        with self._lock, open(self.path, "ab") as f:
            f.write(lines)
        return SpanExportResult.SUCCESS

    def shutdown(self) -> None:
        return None


class TraceSink(Protocol):
    """Where spans land for good (the lakehouse implements it). ``write`` commits one Arrow
    table of ``span_arrow.SPAN_SCHEMA`` rows, raises on failure, and is exactly once by ``batch_id``: a
    batch written again (a replay after an outage) adds nothing. ``replay`` is false on a
    batch's first try (its id is new: the sink may skip looking it up)."""

    def write(self, batch: pa.Table, batch_id: str, replay: bool = True) -> None: ...


class SinkProcessor(SpanProcessor):
    """Never blocks the span's producer: finished spans go into column buffers drained by a
    background thread in batches of ``batch`` rows; when the buffer holds ``max_buffer`` rows
    (the sink is behind) or the sink fails, batches go to the spool, and the spool is replayed
    (oldest first, same batch ids) before new batches once the sink works again. Nothing is
    dropped, nothing doubles. With ``write_ahead``, tool-call spans (the engine's decisions:
    what a tenant is billed and audited for) are also on disk before their call returns, so a
    SIGKILLed process loses none of them (``spool.WriteAhead``).

    ``batch`` is the most rows one commit takes (and the buffer size that wakes the drain before
    its interval). A commit has a fixed cost (the catalog's transaction and one Parquet file:
    ~28 ms for 10k rows at 1M–10M rows, ~22 of it with no id at all), paid on the producer's
    cores: with 10k-row commits a busy producer paid more per span in four P2 passes of five
    (0.38× the SDK's span against 0.28× on a slow host; ``bench/README.md``), and the lake got
    five times the small files. 50k buffered spans of eight attributes hold ~28 MB."""

    def __init__(
        self,
        sink: TraceSink,
        spool_dir: Path,
        batch: int = 50_000,
        max_buffer: int = 100_000,
        interval_s: float = 1.0,
        write_ahead: bool = False,
        columns: Callable[[], SpanColumns | NativeSpanColumns] | None = None,
    ) -> None:
        self.sink = sink
        self._columns = columns or COLUMNS
        self.spool = Spool(spool_dir)
        self.write_ahead = write_ahead
        self._wal = self._new_wal()
        self.batch, self.max_buffer, self.interval_s = batch, max_buffer, interval_s
        self._cols = self._columns()
        self._rows: list[dict[str, Any]] = []  # rows handed over as dicts (``add``)
        self._lock = threading.Lock()
        self._wake = threading.Event()
        self._drain_lock = threading.Lock()
        self._stop = False
        self.sink_failures = 0
        self.refused = 0  # spans the buffer could not hold (``_refused``)
        self.on_batch: Callable[[int], None] | None = None  # a benchmark's probe: rows committed
        self._pool: ThreadPoolExecutor | None = None
        self._thread = threading.Thread(target=self._run, name="trace-sink", daemon=True)
        self._thread.start()

    def on_start(self, span: Any, parent_context: Any = None) -> None:
        return None

    def _new_wal(self) -> WriteAhead | None:
        return WriteAhead(self.spool, new_batch_id()) if self.write_ahead else None

    def on_end(self, span: ReadableSpan) -> None:
        line = None
        if self.write_ahead and "auraison.decision" in _plain_attrs(span):
            line = encode_row(span_to_row(span))  # a tool call's span: on disk before its answer
        with self._lock:
            try:
                n = self._cols.add(span)
            except Exception as exc:  # a span no column can hold: never the agent's failure
                self._refused(span, exc)
                return
            if line is not None:
                self._wal.write((n - 1) // self.batch, line)  # the batch that will carry it
        if n == self.batch:
            self._wake.set()
        elif n >= self.max_buffer:
            self._spill()

    def _refused(self, span: ReadableSpan, exc: Exception) -> None:
        """A span the buffer refused (built by hand with an id that is not an int, a time past
        64 bits, an attribute mapping that cannot be read): counted and logged — the first one
        with its error, then every thousandth — and the call that ended it goes on."""
        self.refused += 1
        if self.refused == 1 or self.refused % 1000 == 0:
            log.error(
                "span refused by the trace buffer",
                span=getattr(span, "name", None),
                error=repr(exc),
                refused=self.refused,
            )

    def add(self, item: ReadableSpan | dict[str, Any]) -> None:
        """A finished span, or a ready ``spans`` row (dict) from elsewhere."""
        if not isinstance(item, dict):
            self.on_end(item)
            return
        with self._lock:
            self._rows.append(item)
            n = len(self._rows) + len(self._cols)
        if n == self.batch:
            self._wake.set()
        elif n >= self.max_buffer:
            self._spill()

    def pending(self) -> int:
        with self._lock:
            return len(self._cols) + len(self._rows)

    def _cut(self) -> tuple[SpanColumns | NativeSpanColumns, list[dict[str, Any]], WriteAhead | None]:
        with self._lock:
            cut = self._cols, self._rows, self._wal
            self._cols, self._rows, self._wal = self._columns(), [], self._new_wal()
        return cut

    def _spill(self) -> None:
        """The drain is behind: the whole buffer goes to the spool, never dropped (a batch
        keeps the id its write-ahead has)."""
        cols, rows, wal = self._cut()
        for part, batch_id in self._parts(cols, rows, wal):
            self.spool.append(part.to_pylist(), batch_id)
        if wal is not None:
            wal.discard()

    def _run(self) -> None:
        while not self._stop:
            self._wake.wait(self.interval_s)
            self._wake.clear()
            self._drain_logged()
        self._drain_logged()

    def _drain_logged(self) -> None:
        """A drain on the thread: a sink that fails spools (``_settled``); anything else that
        raises is a bug, logged with its traceback — the thread lives on to drain the next
        spans (a write-ahead segment it left is replayed once this process is gone)."""
        try:
            self._drain()
        except Exception:
            log.exception("trace drain failed", pending=self.pending())

    def _drain(self) -> None:
        with self._drain_lock:  # one drainer at a time: the thread or a force_flush
            self._drain_locked()

    def _drain_locked(self) -> None:
        if self.spool.segments() and not self._replay():
            self._spill()
            return
        cols, rows, wal = self._cut()
        parts = self._parts(cols, rows, wal)
        # Two stages: this thread builds batch k+1 (Python, holds the GIL) while the writer
        # thread commits batch k (DuckDB, releases it).
        running: tuple[Future[None], pa.Table, str] | None = None
        for part, batch_id in parts:
            if running is not None and not self._settled(*running):
                self._spool_rest(part, batch_id, parts)
                running = None
                break
            running = (self._submit(part, batch_id), part, batch_id)
        if running is not None:
            self._settled(*running)
        if wal is not None:  # every batch of the cut is committed or spooled, under its id
            wal.discard()

    def _parts(
        self,
        cols: SpanColumns | NativeSpanColumns,
        rows: list[dict[str, Any]],
        wal: WriteAhead | None = None,
    ) -> Iterator[tuple[pa.Table, str]]:
        """The cut's batches with their ids: the column buffer's ``k``-th batch takes the id of
        its write-ahead segment (a new one without write-ahead)."""
        from .span_arrow import rows_to_arrow

        for k, part in enumerate(cols.batches(self.batch)):
            yield part, wal.batch_id(k) if wal is not None else new_batch_id()
        for lo in range(0, len(rows), self.batch):
            yield rows_to_arrow(rows[lo : lo + self.batch]), new_batch_id()

    def _submit(self, part: pa.Table, batch_id: str) -> Future[None]:
        """Commit ``part`` on the writer thread — or on this one when the interpreter is
        exiting (no new futures then: a processor nobody shut down drains its last batch here)."""
        try:
            return self._writer().submit(self.sink.write, part, batch_id, False)
        except RuntimeError:
            done: Future[None] = Future()
            try:
                self.sink.write(part, batch_id, False)
                done.set_result(None)
            except Exception as exc:
                done.set_exception(exc)
            return done

    def _writer(self) -> ThreadPoolExecutor:
        if self._pool is None:
            self._pool = ThreadPoolExecutor(1, thread_name_prefix="trace-sink-write")
        return self._pool

    def _settled(self, fut: Future[None], part: pa.Table, batch_id: str) -> bool:
        try:
            fut.result()
        except Exception as exc:
            self.sink_failures += 1
            log.warning("trace sink down; spooling", error=str(exc), rows=part.num_rows)
            self.spool.append(part.to_pylist(), batch_id)  # same id: a commit that did land counts once
            return False
        if self.on_batch is not None:
            self.on_batch(part.num_rows)
        return True

    def _spool_rest(self, part: pa.Table, batch_id: str, parts: Iterator[tuple[pa.Table, str]]) -> None:
        for table, table_id in ((part, batch_id), *parts):
            self.spool.append(table.to_pylist(), table_id)

    def _replay(self) -> bool:
        for seg in self.spool.segments():
            claimed = self.spool.claim(seg)
            if claimed is None:  # another process is replaying it
                continue
            try:
                rows = Spool.read(claimed)
            except FileNotFoundError:  # taken over meanwhile
                continue
            from .span_arrow import rows_to_arrow

            try:
                self.sink.write(rows_to_arrow(rows), Spool.batch_id(claimed), True)
            except Exception:
                self.sink_failures += 1
                Spool.release(claimed)
                return False
            claimed.unlink(missing_ok=True)
            log.info("trace spool replayed", rows=len(rows), segment=seg.name)
        return True

    def force_flush(self, timeout_millis: int = 30_000) -> bool:
        """Drain now (spool included); true when everything reached the sink."""
        deadline = time.monotonic() + timeout_millis / 1000
        if not self._drain_lock.acquire(timeout=max(0.0, deadline - time.monotonic())):
            return False
        try:
            self._drain_locked()
        finally:
            self._drain_lock.release()
        return not self.pending() and not self.spool.segments()

    def shutdown(self) -> None:
        self._stop = True
        self._wake.set()
        self._thread.join(10)
        if self._pool is not None:
            self._pool.shutdown(wait=True)


def build_provider(
    jsonl: Path | None = None,
    sink: TraceSink | None = None,
    spool_dir: Path | None = None,
    otlp_endpoint: str | None = None,
    extra: Sequence[SpanProcessor] = (),
    provider: TracerProvider | None = None,
) -> TracerProvider:
    """A tracer provider (``provider``, or a new one) with the configured exporters added."""
    provider = provider or TracerProvider()
    for p in processors(jsonl, sink, spool_dir, otlp_endpoint):
        provider.add_span_processor(p)
    for p in extra:
        provider.add_span_processor(p)
    return provider


def otlp_url(endpoint: str, signal: str) -> str:
    """The OTLP/HTTP URL of ``signal`` (``traces``, ``metrics``) at ``endpoint``: the collector's
    base URL (``http://host:4318``) or its traces URL (``…/v1/traces``), as configured."""
    base = endpoint.rstrip("/").removesuffix("/v1/traces")
    return f"{base}/v1/{signal}"


def processors(
    jsonl: Path | None = None,
    sink: TraceSink | None = None,
    spool_dir: Path | None = None,
    otlp_endpoint: str | None = None,
) -> list[SpanProcessor]:
    """The span processors for the configured exporters."""
    out: list[SpanProcessor] = []
    if jsonl is not None:
        out.append(SimpleSpanProcessor(JsonlExporter(jsonl)))
    if sink is not None:
        out.append(SinkProcessor(sink, spool_dir or Path("spool"), write_ahead=True))
    if otlp_endpoint:
        from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
        from opentelemetry.sdk.trace.export import BatchSpanProcessor

        out.append(BatchSpanProcessor(OTLPSpanExporter(endpoint=otlp_url(otlp_endpoint, "traces"))))
    return out


T = TypeVar("T")


class Targets(Generic[T]):
    """What runtimes attached to a process-wide router (span processors, metric exporters),
    copy-on-write: a span or an export iterates a tuple and never waits on an attach."""

    def __init__(self) -> None:
        self.targets: tuple[T, ...] = ()
        self._lock = threading.Lock()

    def add(self, items: Sequence[T]) -> None:
        with self._lock:
            self.targets = (*self.targets, *items)

    def remove(self, items: Sequence[T]) -> None:
        with self._lock:
            self.targets = tuple(t for t in self.targets if t not in items)


class _Router(SpanProcessor, Targets[SpanProcessor]):
    """The process provider's one processor: forwards to the processors runtimes attached."""

    def on_start(self, span: Any, parent_context: Any = None) -> None:
        for p in self.targets:
            p.on_start(span, parent_context=parent_context)

    def on_end(self, span: ReadableSpan) -> None:
        for p in self.targets:
            p.on_end(span)

    def force_flush(self, timeout_millis: int = 30_000) -> bool:
        return all([p.force_flush(timeout_millis) for p in self.targets])

    def shutdown(self) -> None:
        for p in self.targets:
            p.shutdown()


_process: tuple[TracerProvider, _Router] | None = None
_process_lock = threading.Lock()


def process_provider() -> tuple[TracerProvider, _Router]:
    """The process's one tracer provider, set as OpenTelemetry's global one on first use — so
    FastMCP's ``tools/call`` SERVER spans and Pydantic AI's instrumentation, which trace through
    the global provider, land where AgentOps's spans do. Runtimes attach their exporters to its
    router and detach them when they close (a process may hold several runtimes in turn: tests).
    When something else set a global SDK provider first, the router joins that one."""
    global _process
    from opentelemetry import trace
    from opentelemetry.sdk.resources import Resource

    with _process_lock:
        if _process is None:
            router = _Router()
            current = trace.get_tracer_provider()
            if isinstance(current, TracerProvider):
                provider = current
            else:
                provider = TracerProvider(resource=Resource.create({"service.name": "auraison"}))
                trace.set_tracer_provider(provider)
            provider.add_span_processor(router)
            _process = (provider, router)
        return _process


class Attached:
    """Exporters one runtime attached to the process's providers — span processors to the tracer
    provider's router, metric exporters to the meter provider's — until ``close``, which exports
    what is pending (spans and a last collection of the metrics) and detaches them (the providers
    live as long as the process)."""

    def __init__(
        self,
        processors: Sequence[SpanProcessor],
        metric_exporters: Sequence[MetricExporter] = (),
        metrics_interval_s: float = 60.0,
    ) -> None:
        from .metrics import process_meter_provider

        self.provider, self._router = process_provider()
        self.processors = list(processors)
        self._router.add(self.processors)
        self.meter_provider, self._metrics = process_meter_provider(metrics_interval_s)
        self.metric_exporters = list(metric_exporters)
        self._metrics.add(self.metric_exporters)

    def force_flush(self, timeout_millis: int = 30_000) -> bool:
        done = all([p.force_flush(timeout_millis) for p in self.processors])
        if self.metric_exporters:
            done = self.meter_provider.force_flush(timeout_millis) and done
        return done

    def close(self) -> None:
        self._router.remove(self.processors)
        for p in self.processors:
            p.force_flush()
            p.shutdown()
        if self.metric_exporters:
            try:  # a last collection goes to every exporter attached, ours among them
                self.meter_provider.force_flush()
            finally:
                self._metrics.remove(self.metric_exporters)
                for e in self.metric_exporters:
                    e.shutdown()
