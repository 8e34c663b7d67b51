"""The management store: one SQLAlchemy engine (SQLite embedded, PostgreSQL in production),
migrated by Alembic, and the transaction helper every domain call goes through.

Why synchronous SQLAlchemy: each domain call is one short transaction whose correctness rests
on the database (conditional UPDATEs, unique keys); async callers hop to a thread.
"""

from __future__ import annotations

import datetime as dt
import logging
import uuid
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from sqlalchemy import event, exc

from auraison.errors import Forbidden, NotFound, ServiceError, UserError
from auraison.settings import Settings

from .schema import audit_log

MIGRATIONS = Path(__file__).parent / "migrations"


class ManagementUnavailable(ServiceError):
    """The management store cannot be reached: new grants are refused, leases already held
    stay valid until they expire."""


class ManagementError(UserError):
    """A refused management operation; the message says why and what to do."""


__all__ = ["Forbidden", "ManagementError", "ManagementUnavailable", "NotFound"]


def utcnow() -> dt.datetime:
    return dt.datetime.now(dt.UTC).replace(tzinfo=None)


def period_of(moment: dt.datetime) -> str:
    return moment.strftime("%Y-%m")


def new_id(prefix: str) -> str:
    return f"{prefix}_{uuid.uuid4().hex[:16]}"


def store_url(settings: Settings, name: str = "management", kind: str | None = None) -> str:
    """SQLite file ``<data_dir>/<name>/<name>.sqlite`` or the PostgreSQL DSN: ``kind`` says
    which (default: ``management.store``; the control plane passes ``control.store``)."""
    if (kind or settings.management.store) == "postgres":
        return settings.postgres.dsn.replace("postgresql://", "postgresql+psycopg://", 1)
    path = Path(settings.data_dir) / name / f"{name}.sqlite"
    path.parent.mkdir(parents=True, exist_ok=True)
    return f"sqlite:///{path}"


class Store:
    """The engine plus ``transaction()``; SQLite transactions take the write lock up front
    (``BEGIN IMMEDIATE``) so concurrent writers queue instead of failing to upgrade."""

    def __init__(self, url: str, pool_size: int = 20) -> None:
        self.url = url
        self.dialect = sa.engine.make_url(url).get_backend_name()
        if self.dialect == "sqlite":
            self.engine = sa.create_engine(url, connect_args={"timeout": 30, "check_same_thread": False})
            event.listen(self.engine, "connect", _sqlite_connect)
            event.listen(self.engine, "begin", lambda conn: conn.exec_driver_sql("BEGIN IMMEDIATE"))
            # SQLite has no exact decimal type; the embedded profile accepts that (documented).
            warnings.filterwarnings("ignore", message=".*does \\*not\\* support Decimal.*")
        else:
            self.engine = sa.create_engine(
                url, pool_size=pool_size, max_overflow=pool_size, pool_pre_ping=True, pool_timeout=10
            )

    @classmethod
    def from_settings(cls, settings: Settings) -> Store:
        return cls(store_url(settings))

    @contextmanager
    def _guard(self) -> Iterator[None]:
        """Turn a lost or refused connection into ``ManagementUnavailable`` (with the rule)."""
        try:
            yield
        except (exc.OperationalError, exc.InterfaceError) as err:
            if _is_outage(err):
                raise ManagementUnavailable(
                    f"management store unavailable ({self.dialect}): {_first_line(err)}; new quota "
                    "grants, keys and tenants are refused until it is back (running agents keep "
                    "the leases they hold)"
                ) from None
            raise

    @contextmanager
    def transaction(self) -> Iterator[sa.Connection]:
        with self._guard(), self.engine.begin() as conn:
            yield conn

    def migrate(self, revision: str = "head") -> None:
        """Upgrade the schema to ``revision``."""
        from alembic import command

        with self._guard(), self.engine.begin() as conn:
            command.upgrade(self._alembic_config(conn), revision)

    def downgrade(self, revision: str = "base") -> None:
        from alembic import command

        with self.engine.begin() as conn:
            command.downgrade(self._alembic_config(conn), revision)

    def current_revision(self) -> str | None:
        from alembic.runtime.migration import MigrationContext

        with self.engine.connect() as conn:
            return MigrationContext.configure(conn).get_current_revision()

    def _alembic_config(self, conn: sa.Connection) -> Any:
        from alembic.config import Config

        logging.getLogger("alembic").setLevel(logging.WARNING)  # it narrates every step at INFO
        cfg = Config()
        cfg.set_main_option("script_location", str(MIGRATIONS))
        cfg.attributes["connection"] = conn
        return cfg

    def close(self) -> None:
        self.engine.dispose()


def audit(
    conn: sa.Connection, actor: str, tenant: str | None, action: str, subject: str, **detail: Any
) -> None:
    """Append one audit entry in the caller's transaction: the change and its record commit together."""
    conn.execute(
        audit_log.insert().values(
            at=utcnow(), actor=actor, tenant_id=tenant, action=action, subject=subject, detail=detail
        )
    )


def _sqlite_connect(dbapi_conn: Any, _record: Any) -> None:
    dbapi_conn.isolation_level = None  # SQLAlchemy's "begin" event issues BEGIN IMMEDIATE itself
    cur = dbapi_conn.cursor()
    cur.execute("PRAGMA journal_mode=WAL")
    cur.execute("PRAGMA foreign_keys=ON")
    cur.execute("PRAGMA busy_timeout=30000")
    cur.close()


def _is_outage(err: exc.DBAPIError) -> bool:
    text = str(err.orig).lower()
    if "database is locked" in text:
        return False
    return err.connection_invalidated or any(
        s in text
        for s in (
            "connection refused",
            "could not connect",
            "server closed the connection",
            "connection timeout",
            "timeout expired",
            "terminating connection",
            "connection is closed",
            "consuming input failed",
            "unable to open database",
        )
    )


def _first_line(err: Exception) -> str:
    return str(getattr(err, "orig", err)).strip().splitlines()[0]
