"""R3 — the lake sandbox against escapes: a grammar of hostile SQL, and what isolation costs.

The grammar (Hypothesis strategies) composes

* a *source* that would reach outside the caller's rows — file table functions on the lake's
  own files, a secret file, ``/etc``; the DuckLake catalog and its metadata tables
  (``lake.params``, ``__ducklake_metadata_lake.ducklake_data_file`` …); system views
  (``duckdb_settings()``, ``duckdb_databases()`` …); ``query()``; a path as a table; or simply
  another tenant's rows in any lake table — or a *scalar* that would (``getenv``,
  ``current_setting``);
* a *shape* that embeds it: bare, subquery, CTE, a CTE shadowing a lake table, scalar subquery,
  EXISTS, UNION BY NAME, LATERAL, JOIN, ``to_json`` of whole rows, DESCRIBE/SUMMARIZE;
* a *statement* around that: the SELECT itself, COPY … TO, EXPORT DATABASE, ATTACH, SET,
  INSTALL/LOAD, CREATE TABLE AS, a second statement after ``;``, comments;
* and surface noise: the case of names, quoting, whitespace.

Each case is run twice, as tenant ``acme`` with tenant ``globex`` next door:

1. through ``run_query`` (checker, then sandbox) — refused, or answered without a leak;
2. straight on a sandbox connection holding all of acme's tables, *without the checker* —
   stopped by DuckDB (external access off, configuration locked, read-only transaction,
   nothing else in the database), or answered without a leak.

A leak is any answer naming globex's rows, the secret file's or an environment secret's
content, the lake's paths or catalog tables; or a file written outside. Any leak fails the run.

Then latency: the same questions through the sandbox and through today's per-query views in the
lake's own connection (the pre-R3 mechanism, kept here as the baseline), same lake, same run.

Run: ``python -m auraison.bench.lake_r3 [--cases 500 --rows 1000,10000,100000 --repeat 15]``.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import shutil
import statistics
import tempfile
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import duckdb
from hypothesis import strategies as st

from auraison.lakehouse.catalog import ALIAS, Lake
from auraison.lakehouse.sandbox import DATABASES, QueryRejected, analyse, open_sandbox, run_query
from auraison.lakehouse.tables import TABLES, TENANT_COLUMN, TENANT_PARENT, TENANT_SCOPED
from auraison.lakehouse.writer import append

ME, OTHER = "acme", "globex"
FILE_SECRET = "FILESECRET-7f3a"
ENV_NAME, ENV_SECRET = "AURAISON_R3_SECRET", "ENVSECRET-91c2"

# --- two tenants, one row each per table (the isolation test uses the same seeding) -------------

INTERNAL = {"schema_version"}


def lake_tables(lake: Lake) -> dict[str, dict[str, str]]:
    """Every table of the attached lake with its columns and types, from the catalog itself."""
    rows = lake.execute(
        "SELECT table_name, column_name, data_type FROM information_schema.columns "
        "WHERE table_catalog = ? ORDER BY table_name, ordinal_position",
        [ALIAS],
    ).fetchall()
    out: dict[str, dict[str, str]] = {}
    for table, column, type_ in rows:
        out.setdefault(table, {})[column] = type_
    return out


def parents_first(tables: list[str]) -> list[str]:
    done: list[str] = []
    while len(done) < len(tables):
        before = len(done)
        for t in tables:
            if t not in done and (t not in TENANT_PARENT or TENANT_PARENT[t][1] in done):
                done.append(t)
        if len(done) == before:
            raise ValueError(f"parent links form a cycle or miss a table: {sorted(set(tables) - set(done))}")
    return done


def _value(tenant: str, table: str, column: str, type_: str) -> Any:
    if type_ == "JSON":
        return {"owner": tenant, "note": f"{tenant}-{table}-{column}"}
    if type_ == "VARCHAR":
        return f"{tenant}-{table}-{column}"
    if type_.endswith("[]"):
        return [1.0, 2.0]
    return 1.5 if type_ in ("DOUBLE", "FLOAT") else 7


def row_for(tenant: str, table: str, columns: dict[str, str]) -> dict[str, Any]:
    row = {c: _value(tenant, table, c, t) for c, t in columns.items()}
    if TENANT_COLUMN in columns:
        row[TENANT_COLUMN] = tenant
    if table in TENANT_PARENT:
        column, parent, parent_column = TENANT_PARENT[table]
        row[column] = f"{tenant}-{parent}-{parent_column}"  # the parent row's key for this tenant
    return row


def seed_two_tenants(lake: Lake, tenants: tuple[str, str] = (ME, OTHER)) -> dict[str, dict[str, str]]:
    """One row per tenant in every lake table, children pointing at their tenant's parent."""
    schema = {t: cols for t, cols in lake_tables(lake).items() if t not in INTERNAL}
    for table in parents_first(list(schema)):
        append(lake, table, [row_for(tenant, table, schema[table]) for tenant in tenants])
    return schema


# --- the grammar -------------------------------------------------------------------------------


@dataclass(frozen=True)
class Targets:
    """What the hostile SQL aims at, for one lake."""

    secret_file: str
    lake_root: str
    data_glob: str
    meta_file: str
    out_file: str
    out_dir: str

    def files(self) -> list[str]:
        return [self.secret_file, self.data_glob, self.meta_file, "/etc/passwd", self.lake_root + "/*"]


FILE_FUNCTIONS = (
    "read_csv", "read_csv_auto", "read_parquet", "parquet_scan", "read_json", "read_json_auto",
    "read_ndjson", "read_text", "read_blob", "glob", "sniff_csv", "parquet_metadata", "parquet_schema",
    "parquet_file_metadata", "parquet_kv_metadata",
)  # fmt: skip
SYSTEM_SOURCES = (
    "duckdb_settings()", "duckdb_databases()", "duckdb_tables()", "duckdb_columns()", "duckdb_views()",
    "duckdb_secrets()", "duckdb_extensions()", "duckdb_schemas()", "duckdb_functions()",
    "duckdb_temporary_files()", "pragma_database_list()", "pragma_table_info('lake.params')",
    "ducklake_snapshots('lake')", "ducklake_table_info('lake')", "ducklake_list_files('lake', 'params')",
    "lake.snapshots()", "query('SELECT * FROM lake.params')", "query_table('lake.params')",
    "query('SELECT * FROM params')", "information_schema.tables", "information_schema.columns",
    "pg_catalog.pg_tables", "system.main.duckdb_settings()", "(SHOW ALL TABLES)", "(SHOW DATABASES)",
    "(FROM duckdb_settings())", "(SUMMARIZE lake.params)", "(DESCRIBE lake.params)",
)  # fmt: skip
METADATA_TABLES = (
    "ducklake_metadata", "ducklake_snapshot", "ducklake_table", "ducklake_data_file", "ducklake_column",
    "ducklake_schema", "ducklake_file_column_stats", "ducklake_delete_file",
)  # fmt: skip
SCALARS = (
    f"getenv('{ENV_NAME}')", "current_setting('secret_directory')", "current_setting('temp_directory')",
    "current_setting('enable_external_access')", "current_database()", "version()",
    "(SELECT string_agg(path, ',') FROM duckdb_databases())", "(SELECT count(*) FROM lake.params)",
    "(SELECT max(value) FROM lake.params)", "(SELECT string_agg(tenant, ',') FROM lake.experiments)",
)  # fmt: skip


def _case_noise(draw: st.DrawFn, name: str) -> str:
    style = draw(st.sampled_from(("lower", "upper", "mixed", "quoted")))
    if style == "upper":
        return name.upper()
    if style == "mixed":
        return "".join(c.upper() if i % 2 else c for i, c in enumerate(name))
    if style == "quoted" and "." in name and "(" not in name:
        return ".".join(f'"{p}"' for p in name.split("."))
    return name


@st.composite
def sources(draw: st.DrawFn, t: Targets) -> str:
    """A FROM item that would reach past the caller's rows."""
    kind = draw(st.sampled_from(("file", "system", "catalog", "metadata", "path", "table", "table")))
    if kind == "file":
        fn = _case_noise(draw, draw(st.sampled_from(FILE_FUNCTIONS)))
        return f"{fn}('{draw(st.sampled_from(t.files()))}')"
    if kind == "system":
        return draw(st.sampled_from(SYSTEM_SOURCES))
    if kind == "catalog":
        table = draw(st.sampled_from(list(TABLES)))
        prefix = draw(st.sampled_from(("lake", "lake.main", "memory.main", "main", "temp.main")))
        return _case_noise(draw, f"{prefix}.{table}")
    if kind == "metadata":
        return _case_noise(draw, f"__ducklake_metadata_lake.{draw(st.sampled_from(METADATA_TABLES))}")
    if kind == "path":
        path = draw(st.sampled_from(t.files()))
        return draw(st.sampled_from((f"'{path}'", f'"{path}"')))
    return draw(st.sampled_from(list(TABLES)))  # the caller's own table: its rows must be its own


@st.composite
def selects(draw: st.DrawFn, t: Targets) -> str:
    """A query shape around a hostile source or scalar."""
    src = draw(sources(t))
    table = draw(st.sampled_from(list(TABLES)))
    shape = draw(st.integers(0, 15))
    if shape == 0:
        return f"SELECT * FROM {src}"
    if shape == 1:
        return f"FROM {src}"
    if shape == 2:
        return f"SELECT * FROM (SELECT * FROM {src}) s"
    if shape == 3:
        return f"WITH x AS (SELECT * FROM {src}) SELECT * FROM x"
    if shape == 4:  # a CTE named like a lake table: the checker reads a name, the binder a scope
        return f"WITH {table} AS (SELECT * FROM {src}) SELECT * FROM {table}"
    if shape == 5:
        return f"SELECT (SELECT count(*) FROM {src}) AS n"
    if shape == 6:
        return f"SELECT * FROM {table} WHERE EXISTS (SELECT 1 FROM {src})"
    if shape == 7:
        return f"SELECT to_json(x) AS j FROM {src} x"
    if shape == 8:
        return f"SELECT * FROM {table} UNION ALL BY NAME SELECT * FROM {src}"
    if shape == 9:
        return f"SELECT * FROM {table} a, LATERAL (SELECT * FROM {src}) b"
    if shape == 10:
        return f"SELECT * FROM {table} JOIN {src} ON true"
    if shape == 11:
        return f"SELECT * FROM (DESCRIBE SELECT * FROM {src})"
    if shape == 12:
        return f"SELECT * FROM (SUMMARIZE SELECT * FROM {src})"
    if shape == 13:
        scalar = draw(st.sampled_from(SCALARS))
        return draw(
            st.sampled_from(
                (
                    f"SELECT {scalar} AS v",
                    f"SELECT {scalar} AS v FROM {table}",
                    f"SELECT * FROM {table} WHERE {scalar} IS NOT NULL",
                    f"SELECT list_transform([1], x -> {scalar}) AS v",
                    f"SELECT CASE WHEN true THEN {scalar} END AS v",
                )
            )
        )
    if shape == 14:
        return f"WITH RECURSIVE r(n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM r WHERE n < 2) FROM r, {src}"
    return f"SELECT list(x) AS l FROM (SELECT * FROM {src}) x"


@st.composite
def statements(draw: st.DrawFn, t: Targets) -> str:
    """A whole submission: the SELECT, or a statement that would write, attach or reconfigure."""
    q = draw(selects(t))
    kind = draw(st.integers(0, 14))
    out = {
        0: q,
        1: q,
        2: q,
        3: f"COPY ({q}) TO '{t.out_file}'",
        4: f"EXPORT DATABASE '{t.out_dir}'",
        5: f"ATTACH 'ducklake:{t.meta_file}' AS stolen; SELECT * FROM stolen.params",
        6: f"ATTACH '{t.meta_file}' AS stolen (READ_ONLY); {q}",
        7: f"SET enable_external_access = true; {q}",
        8: f"SET lock_configuration = false; SET enable_external_access = true; {q}",
        9: f"INSTALL httpfs; LOAD httpfs; {q}",
        10: f"LOAD ducklake; {q}",
        11: f"CREATE TABLE stolen AS {q}",
        12: f"{q}; COPY (SELECT 1) TO '{t.out_file}'",
        13: f"SELECT 1) q; {q}; SELECT * FROM (SELECT 1",  # breaks out of the sandbox's wrapping
        14: f"ROLLBACK; {q}",
    }[kind]
    noise = draw(st.sampled_from(("", "comment", "newlines", "trailing")))
    if noise == "comment":
        return f"/* r3 */ {out}"
    if noise == "newlines":
        return out.replace(" ", draw(st.sampled_from(("\n", "\t", "  "))))
    if noise == "trailing":
        return f"{out} -- ;"
    return out


# --- probing -----------------------------------------------------------------------------------


class Leak(AssertionError):
    """An answer held something the caller must not see, or a file was written."""


@dataclass
class Probe:
    """A two-tenant lake with the things an escape would be after, and a tally of outcomes."""

    lake: Lake
    targets: Targets
    forbidden: tuple[str, ...]
    tally: Counter = field(default_factory=Counter)
    cases: int = 0
    baseline: bool = False  # run both layers on the pre-R3 views instead, and count leaks
    leaks: list[str] = field(default_factory=list)

    def check_answer(self, sql: str, layer: str, text: str, data_only: bool = False) -> None:
        """``data_only`` for error messages, which may echo the paths the statement itself named."""
        markers = (OTHER, FILE_SECRET, ENV_SECRET) if data_only else self.forbidden
        found = [f for f in markers if f.lower() in text.lower()]
        if found:
            raise Leak(f"{layer}: {sql!r} revealed {found}: {text[:500]}")
        for path in (self.targets.out_file, self.targets.out_dir):
            if Path(path).exists():
                raise Leak(f"{layer}: {sql!r} wrote {path}")

    def full_path(self, sql: str) -> str:
        """Checker, then sandbox: the way every agent query goes."""
        try:
            analyse(sql)
        except QueryRejected:
            return "refused by the checker"
        try:
            res = (
                views_baseline(self.lake, sql, ME, 50) if self.baseline else run_query(self.lake, sql, ME, 50)
            )
        except (QueryRejected, duckdb.Error) as exc:
            self.check_answer(sql, "run_query error", str(exc), data_only=True)
            return "failed in the sandbox"
        self.check_answer(sql, "run_query", repr(res))
        return "answered, nothing leaked"

    def sandbox_only(self, sql: str) -> str:
        """No checker at all: the raw submission on a sandbox connection with every table."""
        con = self._views_cursor() if self.baseline else open_sandbox(self.lake, dict.fromkeys(TABLES), ME)
        try:
            try:
                cur = con.execute(sql)
                text = repr(cur.fetchall() if cur.description else None)
            except duckdb.Error as exc:
                self.check_answer(sql, "sandbox error", str(exc), data_only=True)
                return f"stopped by DuckDB ({type(exc).__name__.removesuffix('Exception')})"
            self.check_answer(sql, "sandbox", text)
            return "answered, nothing leaked"
        finally:
            con.close()
            if self.baseline:
                self._undo_baseline()

    def _views_cursor(self) -> duckdb.DuckDBPyConnection:
        cur = self.lake.con.cursor()
        for table in TABLES:
            where = f" WHERE tenant = '{ME}'" if table in TENANT_SCOPED else ""
            cur.execute(f"CREATE OR REPLACE TEMP VIEW {table} AS SELECT * FROM {ALIAS}.{table}{where}")
        return cur

    def _undo_baseline(self) -> None:
        """A hostile statement on the lake's own connection may leave things behind; clear them."""
        with contextlib.suppress(duckdb.Error):
            self.lake.con.execute("DETACH DATABASE IF EXISTS stolen")
        with contextlib.suppress(duckdb.Error):
            self.lake.con.execute("DROP TABLE IF EXISTS memory.main.stolen")

    def run(self, sql: str) -> None:
        self.cases += 1
        for layer, fn in (("with checker", self.full_path), ("sandbox alone", self.sandbox_only)):
            try:
                outcome = fn(sql)
            except Leak as leak:
                if not self.baseline:
                    raise
                self.leaks.append(f"{layer}: {leak}")
                outcome = "LEAKED"
                for path in (self.targets.out_file, self.targets.out_dir):
                    with contextlib.suppress(OSError):
                        Path(path).unlink() if Path(path).is_file() else shutil.rmtree(path)
            self.tally[f"{layer}: {outcome}"] += 1


@contextlib.contextmanager
def probe_lake(root: Path, lake: Lake | None = None) -> Any:
    """A two-tenant lake under ``root`` (or ``lake``) with a secret file and an environment secret."""
    from auraison.settings import Settings

    own = lake is None
    lk = lake or Lake(Settings(home=root / "home"))
    seed_two_tenants(lk)
    secret = root / "secret.csv"
    secret.write_text(f"secret\n{FILE_SECRET}\n")
    old_env = os.environ.get(ENV_NAME)
    os.environ[ENV_NAME] = ENV_SECRET
    targets = Targets(
        secret_file=str(secret),
        lake_root=str(lk.root),
        data_glob=lk.data_path + "**/*.parquet",
        meta_file=str(lk.catalog_file or lk.root / "meta.ducklake"),
        out_file=str(root / "out.csv"),
        out_dir=str(root / "export"),
    )
    forbidden = [
        OTHER,
        FILE_SECRET,
        ENV_SECRET,
        str(lk.root),
        "__ducklake_metadata",
        "meta.ducklake",
        "meta.sqlite",
    ]
    if lk.catalog == "postgres":
        from auraison.lakehouse.catalog import libpq

        forbidden.append(libpq(lk.settings.postgres.dsn))
    try:
        yield Probe(lk, targets, tuple(forbidden))
    finally:
        if old_env is None:
            os.environ.pop(ENV_NAME, None)
        else:
            os.environ[ENV_NAME] = old_env
        if own:
            lk.close()


def run_corpus(probe: Probe, n: int, seed: int | None = None) -> Probe:
    """``n`` generated cases through both layers (Hypothesis drives the grammar)."""
    from hypothesis import HealthCheck, given, settings

    @settings(
        max_examples=n,
        database=None,
        deadline=None,
        derandomize=seed is not None,
        suppress_health_check=list(HealthCheck),
    )
    @given(sql=statements(probe.targets))
    def one(sql: str) -> None:
        probe.run(sql)

    one()
    return probe


# --- latency: the sandbox vs today's views -----------------------------------------------------

QUESTIONS = {
    "count": "SELECT count(*) FROM spans",
    "GROUP BY tool": "SELECT tool, count(*) AS n, avg(end_ns - start_ns) FROM spans GROUP BY tool ORDER BY n",
    "JSON attribute": "SELECT count(*) FROM spans WHERE attributes->>'$.\"gen_ai.tool.name\"' = 'robot_3'",
    "SELECT * LIMIT 20": "SELECT * FROM spans ORDER BY start_ns LIMIT 20",
    "runs ⋈ params": "SELECT r.status, p.key, count(*) FROM runs r JOIN params p USING (run_id) GROUP BY ALL",
}


def views_baseline(
    lake: Lake, sql: str, tenant: str, limit: int = 200, children: bool = False
) -> list[tuple]:
    """The mechanism before R3: tenant-filtered temp views in the lake's own connection.
    ``children`` adds the R3 scoping of runs/params/metrics (a fair latency baseline); without it
    these are the views as they were, params leak and all."""
    statement = analyse(sql).statement
    with lake.lock:
        cur = lake.con.cursor()
        try:
            for table in TABLES:
                cur.execute(f"CREATE OR REPLACE TEMP VIEW {table} AS {_view(table, tenant, children)}")
            return cur.execute(f"SELECT * FROM (\n{statement}\n) AS q LIMIT {limit + 1}").fetchall()
        finally:
            cur.close()


def _view(table: str, tenant: str, children: bool) -> str:
    if table in TENANT_SCOPED:
        return f"SELECT * FROM {ALIAS}.{table} WHERE tenant = '{tenant}'"
    if children and table in TENANT_PARENT:
        column, parent, parent_column = TENANT_PARENT[table]
        inner = _view(parent, tenant, children)
        return f"SELECT * FROM {ALIAS}.{table} WHERE {column} IN (SELECT {parent_column} FROM ({inner}))"
    return f"SELECT * FROM {ALIAS}.{table}"


def _seed_volume(lake: Lake, n: int) -> None:
    from .lake_p2 import rows

    for tenant, offset in ((ME, 0), (OTHER, 10**9)):
        for start in range(0, n, 10_000):
            batch = rows(min(10_000, n - start), offset + start)
            for r in batch:
                r["tenant"] = tenant
            append(lake, "spans", batch)
    for tenant in (ME, OTHER):
        append(lake, "experiments", [{"experiment_id": f"e-{tenant}", "tenant": tenant, "name": "x"}])
        runs = [
            {"run_id": f"r-{tenant}-{i}", "experiment_id": f"e-{tenant}", "status": "done"} for i in range(50)
        ]
        append(lake, "runs", runs)
        params = [{"run_id": r["run_id"], "key": f"k{j}", "value": str(j)} for r in runs for j in range(10)]
        append(lake, "params", params)


def _spread(times: list[float]) -> str:
    from ._common import pct

    return f"p10–p90 {pct(times, 10) * 1e3:.1f}–{pct(times, 90) * 1e3:.1f}"


def _timed(fn: Any, repeat: int) -> list[float]:
    times = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return times


def latency(sizes: list[int], repeat: int) -> None:
    from auraison.settings import Settings

    from ._common import report

    for n in sizes:
        lake = Lake(Settings(home=Path(tempfile.mkdtemp())))
        _seed_volume(lake, n)
        for name, sql in QUESTIONS.items():
            new = run_query(lake, sql, ME, limit=200)["rows"]
            old = [[v if isinstance(v, int | float | str | bool) or v is None else str(v) for v in r]
                   for r in views_baseline(lake, sql, ME, children=True)]  # fmt: skip
            assert sorted(map(repr, new)) == sorted(map(repr, old)), (name, new[:3], old[:3])  # same answers
            t_old = _timed(lambda lake=lake, sql=sql: views_baseline(lake, sql, ME, children=True), repeat)

            def cold(lake: Lake = lake, sql: str = sql) -> None:
                DATABASES.clear()  # as after a commit: the caller's rows are copied again
                run_query(lake, sql, ME, limit=200)

            t_cold = _timed(cold, repeat)
            t_warm = _timed(lambda lake=lake, sql=sql: run_query(lake, sql, ME, limit=200), repeat)
            m_old, m_cold, m_warm = (statistics.median(t) for t in (t_old, t_cold, t_warm))
            report(
                f"{n:,} spans/tenant, {name}",
                f"views p50 {m_old * 1e3:.1f} ms ({_spread(t_old)}); sandbox cold {m_cold * 1e3:.1f} ms "
                f"({_spread(t_cold)}), kept {m_warm * 1e3:.1f} ms ({_spread(t_warm)})",
                ratio=f"cold {m_cold / m_old:.2f}×, kept {m_warm / m_old:.2f}× views",
            )
        lake.close()


def main() -> None:
    from auraison.logging import configure_logging

    from ._common import machine, report

    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--cases", type=int, default=500)
    ap.add_argument("--rows", default="1000,10000,100000", help="spans per tenant, comma-separated")
    ap.add_argument("--repeat", type=int, default=15)
    ap.add_argument("--skip-latency", action="store_true")
    ap.add_argument(
        "--baseline-cases", type=int, default=200, help="cases also run against the pre-R3 views (0: none)"
    )
    args = ap.parse_args()
    configure_logging("json", "warning")
    print(f"R3 lake sandbox — {machine()}")
    if args.cases:
        with tempfile.TemporaryDirectory() as root, probe_lake(Path(root)) as probe:
            t0 = time.perf_counter()
            run_corpus(probe, args.cases)
            elapsed = time.perf_counter() - t0
            report("escape corpus", f"{probe.cases} generated cases, 0 leaks, {elapsed:.1f} s")
            for outcome, count in sorted(probe.tally.items()):
                report(f"  {outcome}", str(count))
    if args.baseline_cases:
        with tempfile.TemporaryDirectory() as root, probe_lake(Path(root)) as probe:
            probe.baseline = True
            run_corpus(probe, args.baseline_cases)
            report(
                "same grammar vs the pre-R3 views",
                f"{probe.cases} cases, {len(probe.leaks)} leaks (expected: the grammar finds them)",
            )
            for outcome, count in sorted(probe.tally.items()):
                report(f"  {outcome}", str(count))
            for leak in probe.leaks[:8]:
                print("    e.g.", leak[:300])
    if not args.skip_latency:
        latency([int(x) for x in args.rows.split(",")], args.repeat)


if __name__ == "__main__":
    main()
