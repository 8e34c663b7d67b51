"""Lakes for the benchmarks: the embedded layout, or PostgreSQL catalog + S3 with a SeaweedFS
server and a PostgreSQL database of the benchmark's own (started and removed by it)."""

from __future__ import annotations

import tempfile
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from auraison.lakehouse.catalog import Lake
from auraison.settings import Settings

LAYOUTS = ("embedded", "postgres+s3")
ADMIN_DSN = "postgresql://postgres@127.0.0.1:5432/postgres"


@contextmanager
def lake_factory(layout: str) -> Iterator[callable]:
    """Yields ``new_lake()``; each call is a fresh, empty lake of ``layout``. Every lake's home
    (its data and its ~235 MB copy of the DuckDB extensions) is removed afterwards: a P2 run
    makes dozens of lakes, and they once filled the disk."""
    with (
        tempfile.TemporaryDirectory(prefix="auraison-bench-lakes-") as root,
        _factory(layout, Path(root)) as new_lake,
    ):
        yield new_lake


@contextmanager
def _factory(layout: str, root: Path) -> Iterator[callable]:
    def home() -> Path:
        return Path(tempfile.mkdtemp(dir=root))

    if layout == "embedded":
        yield lambda: Lake(Settings(home=home()))
        return
    import psycopg
    from minio import Minio

    from auraison.services.local import LocalServices, free_weed_port

    svc = LocalServices(Settings(home=home(), s3={"port": free_weed_port()}))
    svc.up(("s3",))
    access, secret = svc.s3_credentials()
    endpoint = f"127.0.0.1:{svc.settings.s3.port}"
    minio = Minio(endpoint, access_key=access, secret_key=secret, secure=False)
    databases: list[str] = []

    def new_lake() -> Lake:
        name = f"bench_{uuid.uuid4().hex[:10]}"
        with psycopg.connect(ADMIN_DSN, autocommit=True) as conn:
            conn.execute(f'CREATE DATABASE "{name}"')
        databases.append(name)
        minio.make_bucket(name.replace("_", "-"))
        settings = Settings(
            home=home(),
            postgres={"dsn": ADMIN_DSN.rsplit("/", 1)[0] + "/" + name},
            s3={
                "endpoint": endpoint,
                "access_key": access,
                "secret_key": secret,
                "bucket": name.replace("_", "-"),
            },
        )
        return Lake(settings, catalog="postgres", storage="s3")

    try:
        yield new_lake
    finally:
        svc.down(("s3",))
        with psycopg.connect(ADMIN_DSN, autocommit=True) as conn:
            for name in databases:
                conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
