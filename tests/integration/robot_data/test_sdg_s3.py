"""A synthetic dataset when the lake's data is on S3 (SeaweedFS here): the frames and labels go
to the bucket, the rows to the PostgreSQL catalog, and the loader reads them back by version."""

from __future__ import annotations

import io
from pathlib import Path

from PIL import Image

from auraison.lakehouse.catalog import Lake
from auraison.lakehouse.loader import DatasetLoader
from auraison.lakehouse.sdg import publish
from auraison.sdg import plan, run_chunk
from auraison.settings import Settings


def test_sdg_files_land_in_the_bucket(
    tmp_path: Path, pg_dsn: str, s3_server: dict[str, str], s3_bucket: tuple[object, str]
) -> None:
    client, bucket = s3_bucket
    settings = Settings(
        home=tmp_path,
        postgres={"dsn": pg_dsn},
        s3={**s3_server, "bucket": bucket},
        lake={"catalog": "postgres", "storage": "s3"},
    )
    chunk = run_chunk(plan("mazes", 1, 1, 3), settings, "run-s3", transfer=False)
    out = publish(settings, "acme", "mazes", "run-s3", chunk["episodes"], chunk["frames"], {})
    assert out["location"] == f"s3://{bucket}/sdg/mazes/run-s3"
    names = {o.object_name for o in client.list_objects(bucket, prefix="sdg/mazes/run-s3/", recursive=True)}
    assert {"sdg/mazes/run-s3/episodes.parquet", "sdg/mazes/run-s3/frames.parquet"} <= names
    lake = Lake(settings)
    try:
        frames = DatasetLoader(lake, "acme", "mazes", out["version"]).table()
        labels = f"{out['location']}/frames.parquet"
        (rows,) = lake.execute("SELECT count(*) FROM read_parquet(?)", [labels]).fetchone()
    finally:
        lake.close()
    assert frames.num_rows == len(chunk["frames"]) == rows
    first = frames.column("image")[0].as_py()
    assert first.startswith(f"s3://{bucket}/sdg/mazes/run-s3/frames/")
    png = client.get_object(bucket, first.removeprefix(f"s3://{bucket}/")).read()
    assert Image.open(io.BytesIO(png)).format == "PNG"
