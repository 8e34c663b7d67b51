"""The one place that wires AgentOps's real or embedded adapters from the settings."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

from auraison.settings import Settings

from .approvals import ApprovalStore, MemoryApprovalStore, RedisApprovalStore, SqliteApprovalStore
from .backpressure import InProcessLimiter, Limiter
from .decision import Identity
from .engine import AgentOps, PolicySource
from .policy import DEFAULT_POLICY
from .quotas import QuotaLedger

if TYPE_CHECKING:  # the tracing stack (the OTel SDK) is imported by the engines that trace
    import pyarrow as pa
    from opentelemetry.metrics import MeterProvider
    from opentelemetry.trace import TracerProvider

    from auraison.lakehouse.catalog import Lake

    from .tracing import TraceSink


def approval_store(settings: Settings) -> ApprovalStore:
    kind = settings.agentops.approvals
    if kind == "redis":
        return RedisApprovalStore(settings.redis.url, settings.redis.key_prefix)
    if kind == "memory":
        return MemoryApprovalStore()
    return SqliteApprovalStore(Path(settings.data_dir) / "agentops" / "approvals.sqlite")


def limiter(settings: Settings) -> Limiter:
    if settings.agentops.limiter == "redis":
        from .redis_limiter import RedisLimiter

        return RedisLimiter(settings.redis.url, settings.redis.key_prefix)
    return InProcessLimiter()


def trace_file(settings: Settings) -> Path:
    return settings.agentops.trace_file or Path(settings.data_dir) / "traces" / "spans.jsonl"


class LazyLakeSink:
    """The lake as the trace sink, connected on first write: a lake that is down when the
    process starts is just a sink that fails for now (spans spool, then replay). ``lake`` gives
    the process's one lake (the runtime's); the lake's planes above AgentOps supply it."""

    def __init__(self, lake: Callable[[], Lake]) -> None:
        self.lake = lake
        self._sink: TraceSink | None = None

    def write(self, batch: pa.Table, batch_id: str, replay: bool = True) -> None:
        if self._sink is None:
            from auraison.lakehouse.writer import LakeTraceSink

            self._sink = LakeTraceSink(self.lake())
        self._sink.write(batch, batch_id, replay)


class StreamTraceSink:
    """Spans to the lake's Redis ingestion stream (one XADD per batch, as Arrow, under the
    batch's id): the lake writer of the consumer group commits them exactly once. A Redis
    outage fails the write, so the span processor spools and replays, as with any sink."""

    def __init__(self, settings: Settings) -> None:
        import redis

        from auraison.lakehouse.stream import StreamProducer

        self._producer = StreamProducer(
            redis.Redis.from_url(settings.redis.url), settings.redis.key_prefix + settings.lake.stream
        )

    def write(self, batch: pa.Table, batch_id: str, replay: bool = True) -> None:
        self._producer.add_arrow("spans", batch, batch_id)  # the stream's writer always checks


def trace_sink(settings: Settings, lake: Callable[[], Lake]) -> TraceSink | None:
    """Where spans go besides the JSONL file: the lake (directly, or through its Redis
    ingestion stream), or nowhere when ``agentops.lake_sink`` is off."""
    if not settings.agentops.lake_sink:
        return None
    return StreamTraceSink(settings) if settings.agentops.trace_via == "stream" else LazyLakeSink(lake)


def span_processors(settings: Settings, sink: TraceSink | None) -> list:
    """The span exporters the settings describe: the lake ``sink`` (JSONL only as its spool),
    OTLP when an endpoint is set, and the JSONL file when there is no sink or one is asked for
    (``agentops.trace_file``)."""
    from .tracing import processors

    ao = settings.agentops
    return processors(
        jsonl=trace_file(settings) if sink is None or ao.trace_file is not None else None,
        sink=sink,
        spool_dir=spool_dir(settings),
        otlp_endpoint=ao.otlp_endpoint,
    )


def spool_dir(settings: Settings) -> Path:
    return Path(settings.data_dir) / "traces" / "spool"


def build_agentops(
    settings: Settings,
    sink: TraceSink | None = None,
    ledger: QuotaLedger | None = None,
    tracer_provider: TracerProvider | None = None,
    meter_provider: MeterProvider | None = None,
) -> AgentOps:
    """The engine the settings describe, with the spans' ``sink`` and the management plane's
    quota ``ledger``: the runtime supplies both (AgentOps cannot import the planes above it),
    and its process-wide ``tracer_provider`` (exporters attached). Without one, the engine gets
    a private provider with the configured exporters (scripts, tests)."""
    if tracer_provider is None:
        from .tracing import build_provider

        tracer_provider = build_provider(extra=span_processors(settings, sink))
    ao = settings.agentops
    return AgentOps(
        policy=PolicySource(ao.policy_file or DEFAULT_POLICY),
        approvals=approval_store(settings),
        limiter=limiter(settings),
        ledger=ledger,
        tracer_provider=tracer_provider,
        meter_provider=meter_provider,
        enabled=ao.enabled,
        record_arguments=ao.record_tool_arguments,
    )


def default_identity(settings: Settings) -> Identity:
    return Identity(tenant=settings.agentops.tenant, role=settings.agentops.role, subject="local")
