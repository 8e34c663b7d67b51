"""The embedded lake (SQLite catalog) serves many local processes at once: real OS processes
append and query the same lake concurrently, a gateway answers `lake_query` while the CLI reads
and writes, and a lake of the old single-process layout moves to SQLite keeping its history."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from fastmcp import Client
from fastmcp.client.transports import StdioTransport

from auraison.lakehouse.catalog import Lake, LakeUnavailable, transient
from auraison.lakehouse.catalog_migration import BACKUP_SUFFIX
from auraison.lakehouse.sandbox import run_query
from auraison.lakehouse.writer import append
from auraison.settings import Settings
from tests.conftest import REPO

ROUNDS, BATCH = 12, 40

# One worker: open the lake, say "ready", wait for "go" on stdin (all three start together),
# then append ROUNDS batches of events and query the lake after each; report what it saw.
WORKER = """
import json, sys
from pathlib import Path
from auraison.lakehouse.catalog import Lake
from auraison.lakehouse.sandbox import run_query
from auraison.lakehouse.writer import append
from auraison.settings import Settings

name, rounds, batch = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
lake = Lake(Settings(home=Path(sys.argv[4])))
print("ready", flush=True)
assert sys.stdin.readline().strip() == "go"
seen = []
for r in range(rounds):
    rows = [{"event_id": f"{name}-{r}-{i}", "ts_ns": r, "plane": "data", "type": "t", "subject": name,
             "tenant": "acme", "payload": {"i": i}} for i in range(batch)]
    lake.transact(lambda _: append(lake, "events", rows))
    res = run_query(lake, "SELECT count(*) FILTER (WHERE subject = ?), count(*) FROM events".replace(
        "?", repr(name)), "acme")
    seen.append(res["rows"][0])
lake.close()
print(json.dumps({"name": name, "seen": seen}), flush=True)
"""


def _env(home: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("AURAISON_")}
    return env | {"AURAISON_HOME": str(home), "AURAISON_LOG_LEVEL": "warning", "PYTHONPATH": str(REPO)}


def test_three_processes_append_and_query_one_lake(tmp_path: Path) -> None:
    """Three processes open a new lake together, append and query at once: exact counts, no lock errors."""
    home = tmp_path / "home"
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", WORKER, name, str(ROUNDS), str(BATCH), str(home)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env=_env(home),
        )
        for name in ("a", "b", "c")
    ]
    try:
        for p in procs:  # every process holds the lake open before any writes
            assert p.stdout.readline().strip() == "ready", p.stderr.read()
        for p in procs:
            p.stdin.write("go\n")
            p.stdin.flush()
        reports = []
        for p in procs:
            out, err = p.communicate(timeout=120)
            assert p.returncode == 0, err
            assert "lock" not in err.lower(), err
            reports.append(json.loads(out.strip().splitlines()[-1]))
    finally:
        for p in procs:
            if p.poll() is None:
                p.kill()
    for rep in reports:
        own = [s[0] for s in rep["seen"]]
        assert own == [BATCH * (r + 1) for r in range(ROUNDS)]  # each read sees its own commits
        totals = [s[1] for s in rep["seen"]]
        assert totals == sorted(totals) and totals[-1] <= 3 * ROUNDS * BATCH
    lake = Lake(Settings(home=home))
    try:
        rows = lake.execute(
            "SELECT subject, count(*), count(DISTINCT event_id) FROM lake.events GROUP BY 1 ORDER BY 1"
        ).fetchall()
        assert rows == [(n, ROUNDS * BATCH, ROUNDS * BATCH) for n in ("a", "b", "c")]
        assert lake.catalog == "sqlite"
    finally:
        lake.close()


async def test_gateway_answers_while_the_cli_reads_and_writes(tmp_path: Path) -> None:
    """A stdio gateway keeps its lake open; `auraison lake query` and `ingest-events` run meanwhile."""
    home = tmp_path / "home"
    env = _env(home)
    transport = StdioTransport(
        sys.executable, ["-m", "auraison", "gateway", "--transport", "stdio"], env=env, cwd=str(REPO)
    )

    def cli(*args: str) -> subprocess.CompletedProcess[str]:
        done = subprocess.run(
            [sys.executable, "-m", "auraison", "lake", *args],
            env=env,
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert done.returncode == 0, done.stderr
        return done

    async with Client(transport, timeout=120) as c:
        events = [{"plane": "user", "type": "robot.arrived", "subject": f"room{i}"} for i in range(5)]
        await c.call_tool("lake_append_events", {"events": events})
        seen = await c.call_tool("lake_query", {"sql": "SELECT count(*) FROM events"})
        assert seen.structured_content["rows"] == [[5]]

        out = cli("query", "SELECT count(*) AS n FROM events", "--json")  # the gateway holds the lake open
        assert json.loads(out.stdout)["rows"] == [[5]]

        tenant = Settings(home=home).agentops.tenant
        src = tmp_path / "events.jsonl"
        src.write_text(
            "".join(
                json.dumps(
                    {"event_id": f"cli{i}", "ts_ns": i, "plane": "data", "type": "cli", "tenant": tenant}
                )
                + "\n"
                for i in range(7)
            )
        )
        cli("ingest-events", str(src))  # a write from another process while the gateway is open
        both = await c.call_tool(
            "lake_query", {"sql": "SELECT type, count(*) FROM events GROUP BY 1 ORDER BY 1"}
        )
        assert both.structured_content["rows"] == [["cli", 7], ["robot.arrived", 5]]


OLD_LAYOUT = """
import json, sys
from pathlib import Path
from auraison.lakehouse.catalog import Lake
from auraison.lakehouse.writer import append
from auraison.settings import Settings

lake = Lake(Settings(home=Path(sys.argv[1])), catalog="duckdb")
spans = [{"span_id": f"s{i}", "tenant": "acme", "attributes": {"i": i}} for i in range(300)]
append(lake, "spans", spans[:200])
append(lake, "spans", spans[200:])
append(lake, "spans", [{"span_id": "tiny", "tenant": "acme"}])  # inlined in the catalog
print(json.dumps(lake.snapshots()))
lake.close()
"""


def _old_layout_lake(home: Path) -> list[dict]:
    """A lake of the previous version (DuckDB catalog file), written by a process of its own."""
    done = subprocess.run(
        [sys.executable, "-c", OLD_LAYOUT, str(home)],
        env=_env(home),
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout.strip().splitlines()[-1])


def test_an_old_duckdb_catalog_moves_to_sqlite_with_its_history(tmp_path: Path) -> None:
    """Opening a DuckDB-file lake with the SQLite default copies the catalog; time travel still works."""
    home = tmp_path / "home"
    before = _old_layout_lake(home)
    lake = Lake(Settings(home=home))
    try:
        root = lake.root
        assert lake.catalog == "sqlite" and (root / "meta.sqlite").is_file()
        assert not (root / "meta.ducklake").exists() and (root / f"meta.ducklake{BACKUP_SUFFIX}").is_file()
        after = lake.snapshots()
        assert [s["snapshot_id"] for s in after[: len(before)]] == [s["snapshot_id"] for s in before]
        assert run_query(lake, "SELECT count(*) FROM spans", "acme")["rows"] == [[301]]
        first_write = next(s["snapshot_id"] for s in before if "inserted_into" in s["changes"])
        old = run_query(lake, "SELECT count(*) FROM spans", "acme", version=first_write)
        assert old["rows"] == [[200]]
        assert append(lake, "spans", [{"span_id": "new", "tenant": "acme"}]) == 1
    finally:
        lake.close()


def test_cli_migrate_catalog_reports_and_refuses_a_held_file(tmp_path: Path) -> None:
    """`auraison lake migrate-catalog` moves the catalog; a file another process holds is a plain error."""
    home = tmp_path / "home"
    _old_layout_lake(home)
    holder = Lake(Settings(home=home), catalog="duckdb")  # an old-version process holding the file
    try:
        with pytest.raises(LakeUnavailable, match="Stop the process that holds it"):
            Lake(Settings(home=home))
        assert not (holder.root / "meta.sqlite").exists()
    finally:
        holder.close()
    done = subprocess.run(
        [sys.executable, "-m", "auraison", "lake", "migrate-catalog", "--json"],
        env=_env(home),
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    report = json.loads(done.stdout)
    assert report["migrated"] and report["rows"] == 302  # 301 spans, 1 schema_version row
    assert report["to"].endswith("meta.sqlite")
    again = subprocess.run(
        [sys.executable, "-m", "auraison", "lake", "migrate-catalog", "--json"],
        env=_env(home),
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert again.returncode == 0 and json.loads(again.stdout)["migrated"] is False


def test_only_lost_commits_count_as_transient() -> None:
    """A busy catalog or a commit conflict is retried; a real error is not."""
    import duckdb

    assert transient(duckdb.TransactionException("Failed to commit DuckLake transaction: database is locked"))
    wrapped = LakeUnavailable("append failed")
    wrapped.__cause__ = duckdb.Error("database is locked")
    assert transient(wrapped)
    assert not transient(duckdb.BinderException('Referenced column "x" not found'))
    assert not transient(ValueError("database is locked"))


def test_an_open_lake_holds_no_lock_between_statements(tmp_path: Path) -> None:
    """After a write and a query, another connection can lock the catalog file exclusively."""
    import sqlite3

    lake = Lake(Settings(home=tmp_path / "home"))
    try:
        assert append(lake, "events", [{"event_id": "e1", "tenant": "acme"}]) == 1
        assert run_query(lake, "SELECT count(*) FROM events", "acme")["rows"] == [[1]]
        other = sqlite3.connect(lake.catalog_file, timeout=0)  # fail at once if anything holds a lock
        try:
            other.execute("BEGIN EXCLUSIVE")
            other.execute("ROLLBACK")
        finally:
            other.close()
    finally:
        lake.close()
