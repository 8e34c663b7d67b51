"""Control-plane events for the lake's event log (``events`` table).

Services profile: XADD to the lake's ingestion stream (``lake ingest-stream`` writes them,
exactly once by event id). Embedded profile: a JSONL file that ``auraison lake ingest-events``
loads — the embedded lake is a single-process DuckDB file, so the control plane never opens it
behind the user's back. Emitting never raises: the event log must not fail a job.
"""

from __future__ import annotations

import json
import time
import uuid
from pathlib import Path
from typing import Any

import structlog

from auraison.settings import Settings

log = structlog.get_logger(__name__)


class EventLog:
    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.file = Path(settings.data_dir) / "events" / "control.jsonl"
        self._producer = None
        if settings.bus.backend == "redis":
            import redis

            from auraison.lakehouse.stream import StreamProducer

            client = redis.Redis.from_url(settings.redis.url)
            self._producer = StreamProducer(client, settings.redis.key_prefix + settings.lake.stream)

    def emit(self, type_: str, subject: str, tenant: str, payload: dict[str, Any]) -> dict[str, Any]:
        event = {
            "event_id": uuid.uuid4().hex,
            "ts_ns": time.time_ns(),
            "plane": "control",
            "type": type_,
            "subject": subject,
            "tenant": tenant,
            "payload": payload,
        }
        try:
            if self._producer is not None:
                self._producer.add("events", [event])
            else:
                self.file.parent.mkdir(parents=True, exist_ok=True)
                with self.file.open("a") as f:
                    f.write(json.dumps(event, default=str) + "\n")
        except Exception as exc:  # the event log never fails the operation
            log.warning("event not recorded", type=type_, subject=subject, error=str(exc))
        return event
