"""The DuckLake catalog in its layouts, chosen by the settings:

* embedded — a SQLite catalog file and a local data directory (the default). Any number of local
  processes (the gateway, the CLI, agent runs, the trace sink) read and write it at once: SQLite
  locks the file only while one commit is written (WAL mode: readers never wait), so a process
  that keeps its lake open holds no lock between statements;
* ``duckdb`` — a DuckDB catalog file: one process at a time (DuckDB locks the file for as long as
  it is attached), kept for single-process use; an existing one moves to SQLite on the first open
  with the SQLite catalog (``catalog_migration.py``);
* PostgreSQL catalog + local data, or + S3 (SeaweedFS here, MinIO or any S3 in production), keys
  as a DuckDB secret — the services profile.

Several writers meet at commit time: DuckLake retries its own snapshot conflicts, but a SQLite
catalog that is busy, or a conflict DuckLake gives up on, reaches us as an error. A commit that
fails leaves nothing behind (the whole DuckLake transaction rolls back), so ``Lake.transact``
runs the unit of work again, a bounded number of times with jittered exponential backoff.

Extensions come from the PyPI wheels (``extensions.py``); nothing is downloaded at run time.
"""

from __future__ import annotations

import contextlib
import fcntl
import random
import sqlite3
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, TypeVar
from urllib.parse import urlparse

import duckdb
import structlog

from auraison.errors import Unavailable
from auraison.settings import Settings

from .extensions import ensure_extensions
from .tables import MIGRATIONS, SCHEMA_VERSION, TABLES

ALIAS = "lake"
SQLITE_FILE = "meta.sqlite"
DUCKDB_FILE = "meta.ducklake"

log = structlog.get_logger(__name__)
T = TypeVar("T")

# What a write that met another writer looks like; anything else is a real error.
_TRANSIENT = (
    "database is locked",
    "database table is locked",
    "sqlite_busy",
    "failed to commit ducklake transaction",
    "transaction conflict",
    "conflict",
)


class LakeUnavailable(Unavailable):
    """The catalog or the object store cannot be reached; the message says which."""


def data_unreachable(lake: Lake, exc: BaseException) -> LakeUnavailable:
    """A read of the lake's data files that failed on I/O (the object store cut or down), as a
    clear error: which store, and that the same call may work later."""
    where = f"S3 at {lake.settings.s3.endpoint}" if lake.storage == "s3" else "local disk"
    return LakeUnavailable(
        f"the lake's data files ({lake.data_path}, on {where}) cannot be read now: "
        f"{str(exc).splitlines()[0][:160]}; queries work again once it is back (spans wait in the spool)"
    )


def transient(exc: BaseException | None) -> bool:
    """Whether ``exc`` (or the DuckDB error it wraps) is a commit that lost to another writer."""
    while exc is not None:
        if isinstance(exc, duckdb.Error) and any(m in str(exc).lower() for m in _TRANSIENT):
            return True
        exc = exc.__cause__
    return False


def libpq(dsn: str) -> str:
    """``postgresql://user:pw@host:port/db`` → ``dbname=db host=host port=port user=user password=pw``."""
    u = urlparse(dsn)
    parts = {"dbname": (u.path or "/postgres").lstrip("/"), "host": u.hostname or "127.0.0.1",
             "port": str(u.port or 5432), "user": u.username, "password": u.password}  # fmt: skip
    return " ".join(f"{k}={v}" for k, v in parts.items() if v)


@contextlib.contextmanager
def file_lock(path: Path) -> Iterator[None]:
    """An OS lock across processes, held only while a local lake is created, migrated or opened
    (so two first opens never both create the catalog); released at once after."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("a") as fh:
        fcntl.flock(fh, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(fh, fcntl.LOCK_UN)


def sqlite_wal(path: Path) -> None:
    """Create (or keep) ``path`` as a SQLite file in WAL mode: readers and the one writer of a
    commit never block each other. WAL is a property of the file, so setting it once is enough."""
    con = sqlite3.connect(path)
    try:
        con.execute("PRAGMA journal_mode=WAL")
    finally:
        con.close()


class Lake:
    """One DuckDB connection with the lake attached as ``lake``; thread-safe by a lock."""

    def __init__(self, settings: Settings, catalog: str | None = None, storage: str | None = None) -> None:
        self.settings = settings
        self.catalog = catalog or settings.lake.catalog or "sqlite"
        self.storage = storage or settings.lake.storage or "local"
        self.root = Path(settings.data_dir or ".") / "lake"
        self.attempts = settings.lake.commit_attempts
        self.lock = threading.RLock()
        self.migrated: dict[str, Any] | None = None  # what this open moved from a DuckDB file
        # only what this layout needs (each LOAD costs a process start ~0.2 s; vss loads for search)
        needs = ["ducklake"] + [n for n in ("sqlite", "postgres") if n == self.catalog]
        needs += ["httpfs"] if self.storage == "s3" else []
        self.con = ensure_extensions(settings.duckdb_extension_dir, tuple(needs))
        try:
            with self._opening():
                self.transact(lambda _: self._attach())
                self.transact(lambda _: self.migrate())
        except duckdb.Error as exc:
            self.con.close()
            raise LakeUnavailable(f"cannot attach the lake ({self.describe()}): {exc}") from None
        except BaseException:
            self.con.close()
            raise

    def describe(self) -> str:
        return f"{self.catalog} catalog, {self.storage} data at {self.data_path}"

    @property
    def data_path(self) -> str:
        if self.storage == "s3":
            return f"s3://{self.settings.s3.bucket}/{self.settings.lake.s3_prefix}"
        return str(self.root / "data") + "/"

    @property
    def catalog_file(self) -> Path | None:
        """The local catalog file (``None`` for PostgreSQL)."""
        return {"sqlite": self.root / SQLITE_FILE, "duckdb": self.root / DUCKDB_FILE}.get(self.catalog)

    @contextlib.contextmanager
    def _opening(self) -> Iterator[None]:
        """Local catalogs open under a short cross-process lock; a DuckDB-file catalog left by an
        older version moves to SQLite first (once, logged)."""
        if self.catalog_file is None:
            yield
            return
        self.root.mkdir(parents=True, exist_ok=True)
        with file_lock(self.root / "catalog.lock"):
            if self.catalog == "sqlite":
                old = self.root / DUCKDB_FILE
                if not self.catalog_file.exists() and old.exists():
                    from .catalog_migration import migrate_duckdb_catalog

                    self.migrated = migrate_duckdb_catalog(self.con, self.root, self.data_path)
                    log.warning("lake catalog moved from a DuckDB file to SQLite", **self.migrated)
                sqlite_wal(self.catalog_file)
            yield

    def _attach(self) -> None:
        with contextlib.suppress(duckdb.Error):
            self.con.execute(f"DETACH DATABASE IF EXISTS {ALIAS}")  # a failed try may have left it
        if self.storage == "s3":
            s3 = self.settings.s3
            if s3.access_key is None or s3.secret_key is None:
                raise LakeUnavailable(
                    "S3 storage needs s3.access_key and s3.secret_key (run `auraison services up`)"
                )
            self.con.execute(
                "CREATE OR REPLACE SECRET auraison_s3 (TYPE s3, KEY_ID ?, SECRET ?, ENDPOINT ?, "
                "URL_STYLE 'path', USE_SSL ?, REGION ?)",
                [
                    s3.access_key.get_secret_value(),
                    s3.secret_key.get_secret_value(),
                    s3.endpoint,
                    s3.secure,
                    s3.region,
                ],
            )
        else:
            (self.root / "data").mkdir(parents=True, exist_ok=True)
        if self.catalog == "postgres":
            target = f"ducklake:postgres:{libpq(self.settings.postgres.dsn)}"
        elif self.catalog == "sqlite":
            target = f"ducklake:sqlite:{self.catalog_file}"
        else:
            target = f"ducklake:{self.catalog_file}"
        self.con.execute(f"ATTACH '{target}' AS {ALIAS} (DATA_PATH '{self.data_path}')")

    def migrate(self) -> None:
        with self.lock:
            for name, columns in TABLES.items():
                self.con.execute(f"CREATE TABLE IF NOT EXISTS {ALIAS}.{name} ({columns})")
            self.con.execute(f"CREATE TABLE IF NOT EXISTS {ALIAS}.schema_version (version INTEGER)")
            current = self.con.execute(f"SELECT max(version) FROM {ALIAS}.schema_version").fetchone()[0]
            if current is None:
                self.con.execute(f"INSERT INTO {ALIAS}.schema_version VALUES ({SCHEMA_VERSION})")
                return
            for version in range(current + 1, SCHEMA_VERSION + 1):
                for statement in MIGRATIONS.get(version, []):
                    self.con.execute(statement.format(alias=ALIAS))
                self.con.execute(f"INSERT INTO {ALIAS}.schema_version VALUES ({version})")

    def transact(self, work: Callable[[duckdb.DuckDBPyConnection], T]) -> T:
        """Run ``work(con)`` — one autocommit statement, or BEGIN … COMMIT inside ``work`` — and
        run it again when its commit lost to another writer: at most ``lake.commit_attempts``
        tries, 20 ms doubling to 1 s between them, jittered so that the losers do not meet again.
        ``work`` must be safe to repeat (a failed commit has left nothing behind)."""
        delay = 0.02
        for attempt in range(1, self.attempts + 1):
            with self.lock:
                try:
                    return work(self.con)
                except (duckdb.Error, LakeUnavailable) as exc:  # the writer wraps DuckDB's errors
                    with contextlib.suppress(duckdb.Error):
                        self.con.execute("ROLLBACK")  # an explicit transaction may be left open
                    if not transient(exc) or attempt == self.attempts:
                        raise
                    log.debug("lake commit retried", attempt=attempt, error=str(exc).splitlines()[0])
            time.sleep(delay * (0.5 + random.random()))  # outside the lock: other threads go on
            delay = min(delay * 2, 1.0)
        raise AssertionError("unreachable")  # pragma: no cover

    def execute(self, sql: str, params: list[Any] | None = None) -> duckdb.DuckDBPyConnection:
        """One statement (retried like ``transact`` when its commit meets another writer), on a
        cursor of its own: the caller fetches its rows after the lock is released, and on the
        shared connection another thread's statement (the span sink's, say) would replace them."""

        def run(con: duckdb.DuckDBPyConnection) -> duckdb.DuckDBPyConnection:
            cur = con.cursor()
            try:
                return cur.execute(sql, params or [])
            except BaseException:
                cur.close()
                raise

        return self.transact(run)

    def snapshots(self) -> list[dict[str, Any]]:
        rows = self.transact(
            lambda con: con.execute(
                f"SELECT snapshot_id, snapshot_time, changes FROM {ALIAS}.snapshots() ORDER BY snapshot_id"
            ).fetchall()
        )
        return [{"snapshot_id": r[0], "time": str(r[1]), "changes": str(r[2])} for r in rows]

    def close(self) -> None:
        with self.lock:
            self.con.close()
