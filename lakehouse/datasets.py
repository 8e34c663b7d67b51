"""Registering datasets: a name for data that already sits in S3 or in an allowed local folder,
with its schema, row count and lineage recorded in the lake's ``datasets`` table.

Only ``s3://`` locations and paths inside ``lake.dataset_roots`` (plus ``<data_dir>/datasets``)
are accepted: an agent must not be able to point the lake at ``/etc``. Files are scanned one
by one with progress, so a large glob reports as it goes.
"""

from __future__ import annotations

import glob as globlib
import hashlib
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from auraison.errors import UserError
from auraison.settings import Settings

from .catalog import Lake
from .models import DatasetSpec
from .writer import append

Progress = Callable[[float, float, str], None]
READERS = {"parquet": "read_parquet", "csv": "read_csv_auto", "json": "read_json_auto"}


def allowed_roots(settings: Settings) -> list[Path]:
    return [
        p.expanduser().resolve() for p in [*settings.lake.dataset_roots, Path(settings.data_dir) / "datasets"]
    ]


def _files(lake: Lake, settings: Settings, location: str) -> list[str]:
    if location.startswith("s3://"):
        rows = lake.execute("SELECT file FROM glob(?) ORDER BY file", [location]).fetchall()
        return [r[0] for r in rows]
    if "://" in location:
        raise UserError(
            f"unsupported location {location!r}", "use s3://… or a path inside lake.dataset_roots"
        )
    path = Path(location).expanduser()
    matches = sorted(globlib.glob(str(path))) if globlib.has_magic(str(path)) else [str(path)]
    reals = (allowed_path(settings, m) for m in matches)
    return [str(real) for real in reals if real.is_file()]


def allowed_path(settings: Settings, path: str | Path) -> Path:
    """``path`` resolved (symlinks too: no escaping a root through a link), if it lies inside
    one of the allowed dataset roots; a tool may read local files there and nowhere else."""
    real = Path(path).expanduser().resolve()
    roots = allowed_roots(settings)
    if not any(real.is_relative_to(root) for root in roots):
        raise UserError(
            f"{path} is outside the allowed dataset roots",
            f"move it under one of {', '.join(map(str, roots))} or add a root to lake.dataset_roots",
        )
    return real


def register_dataset(
    lake: Lake, settings: Settings, tenant: str, spec: DatasetSpec, progress: Progress | None = None
) -> dict[str, Any]:
    files = _files(lake, settings, spec.location)
    if not files:
        raise UserError(f"no files match {spec.location}", "check the path or glob")
    fmt = spec.format or Path(files[0]).suffix.lstrip(".").replace("jsonl", "json")
    if fmt not in READERS:
        raise UserError(f"cannot tell the format of {files[0]}", "pass format: parquet, csv or json")
    reader = READERS[fmt]
    schema = [
        {"column": r[0], "type": r[1]}
        for r in lake.execute(f"DESCRIBE SELECT * FROM {reader}(?)", [files[0]]).fetchall()
    ]
    rows = 0
    for i, f in enumerate(files):
        if progress:
            progress(i, len(files), f"scanning {Path(f).name}")
        rows += lake.execute(f"SELECT count(*) FROM {reader}(?)", [f]).fetchone()[0]
    if progress:
        progress(len(files), len(files), "registered")
    dataset_id = "ds_" + hashlib.sha256(f"{tenant}\0{spec.name}\0{spec.location}".encode()).hexdigest()[:20]
    record = {
        "dataset_id": dataset_id,
        "name": spec.name,
        "location": spec.location,
        "format": fmt,
        "schema": {"columns": schema, "rows": rows, "files": len(files)},
        "lineage": spec.lineage,
        "tenant": tenant,
        "created_ns": time.time_ns(),
    }
    added = append(lake, "datasets", [record])
    return {
        "dataset_id": dataset_id,
        "new": bool(added),
        "rows": rows,
        "files": len(files),
        "columns": schema,
    }
