"""What the sandbox's reading of a statement decides: which tables are copied in, and which
columns (``None``: whole rows). Generous is only slower; too narrow would change answers, so
anything that reaches columns without naming them must ask for whole rows."""

from __future__ import annotations

import pytest

from auraison.lakehouse.sandbox import QueryRejected, analyse


@pytest.mark.parametrize(
    ("sql", "tables"),
    [
        ("SELECT count(*) FROM spans", {"spans": frozenset()}),
        ("SELECT key, value FROM params", {"params": frozenset({"key", "value"})}),
        (
            "SELECT r.status FROM runs r JOIN params p USING (run_id)",
            {
                "runs": frozenset({"r", "status", "run_id"}),
                "params": frozenset({"r", "status", "run_id"}),
            },
        ),
        ("SELECT 1", {}),
        ("WITH spans AS (SELECT 1 AS x) SELECT x FROM spans", {"spans": frozenset({"x"})}),
    ],
)
def test_tables_and_columns_named(sql: str, tables: dict) -> None:
    assert analyse(sql).tables == tables


@pytest.mark.parametrize(
    "sql",
    [
        "SELECT * FROM spans",
        "FROM spans",
        "SELECT s FROM spans s",  # a table as a value: the whole row
        "SELECT to_json(spans) FROM spans",
        "SELECT COLUMNS('.*_ns') FROM spans",
        "SELECT x, tool FROM spans AS t(x)",  # positional column aliases
        "SELECT count(*) FROM spans NATURAL JOIN events",  # joins on columns it never names
        "SELECT * FROM (SUMMARIZE spans)",
        "SELECT * FROM (FROM spans) PIVOT (count(*) FOR tool IN ('a'))",
    ],
)
def test_whole_rows_when_columns_are_reached_without_names(sql: str) -> None:
    assert all(cols is None for cols in analyse(sql).tables.values()) and analyse(sql).tables


@pytest.mark.parametrize(
    ("sql", "match"),
    [
        ("SELECT * FROM (SHOW ALL TABLES)", "SHOW is not allowed"),
        ("SELECT * FROM spans AT (VERSION => 1)", "pass the snapshot as `version`"),
        ("SELECT * FROM schema_version", "unknown table"),
        ("SELECT * FROM lake.params", "qualified"),
    ],
)
def test_refusals_say_why(sql: str, match: str) -> None:
    with pytest.raises(QueryRejected, match=match):
        analyse(sql)
