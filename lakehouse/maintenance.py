"""``auraison lake maintain``: keep the lake fast and its storage bounded.

Small commits leave many small Parquet files (and, below DuckLake's inlining threshold, rows
inlined in the catalog); queries then pay per file. Maintenance flushes inlined rows to
Parquet, merges adjacent small files, expires snapshots older than the retention (time travel
reaches back that far, no further) and deletes the files no snapshot references any more.
"""

from __future__ import annotations

import datetime as dt
import time
from typing import Any

from .catalog import ALIAS, Lake
from .tables import TABLES


def data_files(lake: Lake) -> dict[str, int]:
    return {
        t: lake.execute(f"SELECT count(*) FROM ducklake_list_files('{ALIAS}', '{t}')").fetchone()[0]
        for t in TABLES
    }


def maintain(lake: Lake, retention_days: float) -> dict[str, Any]:
    """Run every maintenance step; returns what each changed (for people and for the event log)."""
    t0 = time.perf_counter()
    files_before = data_files(lake)
    snaps_before = len(lake.snapshots())
    cutoff = dt.datetime.now(dt.UTC) - dt.timedelta(days=retention_days)
    with lake.lock:
        flushed = lake.con.execute(f"CALL ducklake_flush_inlined_data('{ALIAS}')").fetchall()
        merged = lake.con.execute(f"CALL ducklake_merge_adjacent_files('{ALIAS}')").fetchall()
        expired = lake.con.execute(
            f"CALL ducklake_expire_snapshots('{ALIAS}', older_than => ?::TIMESTAMPTZ)", [cutoff]
        ).fetchall()
        removed = lake.con.execute(
            f"CALL ducklake_cleanup_old_files('{ALIAS}', cleanup_all => true)"
        ).fetchall()
    files_after = data_files(lake)
    return {
        "flushed_rows": sum(r[-1] for r in flushed),
        "merged": [{"table": r[1], "files_in": r[2], "files_out": r[3]} for r in merged],
        "files_before": sum(files_before.values()),
        "files_after": sum(files_after.values()),
        "snapshots_before": snaps_before,
        "snapshots_expired": len(expired),
        "snapshots_after": len(lake.snapshots()),
        "files_deleted": len(removed),
        "retention_days": retention_days,
        "seconds": round(time.perf_counter() - t0, 3),
    }
