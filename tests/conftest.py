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


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Mark tests by folder: `-m "not conformance"` skips the real-ros-mcp suite, etc."""
    for item in items:
        parts = Path(str(item.fspath)).parts
        for marker in ("integration", "conformance"):
            if marker in parts:
                item.add_marker(getattr(pytest.mark, marker))


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


@pytest.fixture(scope="session")
def ray_head(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A real local Ray head on free ports, started once per test session (the control-plane
    and robot-data tests share it) and stopped afterwards."""
    from auraison.errors import ServiceError
    from auraison.services.local import LocalServices

    for attempt in range(2):  # ports are picked free, then bound by Ray: another process may win
        home = tmp_path_factory.mktemp("rayhome")
        ports = {"head_port": free_port(), "dashboard_port": free_port(), "num_cpus": 2}
        settings = Settings(home=home, ray=ports)
        services = LocalServices(settings)
        try:
            services.up(("ray",))
            break
        except ServiceError:
            services.down(("ray",))
            if attempt:
                raise
    try:
        yield f"http://127.0.0.1:{settings.ray.dashboard_port}"
    finally:
        services.down(("ray",))


@pytest.fixture(scope="session")
def s3_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, str]]:
    """A real SeaweedFS S3 server of this test session, on free ports, stopped afterwards."""
    from auraison.services.local import s3_on_free_ports

    svc = s3_on_free_ports(lambda _: tmp_path_factory.mktemp("s3home"))
    access, secret = svc.s3_credentials()
    try:
        yield {
            "endpoint": f"127.0.0.1:{svc.settings.s3.port}",
            "access_key": access,
            "secret_key": secret,
        }
    finally:
        svc.down(("s3",))


@pytest.fixture
def s3_bucket(s3_server: dict[str, str]) -> Iterator[tuple[object, str]]:
    """A fresh, empty bucket for one test (client, name); emptied and removed afterwards."""
    from minio import Minio

    client = Minio(
        s3_server["endpoint"],
        access_key=s3_server["access_key"],
        secret_key=s3_server["secret_key"],
        secure=False,
    )
    name = f"t-{uuid.uuid4().hex[:12]}"
    client.make_bucket(name)
    try:
        yield client, name
    finally:
        for obj in client.list_objects(name, recursive=True):
            client.remove_object(name, obj.object_name)
        client.remove_bucket(name)


def pytest_configure(config: pytest.Config) -> None:
    """No test ever calls a network model: a test that needs one must opt in explicitly."""
    from pydantic_ai import models

    models.ALLOW_MODEL_REQUESTS = False
