"""Traces: OpenTelemetry spans named by the GenAI and MCP semantic conventions, exported to a
JSONL file, to the lakehouse sink (never blocking, spooling when the sink is down) and to OTLP.

Span names: ``invoke_agent {agent}``, ``chat {model}``, ``execute_tool {tool}``. Attributes
include ``gen_ai.operation.name``, ``gen_ai.tool.name``, ``gen_ai.tool.call.id``,
``gen_ai.usage.input_tokens``/``output_tokens``, ``mcp.method.name``, ``mcp.session.id`` and
Auraison's own ``auraison.decision*``, ``auraison.tenant``, ``auraison.queue.*``.
"""

from __future__ import annotations

import json
import threading
import time
from collections import deque
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Protocol

import structlog
from opentelemetry.sdk.trace import ReadableSpan, SpanProcessor, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor, SpanExporter, SpanExportResult

log = structlog.get_logger("auraison.agentops.tracing")


def span_to_row(span: ReadableSpan) -> dict[str, Any]:
    """A span as one row of the lakehouse ``spans`` table (and one JSONL line)."""
    ctx = span.get_span_context()
    attrs = dict(span.attributes or {})
    parent = span.parent.span_id if span.parent else None
    return {
        "trace_id": f"{ctx.trace_id:032x}",
        "span_id": f"{ctx.span_id:016x}",
        "parent_id": f"{parent:016x}" if parent else None,
        "name": span.name,
        "kind": span.kind.name.lower(),
        "start_ns": span.start_time,
        "end_ns": span.end_time,
        "status": span.status.status_code.name.lower(),
        "tenant": attrs.get("auraison.tenant"),
        "agent": attrs.get("gen_ai.agent.name"),
        "tool": attrs.get("gen_ai.tool.name"),
        "decision": attrs.get("auraison.decision"),
        "input_tokens": attrs.get("gen_ai.usage.input_tokens"),
        "output_tokens": attrs.get("gen_ai.usage.output_tokens"),
        "cost": attrs.get("auraison.cost"),
        "attributes": attrs,
    }


def _rows(items: list[ReadableSpan | dict[str, Any]]) -> list[dict[str, Any]]:
    return [i if isinstance(i, dict) else span_to_row(i) for i in items]


class JsonlExporter(SpanExporter):
    """One JSON object per finished span, appended to a file."""

    def __init__(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self.path = path
        self._lock = threading.Lock()

    def export(self, spans: Sequence[ReadableSpan]) -> SpanExportResult:
        lines = "".join(json.dumps(span_to_row(s), default=str) + "\n" for s in spans)
        with self._lock, open(self.path, "a") as f:
            f.write(lines)
        return SpanExportResult.SUCCESS

    def shutdown(self) -> None:
        return None


class TraceSink(Protocol):
    """Where spans land for good (the lakehouse implements it). ``write`` raises on failure
    and must be idempotent by ``span_id`` (replays after an outage may repeat rows)."""

    def write(self, rows: list[dict[str, Any]]) -> None: ...


class Spool:
    """An append-only local spool of JSONL segments, replayed oldest first."""

    def __init__(self, directory: Path) -> None:
        directory.mkdir(parents=True, exist_ok=True)
        self.dir = directory
        self._seq = int(time.time() * 1000)

    def append(self, rows: list[dict[str, Any]]) -> None:
        self._seq += 1
        tmp = self.dir / f"{self._seq:016d}.tmp"
        tmp.write_text("".join(json.dumps(r, default=str) + "\n" for r in rows))
        tmp.rename(tmp.with_suffix(".jsonl"))  # a segment appears whole or not at all

    def segments(self) -> list[Path]:
        return sorted(self.dir.glob("*.jsonl"))

    def rows(self) -> int:
        return sum(sum(1 for _ in p.open()) for p in self.segments())


class SinkProcessor(SpanProcessor):
    """Never blocks the span's producer: a bounded buffer drained by a background thread in
    batches; when the buffer is full or the sink fails, rows go to the spool, and the spool is
    replayed (in order) before new batches once the sink works again. Nothing is dropped."""

    def __init__(
        self,
        sink: TraceSink,
        spool_dir: Path,
        batch: int = 10_000,
        max_buffer: int = 100_000,
        interval_s: float = 1.0,
    ) -> None:
        self.sink = sink
        self.spool = Spool(spool_dir)
        self.batch, self.max_buffer, self.interval_s = batch, max_buffer, interval_s
        self._buf: deque[ReadableSpan | dict[str, Any]] = deque()  # rows built off the hot path
        self._lock = threading.Lock()
        self._wake = threading.Event()
        self._drain_lock = threading.Lock()
        self._stop = False
        self.sink_failures = 0
        self._thread = threading.Thread(target=self._run, name="trace-sink", daemon=True)
        self._thread.start()

    def on_start(self, span: Any, parent_context: Any = None) -> None:
        return None

    def on_end(self, span: ReadableSpan) -> None:
        self.add(span)

    def add(self, row: ReadableSpan | dict[str, Any]) -> None:
        spill: list[ReadableSpan | dict[str, Any]] = []
        with self._lock:
            if len(self._buf) >= self.max_buffer:  # the drain is behind: hand a whole block
                spill = list(self._buf)  # to the spool in one write, never drop
                self._buf.clear()
            self._buf.append(row)
            full = len(self._buf) >= self.batch
        if spill:
            self.spool.append(_rows(spill))
        if full:
            self._wake.set()

    def _run(self) -> None:
        while not self._stop:
            self._wake.wait(self.interval_s)
            self._wake.clear()
            self._drain()
        self._drain()

    def _drain(self) -> None:
        with self._drain_lock:  # one drainer at a time: the thread or a force_flush
            self._drain_locked()

    def _drain_locked(self) -> None:
        if self.spool.segments() and not self._replay():
            self._spill_buffer()
            return
        while True:
            with self._lock:
                if not self._buf:
                    return
                rows = _rows([self._buf.popleft() for _ in range(min(self.batch, len(self._buf)))])
            try:
                self.sink.write(rows)
            except Exception as exc:
                self.sink_failures += 1
                log.warning("trace sink down; spooling", error=str(exc), rows=len(rows))
                self.spool.append(rows)
                self._spill_buffer()
                return

    def _spill_buffer(self) -> None:
        with self._lock:
            rows = _rows(list(self._buf))
            self._buf.clear()
        if rows:
            self.spool.append(rows)

    def _replay(self) -> bool:
        for seg in self.spool.segments():
            rows = [json.loads(line) for line in seg.read_text().splitlines() if line]
            try:
                self.sink.write(rows)
            except Exception:
                self.sink_failures += 1
                return False
            seg.unlink()
            log.info("trace spool replayed", rows=len(rows), segment=seg.name)
        return True

    def force_flush(self, timeout_millis: int = 30_000) -> bool:
        self._wake.set()
        deadline = time.monotonic() + timeout_millis / 1000
        while time.monotonic() < deadline:
            with self._lock:
                empty = not self._buf
            if empty:
                self._drain()  # also tries the spool
                return not self.spool.segments()
            time.sleep(0.005)  # waiting for the drain thread, bounded by the deadline
        return False

    def shutdown(self) -> None:
        self._stop = True
        self._wake.set()
        self._thread.join(10)


def build_provider(
    jsonl: Path | None = None,
    sink: TraceSink | None = None,
    spool_dir: Path | None = None,
    otlp_endpoint: str | None = None,
    extra: Sequence[SpanProcessor] = (),
) -> TracerProvider:
    """A tracer provider with the configured exporters (none configured: spans are no-ops)."""
    provider = TracerProvider()
    if jsonl is not None:
        provider.add_span_processor(SimpleSpanProcessor(JsonlExporter(jsonl)))
    if sink is not None:
        provider.add_span_processor(SinkProcessor(sink, spool_dir or Path("spool")))
    if otlp_endpoint:
        from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
        from opentelemetry.sdk.trace.export import BatchSpanProcessor

        provider.add_span_processor(BatchSpanProcessor(OTLPSpanExporter(endpoint=otlp_endpoint)))
    for p in extra:
        provider.add_span_processor(p)
    return provider
