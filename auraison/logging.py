"""structlog, configured once at the entry point.

``console`` renders for people, ``json`` one object per line for machines. ``trace_id``,
``span_id`` and ``tenant`` are bound through contextvars wherever they are known
(``bind_trace``), so every log line inside a traced call carries them.
"""

from __future__ import annotations

import logging
import sys
from typing import Literal

import structlog

LogFormat = Literal["console", "json"]


def configure_logging(fmt: LogFormat = "console", level: str = "info") -> None:
    """Configure structlog and the stdlib root logger; safe to call again (reconfigures)."""
    numeric = logging.getLevelNamesMapping()[level.upper()]
    shared: list[structlog.typing.Processor] = [
        structlog.contextvars.merge_contextvars,
        structlog.processors.add_log_level,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
    ]
    renderer: structlog.typing.Processor = (
        structlog.processors.JSONRenderer()
        if fmt == "json"
        else structlog.dev.ConsoleRenderer(colors=sys.stderr.isatty())
    )
    structlog.configure(
        processors=[*shared, structlog.processors.format_exc_info, renderer],
        wrapper_class=structlog.make_filtering_bound_logger(numeric),
        logger_factory=structlog.PrintLoggerFactory(file=sys.stderr),
        cache_logger_on_first_use=False,
    )
    logging.basicConfig(level=numeric, stream=sys.stderr, format="%(name)s: %(message)s")
    for chatty in ("websockets", "httpx", "alembic"):  # per-connection / per-step chatter
        logging.getLogger(chatty).setLevel(max(numeric, logging.WARNING))


def bind_trace(trace_id: str | None = None, span_id: str | None = None, tenant: str | None = None) -> None:
    """Bind the known trace identifiers to every log line of the current context."""
    values = {"trace_id": trace_id, "span_id": span_id, "tenant": tenant}
    structlog.contextvars.bind_contextvars(**{k: v for k, v in values.items() if v is not None})


def get_logger(name: str | None = None) -> structlog.typing.FilteringBoundLogger:
    return structlog.get_logger(name)
