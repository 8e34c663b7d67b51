"""Read-only, tenant-scoped SQL over the lake for agents.

A query must parse (DuckDB's own parser, not regexes) as exactly one SELECT; its syntax tree
may name only the lake's tables, unqualified, and CTEs — no table functions (``read_csv``,
``glob``, ``query`` …), no catalogs or schemas (so no ``lake.spans`` around the filters), no
file or settings functions. It then runs against per-query views in which tenant-scoped tables
show only the caller's rows, with a row limit and a truncation notice.
"""

from __future__ import annotations

import json
import re
from typing import Any

import duckdb

from auraison.errors import UserError

from .catalog import ALIAS, Lake
from .tables import TABLES, TENANT_SCOPED

FORBIDDEN_FUNCTIONS = re.compile(
    r"^(read_|glob$|getenv$|query$|query_table$|sniff_csv$|parquet_|ducklake_|iceberg_|delta_|sqlite_|"
    r"postgres_|mysql_|http|load_|install_|duckdb_|pragma_|which_secret$|current_setting$|enable_|disable_)",
    re.I,
)


class QueryRejected(UserError):
    """The query is not a single, read-only SELECT over the lake's tables."""


def check(sql: str) -> str:
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
    con = duckdb.connect()
    try:
        tree = json.loads(con.execute("SELECT json_serialize_sql(?)", [sql]).fetchone()[0])
    finally:
        con.close()
    if tree.get("error"):
        raise QueryRejected(f"cannot analyse the query: {tree.get('error_message', 'parse error')}")
    ctes: set[str] = set()
    _collect_ctes(tree, ctes)
    _walk(tree, ctes)
    return statements[0].query


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
    if kind == "BASE_TABLE":
        name = str(node.get("table_name", "")).lower()
        if node.get("catalog_name") or node.get("schema_name"):
            raise QueryRejected(
                f"qualified table names are not allowed ({name})", "write just the table name"
            )
        if name not in TABLES and name not in ctes:
            raise QueryRejected(f"unknown table {name!r}", f"tables: {', '.join(TABLES)}")
    if node.get("class") == "FUNCTION" and FORBIDDEN_FUNCTIONS.match(str(node.get("function_name", ""))):
        raise QueryRejected(f"function {node['function_name']}() is not allowed")
    for v in node.values():
        _walk(v, ctes)


def run_query(
    lake: Lake, sql: str, tenant: str, limit: int = 200, version: int | None = None
) -> dict[str, Any]:
    """Check, then run ``sql`` with tenant-filtered views; at most ``limit`` rows come back."""
    statement = check(sql)
    at = f" AT (VERSION => {int(version)})" if version is not None else ""
    with lake.lock:
        cur = lake.con.cursor()
        try:
            for table in TABLES:
                where = (
                    f" WHERE tenant = '{tenant.replace(chr(39), chr(39) * 2)}'"
                    if table in TENANT_SCOPED
                    else ""
                )
                cur.execute(
                    f"CREATE OR REPLACE TEMP VIEW {table} AS SELECT * FROM {ALIAS}.{table}{at}{where}"
                )
            try:
                rel = cur.execute(f"SELECT * FROM (\n{statement}\n) AS q LIMIT {int(limit) + 1}")
            except duckdb.Error as exc:
                raise QueryRejected(f"the query failed: {str(exc).splitlines()[0]}") from None
            columns = [d[0] for d in rel.description]
            rows = rel.fetchall()
        finally:
            cur.close()
    truncated = len(rows) > limit
    rows = rows[:limit]
    return {
        "columns": columns,
        "rows": [[_plain(v) for v in r] for r in rows],
        "row_count": len(rows),
        "truncated": truncated,
        "notice": f"only the first {limit} rows are shown; add LIMIT or filters" if truncated else "",
    }


def _plain(v: Any) -> Any:
    if isinstance(v, int | float | str | bool) or v is None:
        return v
    return str(v)
