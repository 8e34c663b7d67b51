"""Shared fixtures: isolated Auraison home, real-service namespaces, a loopback simulator."""

from __future__ import annotations

import os
import socket
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from auraison.settings import Settings, load_settings

REPO = Path(__file__).resolve().parent.parent


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="session")
def rosmcp_cache() -> Path:
    """The ros-mcp venv is cached across tests and runs (it is built once per machine)."""
    return Path(os.environ.get("AURAISON_TEST_CACHE", REPO / ".cache")).resolve()


@pytest.fixture
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """An isolated AURAISON_HOME with no AURAISON_* variables leaking in."""
    for key in list(os.environ):
        if key.startswith("AURAISON_") or key == "ANTHROPIC_API_KEY":
            monkeypatch.delenv(key)
    monkeypatch.setenv("AURAISON_HOME", str(tmp_path / "home"))
    return tmp_path / "home"


@pytest.fixture
def settings(home: Path) -> Settings:
    return load_settings()


@pytest.fixture
def redis_prefix() -> str:
    """A unique key prefix so tests never see each other's Redis keys."""
    return f"test:{uuid.uuid4().hex[:12]}:"


@pytest.fixture
def pg_dsn() -> Iterator[str]:
    """A fresh PostgreSQL database for one test, dropped afterwards."""
    import psycopg

    admin = "postgresql://postgres@127.0.0.1:5432/postgres"
    name = f"t_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    try:
        yield f"postgresql://postgres@127.0.0.1:5432/{name}"
    finally:
        with psycopg.connect(admin, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
