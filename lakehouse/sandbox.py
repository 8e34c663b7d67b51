"""Read-only, tenant-scoped SQL over the lake for agents, in two layers.

1. ``check`` reads the statement: it must parse (DuckDB's own parser, not regexes) as exactly one
   SELECT whose syntax tree names only the lake's tables, unqualified, and CTEs — no table
   functions (``read_csv``, ``glob``, ``query`` …), no catalogs or schemas, no file or settings
   functions. It gives clear refusals, but it is only a reading of names, and DuckDB's binder
   resolves names by scope: the two can disagree.
2. So the statement never runs where the lake is. It runs in an in-memory DuckDB of its own into
   which only the caller's rows of the tables the statement mentions (and only the columns it can
   use) were copied (through Parquet files in a private temporary folder, deleted at once); then
   external access was switched off, extension loading and Python replacement scans are off, the
   configuration is locked, and the statement runs in a read-only transaction. A query that
   slips past the checker binds against nothing but those rows: no lake catalog, no ducklake
   metadata tables, no other tenant, no file system, no lake paths.

The copy is pinned to the snapshot current when the query starts, and kept (``DATABASES``, a
small LRU keyed by Lake object, tenant, snapshot and columns) so that the same question of an
unchanged lake skips it; each query gets its own cursor and read-only transaction on it. Only
the copy happens under the lake's lock; the statement itself runs outside it.

Tenancy comes from ``tables.tenancy``: a table's own ``tenant`` column, or a parent row's (runs
through experiments, params and metrics through runs). Each table brings at most ``max_rows`` of
the caller's rows; more is refused with a clear error rather than cut silently.
"""

from __future__ import annotations

import contextlib
import json
import re
import shutil
import tempfile
import threading
import uuid
import weakref
from collections import OrderedDict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import duckdb

from auraison.errors import UserError

from .catalog import ALIAS, Lake, data_unreachable
from .tables import TABLES, TENANT_COLUMN, tenancy

FORBIDDEN_FUNCTIONS = re.compile(
    r"^(read_|glob$|getenv$|query$|query_table$|sniff_csv$|parquet_|ducklake_|iceberg_|delta_|sqlite_|"
    r"postgres_|mysql_|http|load_|install_|duckdb_|pragma_|which_secret$|current_setting$|enable_|disable_)",
    re.I,
)
MAX_ROWS = 2_000_000  # of the caller's rows per table brought into one query
TIMEOUT_S = 60.0
MEMORY_LIMIT = "2GB"

# The sandbox database's settings: set when it opens (before anything is loaded) …
_OPEN_CONFIG: dict[str, Any] = {
    "python_enable_replacements": False,  # no Python variables as tables (another tenant's rows, say)
    "autoload_known_extensions": False,
    "autoinstall_known_extensions": False,
    "allow_community_extensions": False,
    "allow_persistent_secrets": False,
    "enable_external_file_cache": False,
    "temp_directory": "",  # nothing spills to disk
    "memory_limit": MEMORY_LIMIT,
}
# … and once the caller's rows are in: no file system, no changes to any of this.
_LOCK_STATEMENTS = ("SET enable_external_access = false", "SET lock_configuration = true")


# Serialising a statement's syntax tree never runs it; one empty database does it for every query.
_PARSER = duckdb.connect(":memory:", config={"python_enable_replacements": False})
_PARSER_LOCK = threading.Lock()


class QueryRejected(UserError):
    """The query is not a single, read-only SELECT over the lake's tables."""


@dataclass(frozen=True)
class Plan:
    """A checked statement and what it needs: each lake table it mentions with the (lower-case)
    columns it can use, ``None`` for all of them."""

    statement: str
    tables: dict[str, frozenset[str] | None]


def check(sql: str) -> str:
    return analyse(sql).statement


def analyse(sql: str) -> Plan:
    if not isinstance(sql, str) or not sql.strip():
        raise QueryRejected("empty query", "send one SELECT statement")
    try:
        statements = duckdb.extract_statements(sql)
    except duckdb.Error as exc:
        raise QueryRejected(f"not valid SQL: {str(exc).splitlines()[0]}") from None
    if len(statements) != 1:
        raise QueryRejected(f"{len(statements)} statements; exactly one SELECT is allowed")
    if statements[0].type != duckdb.StatementType.SELECT:
        raise QueryRejected(
            f"{statements[0].type.name} statements are not allowed", "use SELECT (or WITH … SELECT)"
        )
    with _PARSER_LOCK:
        cur = _PARSER.cursor()
        try:
            tree = json.loads(cur.execute("SELECT json_serialize_sql(?)", [sql]).fetchone()[0])
        finally:
            cur.close()
    if tree.get("error"):
        raise QueryRejected(f"cannot analyse the query: {tree.get('error_message', 'parse error')}")
    ctes: set[str] = set()
    _collect_ctes(tree, ctes)
    _walk(tree, ctes)
    refs = _Refs()
    _gather(tree, refs)
    mentioned = [t for t in TABLES if t in refs.tables]
    if refs.all_columns or refs.bare & (refs.tables | refs.aliases | ctes):
        needed: frozenset[str] | None = None  # a whole row is asked for (*, a table as a value, …)
    else:
        needed = frozenset(refs.names)
    return Plan(statements[0].query, {t: needed for t in mentioned})


def _collect_ctes(node: Any, out: set[str]) -> None:
    if isinstance(node, dict):
        for entry in (node.get("cte_map") or {}).get("map", []) or []:
            if isinstance(entry, dict) and "key" in entry:
                out.add(str(entry["key"]).lower())
        for v in node.values():
            _collect_ctes(v, out)
    elif isinstance(node, list):
        for v in node:
            _collect_ctes(v, out)


def _walk(node: Any, ctes: set[str]) -> None:
    if isinstance(node, list):
        for v in node:
            _walk(v, ctes)
        return
    if not isinstance(node, dict):
        return
    kind = node.get("type")
    if kind == "TABLE_FUNCTION":
        fn = (node.get("function") or {}).get("function_name", "?")
        raise QueryRejected(f"table function {fn}() is not allowed", f"query the tables: {', '.join(TABLES)}")
    if kind == "SHOW_REF" and not node.get("query"):
        raise QueryRejected("SHOW is not allowed", "the lake's tables are listed by lake_list_tables")
    if kind == "BASE_TABLE":
        name = str(node.get("table_name", "")).lower()
        if node.get("catalog_name") or node.get("schema_name"):
            raise QueryRejected(
                f"qualified table names are not allowed ({name})", "write just the table name"
            )
        if name not in TABLES and name not in ctes:
            raise QueryRejected(f"unknown table {name!r}", f"tables: {', '.join(TABLES)}")
        if node.get("at_clause"):
            raise QueryRejected("AT (…) is not allowed in the query", "pass the snapshot as `version`")
    if node.get("class") == "FUNCTION" and FORBIDDEN_FUNCTIONS.match(str(node.get("function_name", ""))):
        raise QueryRejected(f"function {node['function_name']}() is not allowed")
    for v in node.values():
        _walk(v, ctes)


@dataclass
class _Refs:
    tables: set[str] = field(default_factory=set)
    aliases: set[str] = field(default_factory=set)
    names: set[str] = field(default_factory=set)
    bare: set[str] = field(default_factory=set)  # one-part references: a column, or a whole row
    all_columns: bool = False


_KNOWN_REFS = {"BASE_TABLE", "JOIN", "SUBQUERY", "EXPRESSION_LIST", "EMPTY_FROM", "EMPTY"}  # else: whole rows


def _gather(node: Any, refs: _Refs) -> None:
    """Which tables and columns the statement can touch. Anything that reaches columns without
    naming them (``*``, ``COLUMNS``, NATURAL joins, positional column aliases, PIVOT, a table used
    as a value, DESCRIBE/SUMMARIZE) asks for whole rows. Being generous only costs copying."""
    if isinstance(node, list):
        for v in node:
            _gather(v, refs)
        return
    if not isinstance(node, dict):
        return
    kind, cls = node.get("type"), node.get("class")
    if cls == "STAR":
        refs.all_columns = True
    elif cls == "COLUMN_REF":
        parts = [str(p).lower() for p in node.get("column_names") or []]
        refs.names.update(parts)
        if len(parts) == 1:
            refs.bare.add(parts[0])
    elif cls is None and isinstance(kind, str) and {"alias", "sample", "query_location"} <= node.keys():
        # a table reference
        if kind not in _KNOWN_REFS or node.get("column_name_alias") or node.get("ref_type") == "NATURAL":
            refs.all_columns = True
        if kind == "BASE_TABLE":
            refs.tables.add(str(node.get("table_name", "")).lower())
        if node.get("alias"):
            refs.aliases.add(str(node["alias"]).lower())
        refs.names.update(str(c).lower() for c in node.get("using_columns") or [])
    for v in node.values():
        _gather(v, refs)


def run_query(
    lake: Lake,
    sql: str,
    tenant: str,
    limit: int = 200,
    version: int | None = None,
    *,
    max_rows: int = MAX_ROWS,
    timeout_s: float = TIMEOUT_S,
) -> dict[str, Any]:
    """Check, then run ``sql`` over the caller's rows only; at most ``limit`` rows come back."""
    plan = analyse(sql)
    try:
        return run_isolated(lake, plan, tenant, limit, version, max_rows=max_rows, timeout_s=timeout_s)
    except duckdb.BinderException:
        # The column reading missed a way this statement reaches columns (or the statement is
        # wrong): try once more with whole rows, which reports the statement's own error.
        whole = Plan(plan.statement, dict.fromkeys(plan.tables))
        return run_isolated(lake, whole, tenant, limit, version, max_rows=max_rows, timeout_s=timeout_s)


def run_isolated(
    lake: Lake,
    plan: Plan,
    tenant: str,
    limit: int = 200,
    version: int | None = None,
    *,
    max_rows: int = MAX_ROWS,
    timeout_s: float = TIMEOUT_S,
) -> dict[str, Any]:
    """Run ``plan.statement`` in a database that holds only the caller's rows of ``plan.tables``.

    This is the layer that holds even when ``check`` is wrong: tests call it with statements
    the checker would refuse. A projected run whose statement needs a column that was left out
    raises ``duckdb.BinderException`` (``run_query`` then retries with whole rows)."""
    snapshot = version if version is not None else current_snapshot(lake)
    shape = tuple(sorted((t, None if c is None else tuple(sorted(c))) for t, c in plan.tables.items()))
    key = (_token(lake), tenant, snapshot, max_rows, shape)
    base = DATABASES.get(key)
    if base is None:
        # pinned to the snapshot just read, so a commit in between cannot slip in under this key
        try:
            base, rows_held = _build(lake, plan.tables, tenant, snapshot, max_rows, version is not None)
        except duckdb.IOException as exc:  # the data files' store (S3) is away: say so, not DuckDB's words
            raise data_unreachable(lake, exc) from None
        DATABASES.put(key, base, rows_held)
    con = base.cursor()
    timer = threading.Timer(timeout_s, _interrupt, [con])
    try:
        con.execute("BEGIN TRANSACTION READ ONLY")
        timer.start()
        try:
            rel = con.execute(f"SELECT * FROM (\n{plan.statement}\n) AS q LIMIT {int(limit) + 1}")
            columns = [d[0] for d in rel.description]
            rows = rel.fetchall()
        except duckdb.InterruptException:
            raise QueryRejected(
                f"the query ran longer than {timeout_s:g} s and was stopped", "add filters or LIMIT"
            ) from None
        except duckdb.BinderException as exc:
            if any(cols is not None for cols in plan.tables.values()):
                raise
            raise QueryRejected(f"the query failed: {str(exc).splitlines()[0]}") from None
        except duckdb.Error as exc:
            raise QueryRejected(f"the query failed: {str(exc).splitlines()[0]}") from None
    finally:
        timer.cancel()
        con.close()
    truncated = len(rows) > limit
    rows = rows[:limit]
    return {
        "columns": columns,
        "rows": [[_plain(v) for v in r] for r in rows],
        "row_count": len(rows),
        "truncated": truncated,
        "notice": f"only the first {limit} rows are shown; add LIMIT or filters" if truncated else "",
    }


def _interrupt(con: duckdb.DuckDBPyConnection) -> None:
    with contextlib.suppress(duckdb.Error):
        con.interrupt()


def open_sandbox(
    lake: Lake,
    tables: dict[str, frozenset[str] | None],
    tenant: str,
    version: int | None = None,
    *,
    max_rows: int = MAX_ROWS,
) -> duckdb.DuckDBPyConnection:
    """A fresh in-memory DuckDB holding only ``tenant``'s rows of ``tables`` (as of ``version``),
    with external access off, the configuration locked and a read-only transaction open. The
    caller closes it. Whatever runs on it can reach nothing else."""
    con, _ = _build(lake, tables, tenant, version, max_rows, check_version=version is not None)
    con.execute("BEGIN TRANSACTION READ ONLY")
    return con


def _build(
    lake: Lake,
    tables: dict[str, frozenset[str] | None],
    tenant: str,
    version: int | None,
    max_rows: int,
    check_version: bool,
) -> tuple[duckdb.DuckDBPyConnection, int]:
    """The locked sandbox database and how many rows it holds."""
    workdir = Path(tempfile.mkdtemp(prefix="auraison-sandbox-"))
    try:
        files, rows = _bring(lake, tables, tenant, version, workdir, max_rows, check_version)
        con = duckdb.connect(":memory:", config=_OPEN_CONFIG)
        try:
            for table, path in files.items():
                con.execute(f"CREATE TABLE {_q(table)} AS FROM read_parquet('{path}')")
            for statement in _LOCK_STATEMENTS:
                con.execute(statement)
        except BaseException:
            con.close()
            raise
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    return con, rows


class _Databases:
    """Recent sandbox databases by (lake, tenant, snapshot, tables and columns): a question asked
    again of an unchanged lake skips the copy. Each holds one tenant's rows of one snapshot, so
    nothing a query could do to it reaches anyone else, and a new snapshot is a new key. Bounded
    by entries and by rows held; an evicted database is freed when its last query ends."""

    def __init__(self, entries: int, rows: int) -> None:
        self.entries, self.rows = entries, rows
        self._items: OrderedDict[tuple, tuple[duckdb.DuckDBPyConnection, int]] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, key: tuple) -> duckdb.DuckDBPyConnection | None:
        with self._lock:
            if key not in self._items:
                return None
            self._items.move_to_end(key)
            return self._items[key][0]

    def put(self, key: tuple, con: duckdb.DuckDBPyConnection, rows: int) -> None:
        with self._lock:
            self._items[key] = (con, rows)
            while len(self._items) > self.entries or (
                len(self._items) > 1 and sum(r for _, r in self._items.values()) > self.rows
            ):
                self._items.popitem(last=False)

    def clear(self) -> None:
        with self._lock:
            self._items.clear()


DATABASES = _Databases(entries=16, rows=MAX_ROWS)


_TOKENS: weakref.WeakKeyDictionary[Lake, str] = weakref.WeakKeyDictionary()


def _token(lake: Lake) -> str:
    """One Lake object's key in ``DATABASES``: a lake re-created at the same place (snapshot
    numbers starting again) is another object, so it never meets an old copy."""
    with _PARSER_LOCK:
        return _TOKENS.setdefault(lake, uuid.uuid4().hex)


def current_snapshot(lake: Lake) -> int:
    with lake.lock:
        return int(lake.con.execute(f"FROM {ALIAS}.current_snapshot()").fetchone()[0])


def _bring(
    lake: Lake,
    tables: dict[str, frozenset[str] | None],
    tenant: str,
    version: int | None,
    workdir: Path,
    max_rows: int,
    check_version: bool,
) -> tuple[dict[str, Path], int]:
    """Copy the caller's rows of each table (as of ``version``) into a Parquet file of its own."""
    at = f" AT (VERSION => {int(version)})" if version is not None else ""
    files: dict[str, Path] = {}
    total = 0
    with lake.lock:
        cur = lake.con.cursor()
        try:
            if check_version and version is not None:
                known = cur.execute(
                    f"SELECT count(*) FROM {ALIAS}.snapshots() WHERE snapshot_id = ?", [int(version)]
                ).fetchone()[0]
                if not known:
                    raise QueryRejected(f"no snapshot {version}", "lake_snapshots lists them")
            for table, wanted in tables.items():
                try:
                    tenancy(table)
                except KeyError as exc:
                    raise QueryRejected(f"table {table!r} cannot be scoped to a tenant: {exc}") from None
                try:
                    shape = cur.execute(f"SELECT * FROM {ALIAS}.{table}{at} LIMIT 0").description
                    have = [d[0] for d in shape]
                except duckdb.Error as exc:
                    raise QueryRejected(
                        f"table {table} cannot be read{' at that snapshot' if at else ''}: "
                        f"{str(exc).splitlines()[0]}"
                    ) from None
                cols = have if wanted is None else [c for c in have if c.lower() in wanted] or have[:1]
                select, params = _scoped(table, at, ", ".join(map(_q, cols)), tenant)
                path = workdir / f"{table}.parquet"
                written = cur.execute(
                    f"COPY ({select} LIMIT {int(max_rows) + 1}) TO '{path}' "
                    "(FORMAT parquet, COMPRESSION uncompressed)",
                    params,
                ).fetchone()[0]
                if written > max_rows:
                    raise QueryRejected(
                        f"{table} holds more than {max_rows:,} of your rows; the sandbox brings at most "
                        f"{max_rows:,} rows of a table into one query",
                        "ask the plane's own tools for big aggregates, or query an older, smaller snapshot",
                    )
                files[table] = path
                total += written
        finally:
            cur.close()
    return files, total


def _scoped(table: str, at: str, select: str, tenant: str) -> tuple[str, list[Any]]:
    """SELECT ``select`` FROM the lake's ``table`` — the tenant's rows only, by its own tenant
    column or through its parent's."""
    link = tenancy(table)
    if link is None:
        return f"SELECT {select} FROM {ALIAS}.{table}{at} WHERE {_q(TENANT_COLUMN)} = ?", [tenant]
    column, parent, parent_column = link
    inner, params = _scoped(parent, at, _q(parent_column), tenant)
    return f"SELECT {select} FROM {ALIAS}.{table}{at} WHERE {_q(column)} IN ({inner})", params


def _q(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def _plain(v: Any) -> Any:
    if isinstance(v, int | float | str | bool) or v is None:
        return v
    return str(v)
