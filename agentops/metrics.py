"""The process's one meter provider and the metric exporters runtimes attach to it.

Apart from ``tracing`` so that importing the tracer does not load the metrics SDK (a process
loads it with its first runtime's engine). What gets exported: the engine's call, shed,
queue-wait and queue-depth instruments and Pydantic AI's token-usage histogram, over OTLP/HTTP
when ``agentops.otlp_endpoint`` is set (the metrics do not go to the lake).
"""

from __future__ import annotations

import threading
from typing import Any

from opentelemetry.sdk.metrics.export import MetricExporter, MetricExportResult

from .tracing import Targets, otlp_url

_OK = MetricExportResult.SUCCESS


class _MetricRouter(MetricExporter, Targets[MetricExporter]):
    """The process meter provider's one exporter: the periodic reader's collections go to the
    exporters runtimes attached (a meter provider's readers are fixed when it is built, so
    runtimes that come and go attach here, as span exporters attach to ``_Router``). Cumulative
    temporality, OTLP's default: what a later-attached exporter gets counts from process start."""

    def __init__(self) -> None:
        MetricExporter.__init__(self)
        Targets.__init__(self)

    def export(self, metrics_data: Any, timeout_millis: float = 10_000, **kwargs: Any) -> MetricExportResult:
        failed = [e for e in self.targets if e.export(metrics_data, timeout_millis=timeout_millis) is not _OK]
        return MetricExportResult.FAILURE if failed else _OK

    def force_flush(self, timeout_millis: float = 10_000) -> bool:
        return all([e.force_flush(timeout_millis) for e in self.targets])

    def shutdown(self, timeout_millis: float = 30_000, **kwargs: Any) -> None:
        for e in self.targets:
            e.shutdown(timeout_millis=timeout_millis)


_meters: tuple[Any, _MetricRouter] | None = None
_lock = threading.Lock()


def process_meter_provider(interval_s: float = 60.0) -> tuple[Any, _MetricRouter]:
    """The process's one meter provider, set globally on first use (the engine's call, shed,
    queue-wait and queue-depth instruments, Pydantic AI's token usage), and the router its
    periodic reader exports through every ``interval_s`` (the first runtime's setting) to the
    exporters runtimes attach — OTLP when ``agentops.otlp_endpoint`` is set. When something else
    set a global SDK meter provider first, that one is used and nothing is routed from it."""
    global _meters
    from opentelemetry import metrics
    from opentelemetry.sdk.metrics import MeterProvider
    from opentelemetry.sdk.metrics.export import PeriodicExportingMetricReader

    with _lock:
        if _meters is None:
            router = _MetricRouter()
            current = metrics.get_meter_provider()
            if isinstance(current, MeterProvider):
                _meters = (current, router)
            else:
                reader = PeriodicExportingMetricReader(router, export_interval_millis=interval_s * 1000)
                provider = MeterProvider(metric_readers=[reader])
                metrics.set_meter_provider(provider)
                _meters = (provider, router)
        return _meters


def metric_exporters(otlp_endpoint: str | None) -> list[MetricExporter]:
    """The metric exporters the settings describe: OTLP/HTTP when an endpoint is set."""
    if not otlp_endpoint:
        return []
    from opentelemetry.exporter.otlp.proto.http.metric_exporter import OTLPMetricExporter

    return [OTLPMetricExporter(endpoint=otlp_url(otlp_endpoint, "metrics"))]
