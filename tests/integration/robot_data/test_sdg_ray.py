"""`auraison sdg run` as a user runs it: a Ray job on a real local head generates episodes in
procedurally generated mazes on two workers and writes a versioned lake dataset (frames as PNG
files, labels as Parquet and as lake rows) that the loader reads back."""

from __future__ import annotations

import io
import json
from pathlib import Path

import pyarrow.parquet as pq
import pytest
from PIL import Image

from auraison.lakehouse.catalog import Lake
from auraison.lakehouse.loader import DatasetLoader, versions
from auraison.settings import Settings
from tests.unit.test_cli import run


@pytest.mark.timeout(240)  # the session's Ray head starts in this test's setup (slow on a loaded machine)
def test_sdg_job_writes_a_versioned_dataset_on_the_local_ray_head(tmp_path: Path, ray_head: str) -> None:
    home = tmp_path / "home"
    env = {"AURAISON_RAY__DASHBOARD_URL": ray_head}
    args = ["sdg", "run", "--episodes", "4", "--worlds", "2", "--workers", "2", "--dataset", "ci", "--json"]
    res = run(home, *args, env=env)
    assert res.returncode == 0, res.stderr
    out = json.loads(res.stdout)
    assert out["dataset"] == "ci" and out["episodes"] == 4 and out["frames"] >= 4 * 5
    assert sum(out["outcomes"].values()) == 4 and out["episodes_per_s"] > 0
    folder = Path(out["location"])
    assert folder.is_relative_to(home / "data" / "datasets")
    episodes = pq.read_table(folder / "episodes.parquet").to_pylist()
    assert sorted({e["world"] for e in episodes}) == ["maze_3x3_s0", "maze_3x3_s1"]  # two generated mazes
    lake = Lake(Settings(home=home))
    try:
        frames = DatasetLoader(lake, "default", "ci", out["version"]).table()
        known = versions(lake, "default", "ci")
        (lineage,) = lake.execute("SELECT lineage FROM lake.datasets WHERE name = 'ci'").fetchone()
    finally:
        lake.close()
    assert frames.num_rows == out["frames"] and json.loads(lineage)["version"] == out["version"]
    first = frames.slice(0, 1).to_pylist()[0]
    img = Image.open(io.BytesIO(Path(first["image"]).read_bytes()))  # the PNG a worker wrote
    assert img.format == "PNG" and img.size == (96, 72)
    assert first["step"] == 0 and first["outcome"] in out["outcomes"]
    assert [(v.version, v.runs) for v in known] == [(out["version"], (out["run_id"],))]
