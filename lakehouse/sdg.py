"""Synthetic datasets in the lake: where a run's files go (a local dataset root, or S3 when
the lake's data is on S3) and publishing a run — labels as Parquet beside the frames, rows in
``sdg_episodes``/``sdg_frames`` whose snapshot is the dataset's version (``loader.py`` reads it
back at that version), and the dataset registered with its lineage. The generating job is
``auraison/sdg.py``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq

from auraison.settings import Settings


def storage(settings: Settings, dataset: str, run_id: str) -> tuple[Any, str, str]:
    """(pyarrow filesystem, path in it, URI prefix) for a run's files: S3 when the lake's data
    is on S3, else ``<data_dir>/datasets/sdg`` (an allowed dataset root)."""
    from pyarrow import fs

    if settings.lake.storage == "s3":
        s3 = settings.s3
        filesystem = fs.S3FileSystem(
            access_key=s3.access_key.get_secret_value() if s3.access_key else None,
            secret_key=s3.secret_key.get_secret_value() if s3.secret_key else None,
            endpoint_override=s3.endpoint,
            scheme="https" if s3.secure else "http",
            region=s3.region,
        )
        path = f"{s3.bucket}/sdg/{dataset}/{run_id}"
        return filesystem, path, f"s3://{path}"
    root = Path(settings.data_dir) / "datasets" / "sdg" / dataset / run_id
    return fs.LocalFileSystem(), str(root), str(root)


def publish(
    settings: Settings,
    tenant: str,
    dataset: str,
    run_id: str,
    episodes: list[dict[str, Any]],
    frames: list[dict[str, Any]],
    lineage: dict[str, Any],
) -> dict[str, Any]:
    """Labels as Parquet beside the frames, rows into the lake (their snapshot is the version),
    and the dataset registered with its lineage."""
    from .catalog import Lake
    from .datasets import DatasetSpec, register_dataset
    from .writer import append

    filesystem, base, uri = storage(settings, dataset, run_id)
    pq.write_table(pa.Table.from_pylist(episodes), f"{base}/episodes.parquet", filesystem=filesystem)
    pq.write_table(pa.Table.from_pylist(frames), f"{base}/frames.parquet", filesystem=filesystem)
    lake = Lake(settings)
    try:
        append(lake, "sdg_episodes", [{**e, "tenant": tenant} for e in episodes])
        append(lake, "sdg_frames", [{**f, "tenant": tenant} for f in frames])
        version = lake.snapshots()[-1]["snapshot_id"]
        spec = DatasetSpec(
            name=dataset,
            location=f"{uri}/frames.parquet",
            lineage={
                **lineage,
                "kind": "sdg",
                "run_id": run_id,
                "version": version,
                "episodes_file": f"{uri}/episodes.parquet",
            },
        )
        ds = register_dataset(lake, settings, tenant, spec)
    finally:
        lake.close()
    return {"dataset_id": ds["dataset_id"], "version": version, "location": uri}
