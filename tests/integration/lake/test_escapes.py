"""The escape corpus: hostile SQL against the sandbox, as tenant acme with tenant globex next door.

Every case runs twice — through ``run_query`` (checker, then sandbox) and raw on a sandbox
connection with no checker at all — and must either be stopped or answer without globex's rows,
the secret file, an environment secret, the lake's paths or catalog tables, or a file written.
A seed set runs in CI with a few dozen cases from the grammar (``bench/lake_r3.py``); the
``slow`` test runs 500 generated cases. The same grammar against the views the sandbox replaced
must find leaks, or the corpus proves nothing.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from auraison.bench.lake_r3 import ENV_NAME, ME, OTHER, Probe, probe_lake, run_corpus
from auraison.lakehouse.sandbox import open_sandbox
from auraison.lakehouse.tables import TABLES

SEEDS = [
    # the checker's classics
    "COPY spans TO '{out}'",
    "SELECT * FROM read_csv('{secret}')",
    "SELECT * FROM read_text('{secret}')",
    "SELECT * FROM '{secret}'",
    "ATTACH '{meta}' AS other",
    "INSTALL httpfs",
    "LOAD httpfs",
    "SET enable_external_access = true",
    "PRAGMA enable_profiling",
    "SELECT 1; DROP TABLE spans",
    "SELECT 1 /* ; */ ; DELETE FROM spans",
    "SELECT * FROM glob('{root}/*')",
    "SELECT * FROM read_parquet('{data}')",
    "SELECT * FROM lake.params",
    "SELECT * FROM main.spans",
    "SELECT * FROM __ducklake_metadata_lake.ducklake_table",
    "SELECT * FROM __ducklake_metadata_lake.ducklake_data_file",
    f"SELECT getenv('{ENV_NAME}')",
    "SELECT * FROM query('SELECT * FROM lake.params')",
    "SELECT * FROM duckdb_secrets()",
    "SELECT * FROM duckdb_settings()",
    "SELECT * FROM duckdb_databases()",
    "WITH x AS (SELECT * FROM read_csv('{secret}')) SELECT * FROM x",
    "SELECT (SELECT count(*) FROM read_json('/etc/x.json'))",
    "DELETE FROM spans",
    "CREATE TABLE t AS SELECT 1",
    # what the checker let through before R3
    "SELECT * FROM params",
    "SELECT r.*, p.* FROM runs r JOIN params p USING (run_id)",
    "SELECT key, value FROM metrics",
    "SELECT * FROM (SHOW ALL TABLES)",
    "SELECT * FROM (SHOW DATABASES)",
    "SELECT * FROM (DESCRIBE lake.params)",
    "SELECT * FROM (SUMMARIZE SELECT * FROM lake.params)",
    "WITH spans AS (SELECT * FROM lake.spans) SELECT * FROM spans",
    "SELECT to_json(x) FROM params x",
    "SELECT 1) q; SELECT * FROM lake.params; SELECT * FROM (SELECT 1",
    "SELECT * FROM spans AT (VERSION => 1)",
    "ROLLBACK; SELECT * FROM params",
    "SET lock_configuration = false",
    "EXPORT DATABASE '{outdir}'",
    "ATTACH 'ducklake:{meta}' AS stolen; SELECT * FROM stolen.params",
    "SELECT current_setting('secret_directory')",
]


@pytest.fixture(scope="module")
def probe(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Probe]:
    with probe_lake(tmp_path_factory.mktemp("r3")) as p:
        yield p


def _fill(sql: str, p: Probe) -> str:
    t = p.targets
    return sql.format(
        out=t.out_file,
        secret=t.secret_file,
        meta=t.meta_file,
        root=t.lake_root,
        data=t.data_glob,
        outdir=t.out_dir,
    )


@pytest.mark.parametrize("sql", SEEDS)
def test_seed_escapes_reach_nothing(probe: Probe, sql: str) -> None:
    probe.run(_fill(sql, probe))  # raises Leak on anything seen that must not be


def test_generated_escapes_reach_nothing(probe: Probe) -> None:
    before = probe.cases
    run_corpus(probe, 40)
    assert probe.cases - before == 40


@pytest.mark.slow
@pytest.mark.timeout(1800)
def test_500_generated_escapes_reach_nothing(probe: Probe) -> None:
    before = probe.cases
    run_corpus(probe, 500)
    assert probe.cases - before == 500


def test_the_corpus_finds_the_leaks_of_the_views_it_replaced(tmp_path: Path) -> None:
    """The same cases against the pre-R3 per-query views must leak, else the corpus is blind."""
    with probe_lake(tmp_path) as p:
        p.baseline = True
        for sql in SEEDS:
            p.run(_fill(sql, p))
        assert any("SELECT * FROM params" in leak and OTHER in leak for leak in p.leaks), p.leaks
        assert any("duckdb_databases()" in leak and "meta.sqlite" in leak for leak in p.leaks), p.leaks
        assert any("secret.csv" in leak for leak in p.leaks), p.leaks


def test_the_sandbox_database_holds_only_the_callers_tables_and_no_paths(probe: Probe) -> None:
    con = open_sandbox(probe.lake, dict.fromkeys(TABLES), ME)
    try:
        tables = {r[0] for r in con.execute("SELECT table_name FROM duckdb_tables()").fetchall()}
        assert tables == set(TABLES)
        databases = con.execute("SELECT database_name, path FROM duckdb_databases()").fetchall()
        assert {name for name, _ in databases} <= {"memory", "system", "temp"}
        assert all(path is None for _, path in databases)
        settings = dict(con.execute("SELECT name, value FROM duckdb_settings()").fetchall())
        assert settings["enable_external_access"] == "false" and settings["lock_configuration"] == "true"
        assert settings["python_enable_replacements"] == "false"
        assert settings["autoload_known_extensions"] == "false"
        assert settings["allow_community_extensions"] == "false"
        assert not any(probe.targets.lake_root in str(v) for v in settings.values())
        tenants = {
            r[0]
            for t in TABLES
            if t in ("spans", "events")
            for r in con.execute(f"SELECT tenant FROM {t}").fetchall()
        }
        assert tenants == {ME}
    finally:
        con.close()
