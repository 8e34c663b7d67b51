"""Batched, exactly-once appends to the lake, and the AgentOps trace sink built on them.

A batch goes in as one commit (DuckLake commits cost milliseconds: batch, never row by row),
columnar (a dict of NumPy arrays that DuckDB scans directly), and deduplicated by the table's
key so that replays after an outage never double-count.
"""

from __future__ import annotations

import contextlib
import json
from typing import Any

import numpy as np

from .catalog import ALIAS, Lake, LakeUnavailable
from .tables import KEYS, TABLES


def _columns(table: str) -> list[tuple[str, str]]:
    out = []
    for part in TABLES[table].split(","):
        name, _, type_ = part.strip().partition(" ")
        out.append((name, type_.strip()))
    return out


_NULL_TEXT = "\u241fnull\u241f"  # "␟null␟": printable, never a real value
_NULL_INT = np.iinfo(np.int64).min


def column(name: str, type_: str, values: list[Any]) -> tuple[np.ndarray, str]:
    """A typed NumPy column plus the SELECT expression that restores its NULLs.

    DuckDB's scan of object arrays that start with many ``None`` fails (it reaches for a pandas
    method), so NULLs travel as sentinels in typed arrays and come back through the SELECT.
    """
    if type_ in ("VARCHAR", "JSON"):
        texts = [
            _NULL_TEXT if v is None else (v if isinstance(v, str) else json.dumps(v, default=str))
            for v in values
        ]
        # numpy str arrays scan fast but arrive as ENUM: go through VARCHAR before JSON
        return np.array(
            texts, dtype=str
        ), f"CAST(NULLIF(CAST(b.{name} AS VARCHAR), '{_NULL_TEXT}') AS {type_})"
    if type_ in ("BIGINT", "INTEGER"):
        ints = np.array([_NULL_INT if v is None else int(v) for v in values], dtype=np.int64)
        return ints, f"CAST(NULLIF(b.{name}, {_NULL_INT}) AS {type_})"
    if type_ == "DOUBLE":
        floats = np.array([np.nan if v is None else float(v) for v in values], dtype=np.float64)
        return floats, f"CASE WHEN isnan(b.{name}) THEN NULL ELSE b.{name} END"
    # Anything else (lists, e.g. FLOAT[] vectors) as a 1-D object array: np.array would turn
    # equal-length lists into a 2-D array.
    objects = np.empty(len(values), dtype=object)
    objects[:] = values
    return objects, f"CAST(b.{name} AS {type_})"


def append(lake: Lake, table: str, rows: list[dict[str, Any]]) -> int:
    """Insert ``rows`` (missing keys become NULL) in one commit; returns the rows added."""
    if not rows:
        return 0
    batch: dict[str, np.ndarray] = {}
    exprs = []
    for name, type_ in _columns(table):
        batch[name], expr = column(name, type_, [r.get(name) for r in rows])
        exprs.append(expr)
    select = ", ".join(exprs)
    dedupe = ""
    if key := KEYS.get(table):  # exactly once: drop repeats inside the batch and rows already there
        same = " AND ".join(f"t.{k} = b.{k}" for k in key)
        dedupe = (
            f" WHERE NOT EXISTS (SELECT 1 FROM {ALIAS}.{table} t WHERE {same})"
            f" QUALIFY row_number() OVER (PARTITION BY {', '.join(f'b.{k}' for k in key)}) = 1"
        )
    try:
        with lake.lock:
            lake.con.register("_batch", batch)
            try:
                before = lake.con.execute(f"SELECT count(*) FROM {ALIAS}.{table}").fetchone()[0]
                lake.con.execute(f"INSERT INTO {ALIAS}.{table} SELECT {select} FROM _batch b{dedupe}")
                return lake.con.execute(f"SELECT count(*) FROM {ALIAS}.{table}").fetchone()[0] - before
            finally:
                lake.con.unregister("_batch")
    except Exception as exc:
        with lake.lock, contextlib.suppress(Exception):
            lake.con.execute("ROLLBACK")  # leave no aborted transaction behind for the retry
        raise LakeUnavailable(f"append to {table} failed ({lake.describe()}): {exc}") from exc


class LakeTraceSink:
    """``agentops.tracing.TraceSink`` on the lake's ``spans`` table (idempotent by span id)."""

    def __init__(self, lake: Lake) -> None:
        self.lake = lake

    def write(self, rows: list[dict[str, Any]]) -> None:
        append(self.lake, "spans", rows)
