"""DuckDB extensions come from the PyPI wheels, never from the network."""

from __future__ import annotations

from pathlib import Path

import pytest

from auraison.lakehouse import extensions as ext


def test_load_before_install_fails_clearly(tmp_path: Path) -> None:
    con = ext.connect(extension_dir=tmp_path)
    with pytest.raises(ext.ExtensionError, match="not installed offline"):
        ext.load_extensions(con, ("ducklake",))


def test_bootstrap_installs_once_and_loads_offline(tmp_path: Path) -> None:
    every = {"ducklake", "httpfs", "postgres_scanner", "sqlite_scanner", "vss"}
    assert set(ext.install_extensions(tmp_path)) == every
    assert ext.install_extensions(tmp_path) == []  # second time: nothing new
    con = ext.ensure_extensions(tmp_path)
    loaded = {
        r[0] for r in con.execute("select extension_name from duckdb_extensions() where loaded").fetchall()
    }
    assert every <= loaded
    assert con.execute("select current_setting('autoinstall_known_extensions')").fetchone() == (False,)


def test_embedded_ducklake_catalog_round_trip(tmp_path: Path) -> None:
    con = ext.ensure_extensions(tmp_path / "ext")
    con.execute(f"ATTACH 'ducklake:{tmp_path / 'meta.ducklake'}' AS lake (DATA_PATH '{tmp_path / 'data'}/')")
    con.execute("CREATE TABLE lake.t AS SELECT range AS i FROM range(1000)")
    assert con.execute("SELECT sum(i) FROM lake.t").fetchone() == (499500,)
    assert con.execute("SELECT count(*) FROM lake.snapshots()").fetchone()[0] >= 2
