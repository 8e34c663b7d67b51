"""Batched, exactly-once appends to the lake, and the AgentOps trace sink built on them.

A batch goes in as one commit (DuckLake commits cost milliseconds: batch, never row by row),
columnar (a dict of NumPy arrays that DuckDB scans directly), and deduplicated by the table's
key so that replays after an outage never double-count.
"""

from __future__ import annotations

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


def append(lake: Lake, table: str, rows: list[dict[str, Any]]) -> int:
    """Insert ``rows`` (missing keys become NULL) in one commit; returns the rows added."""
    if not rows:
        return 0
    cols = _columns(table)
    batch: dict[str, np.ndarray] = {}
    for name, type_ in cols:
        values = [r.get(name) for r in rows]
        if type_ == "JSON":
            values = [
                None if v is None else (v if isinstance(v, str) else json.dumps(v, default=str))
                for v in values
            ]
        batch[name] = np.array(values, dtype=object)
    key = KEYS.get(table)
    select = ", ".join(f"CAST(b.{n} AS {t})" for n, t in cols)
    dedupe = (f" QUALIFY row_number() OVER (PARTITION BY b.{key}) = 1"
              f" AND b.{key} NOT IN (SELECT {key} FROM {ALIAS}.{table})") if key else ""  # fmt: skip
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
        raise LakeUnavailable(f"append to {table} failed ({lake.describe()}): {exc}") from exc


class LakeTraceSink:
    """``agentops.tracing.TraceSink`` on the lake's ``spans`` table (idempotent by span id)."""

    def __init__(self, lake: Lake) -> None:
        self.lake = lake

    def write(self, rows: list[dict[str, Any]]) -> None:
        append(self.lake, "spans", rows)
