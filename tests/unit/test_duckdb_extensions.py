"""DuckDB extensions come from the PyPI wheels, never from the network."""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

import duckdb
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


def _homes_files(extension_dir: Path) -> dict[str, Path]:
    return {p.name.split(".")[0]: p for p in extension_dir.rglob("*.duckdb_extension")}


def test_a_home_links_the_wheel_files_instead_of_copying(tmp_path: Path) -> None:
    ext.install_extensions(tmp_path)
    files = _homes_files(tmp_path)
    assert set(files) == {"ducklake", "httpfs", "postgres_scanner", "sqlite_scanner", "vss"}
    wheel = ext.wheel_file("vss", "v" + duckdb.__version__)
    assert files["vss"].samefile(wheel)  # one inode: the home adds no 160 MB
    assert files["vss"].parent.parent.name == "v" + duckdb.__version__  # <version>/<platform>/


@pytest.fixture
def other_filesystem() -> Iterator[Path]:
    """A folder on tmpfs (/dev/shm): no hard link from the venv's disk can reach it."""
    d = Path(tempfile.mkdtemp(prefix="auraison-ext-", dir="/dev/shm"))
    yield d
    shutil.rmtree(d)


def test_another_filesystem_gets_a_copy_that_loads(other_filesystem: Path) -> None:
    wheel = ext.wheel_file("vss", "v" + duckdb.__version__)
    assert other_filesystem.stat().st_dev != wheel.stat().st_dev
    assert ext.install_extensions(other_filesystem, ("vss",)) == ["vss"]
    copied = _homes_files(other_filesystem)["vss"]
    assert copied.stat().st_nlink == 1 and copied.stat().st_size == wheel.stat().st_size
    ext.load_extensions(ext.connect(extension_dir=other_filesystem), ("vss",))


def test_a_missing_wheel_says_which_package(tmp_path: Path) -> None:
    with pytest.raises(ext.ExtensionError, match="duckdb-extension-nosuch is not installed"):
        ext.install_extensions(tmp_path, ("nosuch",))


def test_embedded_ducklake_catalog_round_trip(tmp_path: Path) -> None:
    con = ext.ensure_extensions(tmp_path / "ext")
    con.execute(f"ATTACH 'ducklake:{tmp_path / 'meta.ducklake'}' AS lake (DATA_PATH '{tmp_path / 'data'}/')")
    con.execute("CREATE TABLE lake.t AS SELECT range AS i FROM range(1000)")
    assert con.execute("SELECT sum(i) FROM lake.t").fetchone() == (499500,)
    assert con.execute("SELECT count(*) FROM lake.snapshots()").fetchone()[0] >= 2
