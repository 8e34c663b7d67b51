"""Moving an embedded lake's catalog from a DuckDB file (``meta.ducklake``, one process at a time)
to SQLite (``meta.sqlite``, many processes at once), keeping every snapshot and every data file.

A DuckLake catalog is a set of plain tables (snapshots, tables, columns, data files, stats …),
the same in every catalog database. So the move is a copy of those rows: DuckLake creates an
empty SQLite catalog with its own schema, we replace its rows with the old catalog's, and then
prove it by reading every table's row count and the snapshot list through both. Rows that
DuckLake had inlined into the old catalog are flushed to Parquet first, so the copy holds only
metadata. Parquet files are not touched (same data path), time travel still reaches every old
snapshot, and the old file stays next to the new one as ``meta.ducklake.pre-sqlite``.

Run on the first open of a lake whose settings pick the SQLite catalog (logged), or explicitly
with ``auraison lake migrate-catalog``. The old file must not be open in another process: a
process of an older version holding it is named in the error, with what to do.
"""

from __future__ import annotations

import contextlib
import os
import time
from pathlib import Path
from typing import Any

import duckdb

from auraison.errors import UserError
from auraison.settings import Settings

from .catalog import DUCKDB_FILE, SQLITE_FILE, LakeUnavailable

BACKUP_SUFFIX = ".pre-sqlite"


def _tables(con: duckdb.DuckDBPyConnection, database: str) -> list[str]:
    rows = con.execute(
        "SELECT table_name FROM duckdb_tables() WHERE database_name = ? ORDER BY table_name", [database]
    ).fetchall()
    return [r[0] for r in rows]


def _columns(con: duckdb.DuckDBPyConnection, database: str, table: str) -> list[str]:
    rows = con.execute(
        "SELECT column_name FROM duckdb_columns() WHERE database_name = ? AND table_name = ? "
        "ORDER BY column_index",
        [database, table],
    ).fetchall()
    return [r[0] for r in rows]


def _fingerprint(con: duckdb.DuckDBPyConnection, alias: str) -> dict[str, Any]:
    """What must be the same through both catalogs: the snapshots and every table's rows."""
    snaps = [r[0] for r in con.execute(f"SELECT snapshot_id FROM {alias}.snapshots() ORDER BY 1").fetchall()]
    tables = con.execute(
        "SELECT schema_name, table_name FROM duckdb_tables() WHERE database_name = ? ORDER BY 1, 2", [alias]
    ).fetchall()
    rows = {
        f"{s}.{t}": con.execute(f'SELECT count(*) FROM {alias}."{s}"."{t}"').fetchone()[0] for s, t in tables
    }
    return {"snapshots": snaps, "rows": rows}


def _detach(con: duckdb.DuckDBPyConnection, *aliases: str) -> None:
    for alias in aliases:
        with contextlib.suppress(duckdb.Error):
            con.execute(f"DETACH DATABASE IF EXISTS {alias}")


def migrate_duckdb_catalog(con: duckdb.DuckDBPyConnection, root: Path, data_path: str) -> dict[str, Any]:
    """Copy ``root/meta.ducklake`` into a new ``root/meta.sqlite``; returns what moved. The caller
    holds the lake's cross-process open lock. All or nothing: on any failure no ``meta.sqlite``
    is left and the old file is untouched but for the inlined rows flushed to Parquet."""
    old, new = root / DUCKDB_FILE, root / SQLITE_FILE
    partial = root / (SQLITE_FILE + ".partial")
    t0 = time.perf_counter()
    try:
        con.execute(f"ATTACH 'ducklake:{old}' AS _old_lake (DATA_PATH '{data_path}')")
    except duckdb.Error as exc:
        raise LakeUnavailable(
            f"the lake's catalog moves from {old} to SQLite ({new}) so that several processes can "
            f"use it, but {old} cannot be opened: {str(exc).splitlines()[0]}. Stop the process that "
            "holds it (a gateway, `auraison lake …` or an agent run of the previous version), then "
            "run `auraison lake migrate-catalog`; or keep the old layout with "
            "AURAISON_LAKE__CATALOG=duckdb (one process at a time)"
        ) from None
    try:
        con.execute("CALL ducklake_flush_inlined_data('_old_lake')")
        before = _fingerprint(con, "_old_lake")
    finally:
        _detach(con, "_old_lake")
    for leftover in (partial, Path(f"{partial}-wal"), Path(f"{partial}-shm")):
        leftover.unlink(missing_ok=True)
    try:
        # DuckLake lays out an empty catalog of its own schema (rollback journal while we build it)
        con.execute(f"ATTACH 'ducklake:sqlite:{partial}' AS _new_lake (DATA_PATH '{data_path}')")
        _detach(con, "_new_lake")
        con.execute(f"ATTACH '{old}' AS _old_meta (READ_ONLY)")
        con.execute(f"ATTACH '{partial}' AS _new_meta (TYPE sqlite)")
        copied = 0
        have = set(_tables(con, "_new_meta"))
        con.execute("BEGIN")
        for table in _tables(con, "_old_meta"):
            if table in have:
                cols = ", ".join(f'"{c}"' for c in _columns(con, "_old_meta", table))
                con.execute(f'DELETE FROM _new_meta."{table}"')
                con.execute(
                    f'INSERT INTO _new_meta."{table}" ({cols}) SELECT {cols} FROM _old_meta."{table}"'
                )
            else:  # per-table inlined-data tables DuckLake made on the way
                con.execute(f'CREATE TABLE _new_meta."{table}" AS SELECT * FROM _old_meta."{table}"')
            copied += 1
        con.execute("COMMIT")
        _detach(con, "_old_meta", "_new_meta")
        con.execute(f"ATTACH 'ducklake:sqlite:{partial}' AS _check_lake (DATA_PATH '{data_path}')")
        try:
            after = _fingerprint(con, "_check_lake")
        finally:
            _detach(con, "_check_lake")
        if after != before:
            raise LakeUnavailable(
                f"moving the lake catalog to SQLite did not reproduce it (before {before}, after {after}); "
                f"{old} is unchanged, nothing was switched"
            )
    except BaseException:
        with contextlib.suppress(duckdb.Error):
            con.execute("ROLLBACK")
        _detach(con, "_new_lake", "_old_meta", "_new_meta", "_check_lake")
        partial.unlink(missing_ok=True)
        raise
    os.replace(partial, new)
    backup = old.with_name(old.name + BACKUP_SUFFIX)
    os.replace(old, backup)
    if Path(f"{old}.wal").exists():  # checkpointed by the detach; kept beside its file all the same
        os.replace(f"{old}.wal", f"{backup}.wal")
    return {
        "from": str(old),
        "to": str(new),
        "kept_as": str(backup),
        "snapshots": len(before["snapshots"]),
        "tables": len(before["rows"]),
        "rows": sum(before["rows"].values()),
        "catalog_tables_copied": copied,
        "seconds": round(time.perf_counter() - t0, 3),
    }


def migrate_home(settings: Settings) -> dict[str, Any]:
    """``auraison lake migrate-catalog``: move this home's embedded catalog to SQLite now (the
    same move the first open makes); says so when there is nothing to move."""
    from .catalog import Lake

    chosen = settings.lake.catalog or "sqlite"
    if chosen != "sqlite":
        raise UserError(
            f"lake.catalog is {chosen!r}: only an embedded lake moves to the SQLite catalog",
            "unset AURAISON_LAKE__CATALOG (or set it to sqlite) first",
        )
    root = Path(settings.data_dir or ".") / "lake"
    new = root / SQLITE_FILE
    if new.exists() or not (root / DUCKDB_FILE).exists():
        why = "already on SQLite" if new.exists() else "no DuckDB-file catalog here"
        return {"migrated": False, "catalog": str(new), "why": why}
    lake = Lake(settings)  # opening moves it (under the cross-process lock)
    lake.close()
    if lake.migrated is None:  # another process moved it first
        return {"migrated": False, "catalog": str(new), "why": "moved by another process just now"}
    return {"migrated": True, **lake.migrated}
