"""``auraison lake maintain``: keep the lake fast and its storage bounded.

Small commits leave many small Parquet files (and, below DuckLake's inlining threshold, rows
inlined in the catalog); queries then pay per file. Maintenance flushes inlined rows to
Parquet, merges adjacent small files, expires snapshots older than the retention (time travel
reaches back that far, no further) and deletes the files no snapshot references any more.

Merges are bounded: DuckLake's ``target_file_size`` option (``lake.target_file_size_mb``) caps
each merged file, and the merged files keep row groups of ``ROW_GROUP_ROWS`` rows. Merging a
table into one huge file with DuckDB's default 122,880-row groups made a scan of a narrow time
range read (and decompress) far more rows than the small files did — a 1% range ran 1.4–2×
slower after maintenance. Files merge in commit order, so each file and each row group covers a
narrow span of time, and both the catalog's file statistics and Parquet's row-group statistics
skip what a range does not touch (``python -m auraison.bench.lake_query`` shows it).
"""

from __future__ import annotations

import datetime as dt
import time
from typing import Any

from .catalog import ALIAS, Lake
from .tables import TABLES

# Rows per Parquet row group in files the lake writes (DuckDB's default is 122,880). Smaller groups
# let a range filter skip more; far smaller ones cost compression and per-group overhead.
ROW_GROUP_ROWS = 16_384


def _call(lake: Lake, sql: str, params: list[Any] | None = None) -> list[tuple]:
    """One statement, fetched under the lake's lock, retried if it loses to another writer."""
    return lake.transact(lambda con: con.execute(sql, params or []).fetchall())


def data_files(lake: Lake) -> dict[str, int]:
    return {
        t: _call(lake, f"SELECT count(*) FROM ducklake_list_files('{ALIAS}', '{t}')")[0][0] for t in TABLES
    }


def set_file_layout(lake: Lake, target_file_size_mb: float) -> None:
    """Persist the file layout in the catalog: every writer of this lake (inserts and merges, in
    any process) then writes files of at most about ``target_file_size_mb``."""
    target = max(int(target_file_size_mb * 2**20), 1 << 16)
    _call(lake, f"CALL {ALIAS}.set_option('target_file_size', '{target}B')")
    _call(lake, f"CALL {ALIAS}.set_option('parquet_row_group_size', '{ROW_GROUP_ROWS}')")


def maintain(lake: Lake, retention_days: float, target_file_size_mb: float | None = None) -> dict[str, Any]:
    """Run every maintenance step; returns what each changed (for people and for the event log)."""
    t0 = time.perf_counter()
    target = target_file_size_mb or lake.settings.lake.target_file_size_mb
    files_before = data_files(lake)
    snaps_before = len(lake.snapshots())
    cutoff = dt.datetime.now(dt.UTC) - dt.timedelta(days=retention_days)
    set_file_layout(lake, target)
    flushed = _call(lake, f"CALL ducklake_flush_inlined_data('{ALIAS}')")
    merged = _call(lake, f"CALL ducklake_merge_adjacent_files('{ALIAS}')")
    expired = _call(
        lake, f"CALL ducklake_expire_snapshots('{ALIAS}', older_than => ?::TIMESTAMPTZ)", [cutoff]
    )
    removed = _call(lake, f"CALL ducklake_cleanup_old_files('{ALIAS}', cleanup_all => true)")
    files_after = data_files(lake)
    return {
        "flushed_rows": sum(r[-1] for r in flushed),
        "merged": [{"table": r[1], "files_in": r[2], "files_out": r[3]} for r in merged],
        "files_before": sum(files_before.values()),
        "files_after": sum(files_after.values()),
        "target_file_size_mb": target,
        "snapshots_before": snaps_before,
        "snapshots_expired": len(expired),
        "snapshots_after": len(lake.snapshots()),
        "files_deleted": len(removed),
        "retention_days": retention_days,
        "seconds": round(time.perf_counter() - t0, 3),
    }
