"""The management, control and data-plane commands as a user runs them (real subprocesses)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from auraison.mcp_servers.cluster.events import EventLog
from auraison.settings import Settings
from tests.terminal import run_at_terminal
from tests.unit.test_cli import run


def test_tenant_key_quota_and_usage_from_the_cli(tmp_path: Path) -> None:
    assert run(tmp_path, "tenants", "create", "acme", "--plan", "pro").returncode == 0
    # An operator key proves a person: an agent's shell (no terminal) may not mint one …
    refused = run(tmp_path, "keys", "issue", "acme", "ci", "--role", "operator")
    assert refused.returncode == 1 and "only issue agent keys" in refused.stderr
    assert run(tmp_path, "keys", "issue", "acme", "bot", "--role", "agent").returncode == 0
    # … a person at a terminal may.
    env = {k: v for k, v in os.environ.items() if not k.startswith("AURAISON_")} | {
        "AURAISON_HOME": str(tmp_path)
    }
    cmd = [sys.executable, "-m", "auraison", "keys", "issue", "acme", "ci", "--role", "operator", "--json"]
    issued = run_at_terminal(cmd, env)
    assert issued.returncode == 0, issued.stderr
    key = json.loads(issued.stdout)
    assert key["api_key"].startswith("ak_") and key["role"] == "operator"
    quota = json.loads(run(tmp_path, "tenants", "quota-set", "acme", "tool_calls", "5000", "--json").stdout)
    assert quota[0]["limit"] == "5000.000000" and quota[0]["source"] == "override"
    listed = run(tmp_path, "keys", "list", "acme", "--json")
    assert key["api_key"] not in listed.stdout  # never shown again
    again = run(tmp_path, "tenants", "create", "acme")
    assert again.returncode == 2 and "already exists" in again.stderr and "Traceback" not in again.stderr
    revoked = json.loads(run(tmp_path, "keys", "revoke", "acme", key["id"], "--json").stdout)
    assert revoked[0]["revoked_at"]


def test_control_events_reach_the_lake_and_dispatch_needs_a_shared_queue(tmp_path: Path) -> None:
    home = tmp_path / "home"
    log = EventLog(Settings(home=home))
    for i in range(3):
        log.emit("job.submitted", f"job-{i}", "default", {"i": i})
    first = run(home, "lake", "ingest-events")
    assert first.returncode == 0 and "3 new events" in first.stdout
    assert "0 new events" in run(home, "lake", "ingest-events").stdout  # exactly once
    refused = run(home, "jobs", "enqueue", "true", "--id", "x")
    assert refused.returncode == 2 and "AURAISON_BUS__BACKEND=redis" in refused.stderr
    out = run(home, "control", "manifests", "--out", str(tmp_path / "k"))
    assert out.returncode == 0 and (tmp_path / "k" / "torch-dev-gpu.yaml").is_file()


def one_line_exit_2(res: subprocess.CompletedProcess[str]) -> str:
    lines = [ln for ln in res.stderr.splitlines() if ln.strip()]
    assert res.returncode == 2 and len(lines) == 1 and "Traceback" not in res.stderr, res.stderr
    return lines[0]


def test_bad_input_to_the_plane_commands_is_one_line(tmp_path: Path) -> None:
    """Arguments the planes' own models refuse end as one line and exit 2, like usage errors."""
    line = one_line_exit_2(run(tmp_path, "jobs", "submit", "true", "--id", "bad id!"))
    assert line.startswith("error: invalid JobRequest: submission_id:")
    line = one_line_exit_2(run(tmp_path, "tenants", "quota-set", "acme", "tool_calls", "lots"))
    assert "'lots' is not a number" in line
    line = one_line_exit_2(run(tmp_path, "tenants", "usage", "acme", "--by", "colour"))
    assert "cannot group by colour" in line


def test_plane_listings_as_json(tmp_path: Path) -> None:
    """The management and control planes' listings print JSON with --json, tables without."""
    assert run(tmp_path, "tenants", "create", "acme", "--name", "Acme").returncode == 0
    tenants = json.loads(run(tmp_path, "tenants", "list", "--json").stdout)
    assert [(t["id"], t["display_name"]) for t in tenants] == [("acme", "Acme")]
    table = run(tmp_path, "tenants", "list")
    assert "acme" in table.stdout and not table.stdout.lstrip().startswith("[")
    clusters = json.loads(run(tmp_path, "clusters", "list", "--json").stdout)
    assert clusters[0]["name"] == "local" and clusters[0]["kind"] == "local"
    assert json.loads(run(tmp_path, "jobs", "list", "--json").stdout) == []
