"""`lake maintain` merges small files up to a target size, never into one huge file."""

from __future__ import annotations

from pathlib import Path

from auraison.bench.lake_query import load
from auraison.lakehouse.catalog import ALIAS, Lake
from auraison.lakehouse.maintenance import ROW_GROUP_ROWS, maintain
from auraison.settings import Settings

QUERY = f"SELECT tool, count(*), sum(start_ns) FROM {ALIAS}.spans GROUP BY 1 ORDER BY 1"


def _files(lake: Lake) -> list[tuple[str, int]]:
    return lake.execute(
        f"SELECT data_file, data_file_size_bytes FROM ducklake_list_files('{ALIAS}', 'spans')"
    ).fetchall()


def test_merges_stop_at_the_target_size_and_keep_small_row_groups(tmp_path: Path) -> None:
    """Many small commits merge into several bounded files whose row groups stay small."""
    lake = Lake(Settings(home=tmp_path, lake={"target_file_size_mb": 0.25}))
    try:
        load(lake, 60_000, 4_000)  # 15 commits, ~80 KB each
        before_files = _files(lake)
        answer = lake.execute(QUERY).fetchall()
        out = maintain(lake, retention_days=0)
        after = _files(lake)
        assert out["target_file_size_mb"] == 0.25 and out["files_after"] == len(after)
        assert 2 <= len(after) < len(before_files)  # merged, but not into one file
        assert max(size for _, size in after) <= 2 * 0.25 * 2**20
        groups = lake.execute(
            f"SELECT max(row_group_num_rows) FROM parquet_metadata('{after[0][0]}')"
        ).fetchone()[0]
        assert groups <= 2 * ROW_GROUP_ROWS  # DuckDB rounds up to whole vectors; its default is 122,880
        assert lake.execute(QUERY).fetchall() == answer
        assert lake.execute(f"SELECT count(*) FROM {ALIAS}.spans").fetchone() == (60_000,)
    finally:
        lake.close()
