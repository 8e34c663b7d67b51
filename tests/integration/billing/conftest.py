"""A migrated management store on each dialect: SQLite (embedded) and a fresh PostgreSQL
database (services), so every billing test runs against both."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from auraison.mcp_servers.billing.service import Billing
from auraison.mcp_servers.billing.store import Store


def pg_url(dsn: str) -> str:
    return dsn.replace("postgresql://", "postgresql+psycopg://", 1)


@pytest.fixture(params=["sqlite", "postgres"])
def store_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'management.sqlite'}"
    else:
        yield pg_url(request.getfixturevalue("pg_dsn"))


@pytest.fixture
def billing(store_url: str) -> Iterator[Billing]:
    store = Store(store_url)
    store.migrate()
    try:
        yield Billing(store)
    finally:
        store.close()
