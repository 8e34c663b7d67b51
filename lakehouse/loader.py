"""Reading a lake dataset back for training: Arrow record batches at a fixed version.

PyTorch-free on purpose: a training job wraps the batches in whatever it uses (``torch``'s
``IterableDataset``, JAX, Ray Data), and the lake stays free of framework dependencies. A
dataset's version is the DuckLake snapshot its rows were committed in (``lineage.version`` of its
registration); reading ``AT (VERSION => v)`` gives the same rows however much is appended later,
so an experiment can name its data exactly.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass

import pyarrow as pa

from auraison.errors import NotFound, UserError

from .catalog import ALIAS, Lake

TABLES = {"frames": "sdg_frames", "episodes": "sdg_episodes"}
ORDER = {"frames": "episode_id, run_id, step", "episodes": "episode_id, run_id"}


@dataclass(frozen=True)
class DatasetVersion:
    dataset: str
    version: int
    runs: tuple[str, ...]


def versions(lake: Lake, tenant: str, dataset: str) -> list[DatasetVersion]:
    """Every version of a synthetic dataset (one per generating run), oldest first."""
    rows = lake.execute(
        f"SELECT lineage FROM {ALIAS}.datasets WHERE tenant = ? AND name = ? ORDER BY created_ns",
        [tenant, dataset],
    ).fetchall()
    out: list[DatasetVersion] = []
    for (lineage,) in rows:
        meta = json.loads(lineage) if isinstance(lineage, str) else lineage
        if meta.get("kind") == "sdg":
            runs = (*(out[-1].runs if out else ()), meta["run_id"])
            out.append(DatasetVersion(dataset, int(meta["version"]), runs))
    if not out:
        raise NotFound(f"no synthetic dataset {dataset!r} in tenant {tenant}", "run `auraison sdg run` first")
    return out


class DatasetLoader:
    """Arrow batches of a dataset's ``frames`` (labels and image URIs) or ``episodes``, as of one
    version (default: the latest when the loader is made — then fixed for its lifetime)."""

    def __init__(self, lake: Lake, tenant: str, dataset: str, version: int | None = None) -> None:
        known = versions(lake, tenant, dataset)
        self.lake, self.tenant, self.dataset = lake, tenant, dataset
        self.version = known[-1].version if version is None else int(version)
        if self.version < known[0].version:
            raise UserError(
                f"dataset {dataset!r} did not exist at version {self.version}",
                f"its versions: {', '.join(str(v.version) for v in known)}",
            )

    def batches(self, part: str = "frames", batch_rows: int = 1024) -> Iterator[pa.RecordBatch]:
        if part not in TABLES:
            raise UserError(f"unknown part {part!r}", f"choose from {', '.join(TABLES)}")
        sql = (
            f"SELECT * EXCLUDE (tenant) FROM {ALIAS}.{TABLES[part]} AT (VERSION => {self.version}) "
            f"WHERE dataset = ? AND tenant = ? ORDER BY {ORDER[part]}"
        )
        with self.lake.lock:
            cursor = self.lake.con.cursor()  # its own connection: a half-read loader blocks no one
        try:
            yield from cursor.execute(sql, [self.dataset, self.tenant]).to_arrow_reader(batch_rows)
        finally:
            cursor.close()

    def table(self, part: str = "frames") -> pa.Table:
        batches = list(self.batches(part))
        if not batches:
            return pa.table({})
        return pa.Table.from_batches(batches)

    def __iter__(self) -> Iterator[pa.RecordBatch]:
        return self.batches()
