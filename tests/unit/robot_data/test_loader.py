"""The training loader reads a synthetic dataset at a fixed version: the same rows twice, and
still the same rows after another run appends a new version (DuckLake time travel)."""

from __future__ import annotations

import json
from pathlib import Path

import pyarrow as pa
import pytest

from auraison.errors import NotFound, UserError
from auraison.lakehouse.catalog import Lake
from auraison.lakehouse.loader import DatasetLoader, versions
from auraison.sdg import plan, publish, run_chunk
from auraison.settings import Settings
from tests.unit.test_cli import run

ACME = {"AURAISON_AGENTOPS__TENANT": "acme"}


def generate(settings: Settings, run_id: str, seed: int, transfer: bool = False) -> dict:
    """One generating run without Ray: the job's own chunk function, then its publish step."""
    chunk = run_chunk(plan("mazes", 2, 2, seed), settings, run_id, transfer=transfer)
    return publish(settings, "acme", "mazes", run_id, chunk["episodes"], chunk["frames"], {"seed": seed})


def read(settings: Settings, version: int | None = None) -> tuple[int, pa.Table]:
    lake = Lake(settings)
    try:
        loader = DatasetLoader(lake, "acme", "mazes", version)
        batches = list(loader.batches(batch_rows=16))
        assert all(isinstance(b, pa.RecordBatch) and b.num_rows <= 16 for b in batches)
        return loader.version, pa.Table.from_batches(batches)
    finally:
        lake.close()


def test_a_fixed_version_reads_the_same_rows_after_an_append(home: Path) -> None:
    settings = Settings(home=home)
    v1 = generate(settings, "run-a", seed=0)["version"]
    version, first = read(settings, v1)
    _, second = read(settings, v1)
    assert version == v1 and first.num_rows > 0 and first.equals(second)
    v2 = generate(settings, "run-b", seed=5, transfer=True)["version"]  # a new version, transferred
    assert v2 > v1
    _, after = read(settings, v1)
    assert after.equals(first)  # time travel: the appended run is invisible at v1
    latest_version, latest = read(settings)
    assert latest_version == v2 and latest.num_rows > first.num_rows
    assert set(latest.column("run_id").to_pylist()) == {"run-a", "run-b"}
    assert set(first.column("run_id").to_pylist()) == {"run-a"}
    runs, transfers = latest.column("run_id").to_pylist(), latest.column("transfer").to_pylist()
    by_run = dict(zip(runs, transfers, strict=True))
    assert by_run == {"run-a": "", "run-b": "local (stand-in)"}  # frames through world_transfer, named
    assert {"x", "y", "yaw", "v", "w", "outcome", "image"} <= set(first.column_names)  # labels
    lake = Lake(settings)
    try:
        assert [v.version for v in versions(lake, "acme", "mazes")] == [v1, v2]
        with pytest.raises(NotFound):
            DatasetLoader(lake, "globex", "mazes")  # another tenant's dataset is not there
        with pytest.raises(UserError, match="did not exist at version"):
            DatasetLoader(lake, "acme", "mazes", v1 - 1)
    finally:
        lake.close()
    # (a subprocess: the CLI configures logging for its own process)
    listed = run(home, "sdg", "versions", "--dataset", "mazes", "--json", env=ACME)
    assert listed.returncode == 0, listed.stderr
    assert json.loads(listed.stdout) == [
        {"version": v1, "runs": ["run-a"]},
        {"version": v2, "runs": ["run-a", "run-b"]},
    ]
