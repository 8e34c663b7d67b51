"""The DuckLake catalog in its three layouts, chosen by the settings:

* embedded — a DuckDB catalog file and a local data directory (the default);
* PostgreSQL catalog + local data;
* PostgreSQL catalog + S3 (SeaweedFS here, MinIO or any S3 in production), keys as a DuckDB secret.

Extensions come from the PyPI wheels (``extensions.py``); nothing is downloaded at run time.
"""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

import duckdb

from auraison.errors import Unavailable
from auraison.settings import Settings

from .extensions import ensure_extensions
from .tables import MIGRATIONS, SCHEMA_VERSION, TABLES

ALIAS = "lake"


class LakeUnavailable(Unavailable):
    """The catalog or the object store cannot be reached; the message says which."""


def libpq(dsn: str) -> str:
    """``postgresql://user:pw@host:port/db`` → ``dbname=db host=host port=port user=user password=pw``."""
    u = urlparse(dsn)
    parts = {"dbname": (u.path or "/postgres").lstrip("/"), "host": u.hostname or "127.0.0.1",
             "port": str(u.port or 5432), "user": u.username, "password": u.password}  # fmt: skip
    return " ".join(f"{k}={v}" for k, v in parts.items() if v)


class Lake:
    """One DuckDB connection with the lake attached as ``lake``; thread-safe by a lock."""

    def __init__(self, settings: Settings, catalog: str | None = None, storage: str | None = None) -> None:
        self.settings = settings
        self.catalog = catalog or settings.lake.catalog or "duckdb"
        self.storage = storage or settings.lake.storage or "local"
        self.root = Path(settings.data_dir or ".") / "lake"
        self.lock = threading.RLock()
        self.con = ensure_extensions(settings.duckdb_extension_dir)
        try:
            self._attach()
        except duckdb.Error as exc:
            raise LakeUnavailable(f"cannot attach the lake ({self.describe()}): {exc}") from None
        self.migrate()

    def describe(self) -> str:
        return f"{self.catalog} catalog, {self.storage} data at {self.data_path}"

    @property
    def data_path(self) -> str:
        if self.storage == "s3":
            return f"s3://{self.settings.s3.bucket}/{self.settings.lake.s3_prefix}"
        return str(self.root / "data") + "/"

    def _attach(self) -> None:
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
        else:
            self.root.mkdir(parents=True, exist_ok=True)
            target = f"ducklake:{self.root / 'meta.ducklake'}"
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

    def execute(self, sql: str, params: list[Any] | None = None) -> duckdb.DuckDBPyConnection:
        with self.lock:
            return self.con.execute(sql, params or [])

    def snapshots(self) -> list[dict[str, Any]]:
        with self.lock:
            rows = self.con.execute(f"SELECT snapshot_id, snapshot_time, changes FROM {ALIAS}.snapshots() "
                                    "ORDER BY snapshot_id").fetchall()  # fmt: skip
        return [{"snapshot_id": r[0], "time": str(r[1]), "changes": str(r[2])} for r in rows]

    def close(self) -> None:
        with self.lock:
            self.con.close()
