"""CLI commands that read the machine itself, so not the services-free unit tier: doctor and
`services status` probe its PostgreSQL, Redis and NATS, and `doctor --fix` installs what is missing
(ros-mcp from PyPI)."""

from __future__ import annotations

import json
from pathlib import Path

from tests.conftest import free_port
from tests.unit.test_cli import run


def test_doctor_flags_a_stopped_service_with_its_fix(tmp_path: Path) -> None:
    dead = free_port()
    res = run(
        tmp_path,
        "doctor",
        "--json",
        env={"AURAISON_PROFILE": "services", "AURAISON_REDIS__URL": f"redis://127.0.0.1:{dead}/0"},
    )
    rows = {r["component"]: r for r in json.loads(res.stdout)}
    assert res.returncode == 1  # a service the profile needs is missing
    assert rows["redis"]["status"] == "missing" and "redis-server" in rows["redis"]["fix"]
    assert rows["postgresql"]["ok"] and rows["nats jetstream"]["ok"]
    assert rows["python packages"]["ok"]


def test_doctor_embedded_needs_only_local_parts(tmp_path: Path) -> None:
    res = run(tmp_path, "doctor", "--fix", "--json")
    rows = {r["component"]: r for r in json.loads(res.stdout)}
    assert rows["duckdb extensions"]["ok"], rows["duckdb extensions"]
    needed_missing = [r for r in rows.values() if r["needed"] and not r["ok"]]
    assert res.returncode == (1 if needed_missing else 0)


def test_services_status_json(tmp_path: Path) -> None:
    """The machine's PostgreSQL, Redis and NATS are running here; the project's own are not."""
    res = run(tmp_path, "services", "status", "--json")
    assert res.returncode == 0, res.stderr
    rows = {r["service"]: r for r in json.loads(res.stdout)}
    assert rows["postgresql"]["running"] and rows["redis"]["running"] and rows["nats"]["running"]
    assert rows["s3"]["owner"] == "auraison" and not rows["s3"]["running"]
