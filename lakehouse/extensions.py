"""DuckDB extensions without the network.

The official, signed extension files ship inside PyPI wheels (``duckdb-extension-*``). Each
home gets them in the layout DuckDB reads (``<dir>/<version>/<platform>/<name>.duckdb_extension``)
as hard links to the wheel's files: ~160 MB a home shared, not copied (a test run makes hundreds of
homes). Where a link cannot be made (another filesystem), DuckDB's own INSTALL copies the file.
Every connection points at that directory with auto-install off, so DuckDB never tries to
download anything at run time.
"""

from __future__ import annotations

import fcntl
import importlib.resources
import os
from pathlib import Path

import duckdb

from auraison.errors import ServiceError

# sqlite: the embedded lake's catalog (many local processes); vss: HNSW indexes for search.
EXTENSIONS = ("ducklake", "httpfs", "postgres", "sqlite", "vss")
# The postgres and sqlite extensions install under their entry-point names.
_LOADED_NAME = {"postgres": "postgres_scanner", "sqlite": "sqlite_scanner"}


class ExtensionError(ServiceError):
    """An extension could not be installed or loaded offline."""


def connect(
    database: str | Path = ":memory:", extension_dir: Path | None = None, read_only: bool = False
) -> duckdb.DuckDBPyConnection:
    """A DuckDB connection that autoloads only the project's locally installed extensions."""
    config: dict[str, str] = {"autoinstall_known_extensions": "false"}
    if extension_dir is not None:
        extension_dir.mkdir(parents=True, exist_ok=True)
        config["extension_directory"] = str(extension_dir)
    return duckdb.connect(str(database), read_only=read_only, config=config)


def install_extensions(extension_dir: Path, names: tuple[str, ...] = EXTENSIONS) -> list[str]:
    """Put the wheel-shipped extension files where DuckDB looks for them in ``extension_dir``;
    returns what was new. A hard link when the wheel and the home share a filesystem, a copy
    (DuckDB's INSTALL) otherwise."""
    con = connect(extension_dir=extension_dir)
    try:
        before = installed(con)
        version = con.execute("PRAGMA version").fetchone()[0]  # v1.5.5: the wheels' folder name
        place = extension_dir / version / con.execute("PRAGMA platform").fetchone()[0]
        place.mkdir(parents=True, exist_ok=True)
        for name in names:
            real = _LOADED_NAME.get(name, name)
            if real in before:
                continue
            source = wheel_file(name, version)
            try:
                os.link(source, place / f"{real}.duckdb_extension")
            except FileExistsError:
                pass  # another process (doctor, services up) linked it first
            except OSError:  # another filesystem, or links not allowed there
                con.execute(f"INSTALL '{source}'")
        return sorted(set(installed(con)) - set(before))
    finally:
        con.close()


def wheel_file(name: str, version: str) -> Path:
    """The signed extension file inside the ``duckdb-extension-<name>`` wheel, for this DuckDB."""
    try:
        package = importlib.resources.files(f"duckdb_extension_{name}")
    except ModuleNotFoundError as exc:
        raise ExtensionError(f"extension package duckdb-extension-{name} is not installed") from exc
    source = Path(str(package)) / "extensions" / version / f"{name}.duckdb_extension"
    if not source.is_file():
        raise ExtensionError(
            f"duckdb-extension-{name} has no build for DuckDB {version} ({source} missing); "
            f"install duckdb-extension-{name}=={version.lstrip('v')}"
        )
    return source


def installed(con: duckdb.DuckDBPyConnection) -> list[str]:
    rows = con.execute("select extension_name from duckdb_extensions() where installed").fetchall()
    return [r[0] for r in rows]


def load_extensions(con: duckdb.DuckDBPyConnection, names: tuple[str, ...] = EXTENSIONS) -> None:
    """LOAD each extension; fails with a clear message instead of reaching for the network."""
    for name in names:
        real = _LOADED_NAME.get(name, name)
        try:
            con.execute(f"LOAD {real}")
        except duckdb.Error as exc:
            raise ExtensionError(
                f"DuckDB extension {name!r} is not installed offline ({exc}); "
                "run `auraison doctor --fix` or lakehouse.extensions.install_extensions()"
            ) from exc


def ensure_extensions(extension_dir: Path, load: tuple[str, ...] = EXTENSIONS) -> duckdb.DuckDBPyConnection:
    """Install (once) every extension and load those in ``load``; returns a ready in-memory
    connection. Processes that start together on a new home install under one file lock, so
    none reads a half-copied extension file."""
    con = connect(extension_dir=extension_dir)
    missing = [n for n in EXTENSIONS if _LOADED_NAME.get(n, n) not in installed(con)]
    if missing:
        con.close()
        with (extension_dir / ".install.lock").open("a") as fh:
            fcntl.flock(fh, fcntl.LOCK_EX)  # released when the file closes
            probe = connect(extension_dir=extension_dir)
            try:
                missing = [n for n in EXTENSIONS if _LOADED_NAME.get(n, n) not in installed(probe)]
            finally:
                probe.close()
            if missing:
                install_extensions(extension_dir, tuple(missing))
        con = connect(extension_dir=extension_dir)
    load_extensions(con, load)
    return con
