"""Tenant isolation for every tenant-bearing table, found from the lake's own schema.

The tables are listed from the attached catalog (not from a hand-kept list), so a table added
later is either scoped by ``tables.tenancy`` or makes these tests fail. (The seeding lives in
``bench/lake_r3.py``, which the escape corpus shares.) Each table gets one row
per tenant, linked through its parents where it has no tenant column of its own (runs →
experiments, params/metrics → runs), and each tenant must see exactly its own row.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from auraison.bench.lake_r3 import INTERNAL, ME, OTHER, lake_tables, seed_two_tenants
from auraison.lakehouse.catalog import Lake
from auraison.lakehouse.sandbox import QueryRejected, run_query
from auraison.lakehouse.tables import TABLES, TENANT_COLUMN, tenancy
from auraison.lakehouse.writer import append
from auraison.settings import Settings

TENANTS = (ME, OTHER)


def test_every_table_of_the_lake_is_scoped(tmp_path: Path) -> None:
    lk = Lake(Settings(home=tmp_path))
    schema = lake_tables(lk)
    assert set(schema) - INTERNAL == set(TABLES)  # what the sandbox offers is what the lake holds
    for table, columns in schema.items():
        if table in INTERNAL:
            with pytest.raises(QueryRejected, match="unknown table"):
                run_query(lk, f"SELECT * FROM {table}", "acme")
            continue
        link = tenancy(table)  # raises for a table with no tenant column and no parent link
        if link is None:
            assert TENANT_COLUMN in columns
        else:
            column, parent, parent_column = link
            assert column in columns and parent_column in schema[parent]
    lk.close()


def test_each_tenant_sees_only_its_rows_in_every_table(lake: Lake) -> None:
    schema = seed_two_tenants(lake)
    for table in schema:
        for me, other in (TENANTS, TENANTS[::-1]):
            # (an alias no table names a column: the pose tables have a column `x`)
            whole = run_query(lake, f"SELECT to_json(r__) AS row FROM {table} r__", me)
            assert whole["row_count"] == 1, (table, me, whole)
            text = whole["rows"][0][0]
            assert me in text and other not in text, (table, me, text)
            assert run_query(lake, f"SELECT count(*) FROM {table}", me)["rows"] == [[1]], (table, me)
        assert run_query(lake, f"SELECT count(*) FROM {table}", "nobody")["rows"] == [[0]], table


def test_children_follow_their_parents_tenant_through_joins_and_time_travel(tmp_path: Path) -> None:
    """The issue's leak: params (and runs, metrics) carry no tenant column of their own."""
    from auraison.mcp_servers.cluster.experiments import Experiments, Metric

    settings = Settings(home=tmp_path)
    exp = Experiments(settings)  # it opens the lake of these settings
    lk = exp.lake
    mine = exp.create("acme", "mine")["experiment_id"]
    theirs = exp.create("globex", "theirs")["experiment_id"]
    run_a = exp.run_start("acme", mine, params={"lr": "0.1"})["run_id"]
    run_b = exp.run_start("globex", theirs, params={"secret_key": "globex-only"})["run_id"]
    exp.log_metrics("globex", run_b, [Metric(key="loss", value=0.5)])
    exp.log_metrics("acme", run_a, [Metric(key="acc", value=0.9)])
    before = lk.snapshots()[-1]["snapshot_id"]
    exp.run_end("globex", run_b)

    q = "SELECT r.run_id, p.key, p.value FROM runs r JOIN params p USING (run_id) ORDER BY 1, 2"
    assert run_query(lk, q, "acme")["rows"] == [[run_a, "lr", "0.1"]]
    assert run_query(lk, q, "globex")["rows"] == [[run_b, "secret_key", "globex-only"]]
    for sql in ("SELECT * FROM params", "SELECT * FROM metrics", "SELECT * FROM runs"):
        text = str(run_query(lk, sql, "acme")["rows"])
        assert run_b not in text and "globex-only" not in text and "loss" not in text, sql
    old = run_query(lk, "SELECT key FROM params ORDER BY key", "globex", version=before)
    assert old["rows"] == [["secret_key"]]
    assert run_query(lk, "SELECT count(*) FROM params", "acme", version=before)["rows"] == [[1]]
    lk.close()


def test_time_travel_to_a_missing_snapshot_is_a_clear_error(tmp_path: Path) -> None:
    lk = Lake(Settings(home=tmp_path))
    with pytest.raises(QueryRejected, match="no snapshot 99999"):
        run_query(lk, "SELECT count(*) FROM spans", "acme", version=99_999)
    with pytest.raises(QueryRejected, match="pass the snapshot as `version`"):
        run_query(lk, "SELECT count(*) FROM spans AT (VERSION => 1)", "acme")
    lk.close()


def test_rows_beyond_the_sandbox_cap_are_refused_not_cut(tmp_path: Path) -> None:
    lk = Lake(Settings(home=tmp_path))
    append(lk, "events", [{"event_id": f"e{i}", "tenant": "acme", "type": "t"} for i in range(11)])
    assert run_query(lk, "SELECT count(*) FROM events", "acme", max_rows=11)["rows"] == [[11]]
    with pytest.raises(QueryRejected, match="more than 10 of your rows"):
        run_query(lk, "SELECT count(*) FROM events", "acme", max_rows=10)
    lk.close()


BENIGN = [
    "SELECT tool, count(*) AS n FROM spans GROUP BY tool ORDER BY n, tool",
    "SELECT s.tool, e.type FROM spans s JOIN events e USING (tenant) ORDER BY ALL",
    "SELECT * FROM spans NATURAL JOIN events ORDER BY ALL",
    "SELECT x, y FROM spans AS t(x, y) ORDER BY ALL",
    "SELECT x, tool FROM spans AS t(x) ORDER BY ALL",  # positional aliases: x is the first column
    "SELECT count(*) FROM spans NATURAL JOIN events",  # joins on columns it never names
    "SELECT to_json(s) FROM spans s ORDER BY 1",
    "SELECT COLUMNS('.*_ns') FROM spans ORDER BY ALL",
    "SELECT * EXCLUDE (attributes) FROM spans ORDER BY ALL",
    "SELECT span_id, row_number() OVER (PARTITION BY tool ORDER BY start_ns) FROM spans ORDER BY ALL",
    "SELECT tool FROM spans UNION BY NAME SELECT type AS tool FROM events ORDER BY ALL",
    "WITH a AS (SELECT * FROM spans) SELECT max(end_ns - start_ns) FROM a",
    "SELECT count(*), count(attributes), max(CAST(attributes->>'i' AS INT)) FROM spans",
    "SELECT * FROM (SUMMARIZE spans) ORDER BY column_name",
    "SELECT tool, list(span_id ORDER BY span_id) FROM spans GROUP BY ALL ORDER BY ALL",
    "SELECT * FROM spans, LATERAL (SELECT spans.start_ns + 1 AS nxt) ORDER BY ALL",
]


@pytest.mark.parametrize("sql", BENIGN)
def test_copying_only_the_used_columns_gives_the_same_answers(tmp_path: Path, sql: str) -> None:
    """The sandbox copies only the columns a statement can reach; the answers must be the ones
    the whole rows give (the pre-R3 per-query views, right for tables with a tenant column)."""
    from auraison.bench.lake_r3 import views_baseline

    lk = Lake(Settings(home=tmp_path))
    rows = [
        {
            "span_id": f"s{i}",
            "tool": f"t{i % 3}",
            "tenant": t,
            "start_ns": i,
            "end_ns": 2 * i,
            "attributes": {"i": i},
        }
        for i in range(12)
        for t in TENANTS
    ]
    append(lk, "spans", rows)
    append(
        lk, "events", [{"event_id": f"e{i}", "type": f"k{i}", "tenant": t} for i in range(3) for t in TENANTS]
    )
    got = run_query(lk, sql, "acme", limit=1000)["rows"]
    want = [
        [v if isinstance(v, int | float | str | bool) or v is None else str(v) for v in r]
        for r in views_baseline(lk, sql, "acme", 1000)
    ]
    assert got == want
    lk.close()


def test_kept_sandbox_databases_follow_new_snapshots_and_stay_per_tenant(tmp_path: Path) -> None:
    lk = Lake(Settings(home=tmp_path))
    append(lk, "events", [{"event_id": "a1", "tenant": "acme", "type": "x"}])
    append(lk, "events", [{"event_id": "g1", "tenant": "globex", "type": "x"}])
    q = "SELECT string_agg(event_id, ',' ORDER BY event_id) FROM events"
    assert run_query(lk, q, "acme")["rows"] == [["a1"]]
    assert run_query(lk, q, "acme")["rows"] == [["a1"]]  # the kept database answers again
    assert run_query(lk, q, "globex")["rows"] == [["g1"]]  # same question, other tenant
    append(lk, "events", [{"event_id": "a2", "tenant": "acme", "type": "x"}])
    assert run_query(lk, q, "acme")["rows"] == [["a1,a2"]]  # a new snapshot, a new copy
    lk.execute("DELETE FROM lake.events WHERE event_id = 'a1'")
    assert run_query(lk, q, "acme")["rows"] == [["a2"]]
    lk.close()
