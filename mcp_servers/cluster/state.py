"""The control plane's working state: the jobs it submitted and the agents it knows.

Eventually consistent by design: Ray is the truth for a job, the agent's own heartbeats for an
agent; these tables are what the control plane last learnt (rebuilt by the reconciler and by
re-registration), so they are created with ``create_all`` rather than versioned migrations.
Same engine rules as the management store (SQLite embedded, PostgreSQL in production).
"""

from __future__ import annotations

import time
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite

from auraison.mcp_servers.billing.store import Store, store_url
from auraison.settings import Settings

from .models import TERMINAL

__all__ = ["TERMINAL", "ControlState"]

metadata = sa.MetaData()

jobs = sa.Table(
    "cp_jobs",
    metadata,
    sa.Column("submission_id", sa.String(100), primary_key=True),
    sa.Column("tenant", sa.String(63), nullable=False, index=True),
    sa.Column("cluster", sa.String(63), nullable=False),
    sa.Column("entrypoint", sa.Text, nullable=False),
    sa.Column("request", sa.JSON, nullable=False),
    sa.Column("status", sa.String(20), nullable=False),
    sa.Column("message", sa.Text, nullable=False, default=""),
    sa.Column("start_time", sa.Float, nullable=True),
    sa.Column("end_time", sa.Float, nullable=True),
    sa.Column("callback_url", sa.String(2000), nullable=True),
    sa.Column("callback_done", sa.Boolean, nullable=False, default=False),
    sa.Column("updated", sa.Float, nullable=False),
)

agents = sa.Table(
    "cp_agents",
    metadata,
    sa.Column("agent_id", sa.String(100), primary_key=True),
    sa.Column("name", sa.String(63), nullable=False),
    sa.Column("version", sa.String(40), nullable=False),
    sa.Column("tenant", sa.String(63), nullable=False, index=True),
    sa.Column("policy", sa.String(200), nullable=False),
    sa.Column("state", sa.String(20), nullable=False),
    sa.Column("last_heartbeat", sa.Float, nullable=True),
    sa.Column("lease_id", sa.String(40), nullable=True),
    sa.Column("updated", sa.Float, nullable=False),
)


class ControlState:
    def __init__(self, store: Store) -> None:
        self.store = store
        metadata.create_all(store.engine)

    @classmethod
    def from_settings(cls, settings: Settings) -> ControlState:
        return cls(Store(store_url(settings, "control", settings.control.store)))

    def upsert(self, table: sa.Table, key: str, **values: Any) -> None:
        values["updated"] = time.time()
        dialect = postgresql if self.store.dialect == "postgresql" else sqlite
        stmt = dialect.insert(table).values(**values)
        stmt = stmt.on_conflict_do_update(
            index_elements=[key], set_={k: stmt.excluded[k] for k in values if k != key}
        )
        with self.store.transaction() as conn:
            conn.execute(stmt)

    def update(self, table: sa.Table, key: str, value: str, **values: Any) -> None:
        values["updated"] = time.time()
        with self.store.transaction() as conn:
            conn.execute(table.update().where(table.c[key] == value).values(**values))

    def get(self, table: sa.Table, key: str, value: str) -> dict[str, Any] | None:
        with self.store.transaction() as conn:
            row = conn.execute(sa.select(table).where(table.c[key] == value)).mappings().first()
        return dict(row) if row else None

    def select(self, table: sa.Table, *where: Any, limit: int = 500) -> list[dict[str, Any]]:
        with self.store.transaction() as conn:
            rows = conn.execute(sa.select(table).where(*where).order_by(table.c.updated.desc()).limit(limit))
            return [dict(r) for r in rows.mappings()]
