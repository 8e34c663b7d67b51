"""Documents, embeddings and semantic search; datasets; maintenance; schema evolution."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
from fastmcp import Client

from auraison.errors import UserError
from auraison.lakehouse.catalog import ALIAS, Lake
from auraison.lakehouse.datasets import DatasetSpec, register_dataset
from auraison.lakehouse.documents import Document, add_documents, search
from auraison.lakehouse.embeddings import HashEmbedder, MiniLMEmbedder, build_embedder
from auraison.lakehouse.maintenance import maintain
from auraison.lakehouse.sandbox import run_query
from auraison.lakehouse.writer import append
from auraison.mcp_servers.lake.server import build_server
from auraison.runtime import Runtime
from auraison.settings import Settings
from tests.integration.lake.test_lake import spans

CORPUS = {
    "dock": "The robot returns to its charging dock when the battery runs low.",
    "gpu": "Training jobs are scheduled on a Ray cluster with eight GPU workers.",
    "kitchen": "The kitchen is at the north end of the maze, past the long corridor.",
    "invoice": "Each tenant receives a monthly invoice listing usage and prices.",
    "lidar": "The laser scanner measures distances to walls in 360 directions.",
    "approval": "A human must approve open-loop driving before the robot moves.",
}
# query -> the document a semantic model must rank first (no query shares its key words)
QUESTIONS = {
    "where does the robot recharge its power?": "dock",
    "distributed deep learning on accelerators": "gpu",
    "how much will we be billed this month?": "invoice",
    "which sensor detects obstacles around the robot?": "lidar",
    "who has to sign off before manual motion?": "approval",
}


def corpus() -> list[Document]:
    return [Document(text=t, source=k, doc_id=k) for k, t in CORPUS.items()]


def test_minilm_search_returns_the_semantically_nearest_documents(lake: Lake, minilm_dir: Path) -> None:
    model = MiniLMEmbedder(minilm_dir)
    added = add_documents(lake, model, "acme", corpus())
    assert (added["documents"], added["embeddings"]) == (6, 6)
    assert add_documents(lake, model, "acme", corpus())["documents"] == 0  # idempotent
    for question, expected in QUESTIONS.items():
        hits = search(lake, model, "acme", question, k=3)["hits"]
        assert hits[0]["doc_id"] == expected, (question, hits)
        assert hits[0]["score"] > hits[1]["score"]
    assert search(lake, model, "globex", "robot battery", k=3)["hits"] == []  # tenants never mix


def test_the_hash_stand_in_works_without_the_model_and_says_what_it_is(tmp_path: Path) -> None:
    settings = Settings(home=tmp_path, lake={"model_dir": tmp_path / "nothing-here"})
    embedder = build_embedder(settings)
    assert isinstance(embedder, HashEmbedder) and "stand-in" in embedder.description
    lake = Lake(settings)
    add_documents(lake, embedder, "acme", corpus())
    out = search(lake, embedder, "acme", "the kitchen at the north end", k=2)
    assert out["hits"][0]["doc_id"] == "kitchen" and "not a semantic model" in out["embedder"]
    with pytest.raises(UserError, match="install-model"):
        build_embedder(Settings(home=tmp_path, lake={"embedder": "minilm", "model_dir": tmp_path / "none"}))
    lake.close()


def test_embeddings_are_tenant_scoped_in_the_sandbox(lake: Lake) -> None:
    add_documents(lake, HashEmbedder(), "acme", corpus())
    assert run_query(lake, "SELECT count(*) FROM embeddings", "acme")["rows"] == [[6]]
    assert run_query(lake, "SELECT count(*) FROM embeddings", "globex")["rows"] == [[0]]


async def test_search_and_register_dataset_as_tools_with_progress(tmp_path: Path, minilm_dir: Path) -> None:
    settings = Settings(home=tmp_path, lake={"model_dir": minilm_dir})
    lake = Lake(settings)
    server = build_server(Runtime(settings, lake=lake))
    root = Path(settings.data_dir) / "datasets" / "runs"
    root.mkdir(parents=True)
    for i in range(3):
        lake.execute(
            f"COPY (SELECT range AS step, range * {i}.5 AS loss FROM range(100)) TO '{root}/part{i}.parquet'"
        )
    seen: list[tuple[float, float | None, str | None]] = []

    async def on_progress(done: float, total: float | None, message: str | None) -> None:
        seen.append((done, total, message))

    async with Client(server, progress_handler=on_progress) as c:
        await c.call_tool("add_documents", {"docs": [d.model_dump() for d in corpus()]})
        found = (
            await c.call_tool("search", {"query": "where does the robot recharge?", "k": 1})
        ).structured_content
        assert found["hits"][0]["doc_id"] == "dock" and "MiniLM" in found["embedder"]
        spec = {"name": "losses", "location": f"{root}/*.parquet", "lineage": {"job": "raysubmit_1"}}
        reg = (await c.call_tool("register_dataset", {"spec": spec})).structured_content
        assert (reg["rows"], reg["files"], reg["new"]) == (300, 3, True)
        assert [c["column"] for c in reg["columns"]] == ["step", "loss"]
        bad = await c.call_tool(
            "register_dataset", {"spec": {"name": "x", "location": "/etc/passwd"}}, raise_on_error=False
        )
        assert bad.is_error and "outside the allowed dataset roots" in bad.content[0].text
    assert seen[-1][0] == seen[-1][1] == 3 and len(seen) == 4
    row = lake.execute(f"SELECT name, format, lineage FROM {ALIAS}.datasets").fetchall()
    assert [(r[0], r[1], json.loads(r[2])) for r in row] == [("losses", "parquet", {"job": "raysubmit_1"})]
    lake.close()


def test_datasets_cannot_escape_their_roots_through_links(tmp_path: Path) -> None:
    settings = Settings(home=tmp_path)
    lake = Lake(settings)
    root = Path(settings.data_dir) / "datasets"
    root.mkdir(parents=True, exist_ok=True)
    os.symlink("/etc/hostname", root / "innocent.csv")
    with pytest.raises(UserError, match="outside the allowed dataset roots"):
        register_dataset(lake, settings, "acme", DatasetSpec(name="x", location=str(root / "innocent.csv")))
    with pytest.raises(UserError, match="unsupported location"):
        register_dataset(lake, settings, "acme", DatasetSpec(name="x", location="http://example.com/a.csv"))
    lake.close()


def test_register_dataset_on_s3(tmp_path: Path, s3_server: dict[str, str], s3_bucket) -> None:
    _, bucket = s3_bucket
    settings = Settings(
        home=tmp_path,
        s3={"endpoint": s3_server["endpoint"], "access_key": s3_server["access_key"],
            "secret_key": s3_server["secret_key"], "bucket": bucket},
    )  # fmt: skip
    lake = Lake(settings, storage="s3")
    lake.execute(f"COPY (SELECT range AS i FROM range(1234)) TO 's3://{bucket}/raw/a.parquet'")
    out = register_dataset(
        lake, settings, "acme", DatasetSpec(name="raw", location=f"s3://{bucket}/raw/*.parquet")
    )
    assert (out["rows"], out["files"]) == (1234, 1)
    lake.close()


def test_maintain_compacts_and_keeps_answers(lake: Lake) -> None:
    for i in range(12):
        append(lake, "spans", spans(200, start=i * 200))
    query = "SELECT tool, count(*) FROM spans GROUP BY tool ORDER BY tool"
    before = run_query(lake, query, "acme")["rows"]
    out = maintain(lake, retention_days=0)
    assert out["files_after"] < out["files_before"]
    assert out["snapshots_after"] < out["snapshots_before"]
    assert run_query(lake, query, "acme")["rows"] == before
    assert append(lake, "spans", spans(200)) == 0  # exactly once still holds after compaction


def test_schema_evolves_from_version_1(tmp_path: Path) -> None:
    settings = Settings(home=tmp_path)
    lake = Lake(settings)
    lake.execute(f"ALTER TABLE {ALIAS}.embeddings DROP COLUMN tenant")  # what a version-1 lake had
    lake.execute(f"DELETE FROM {ALIAS}.schema_version")
    lake.execute(f"INSERT INTO {ALIAS}.schema_version VALUES (1)")
    lake.close()
    lake = Lake(settings)  # opening migrates
    assert "tenant" in [r[0] for r in lake.execute(f"DESCRIBE {ALIAS}.embeddings").fetchall()]
    assert lake.execute(f"SELECT max(version) FROM {ALIAS}.schema_version").fetchone()[0] == 2
    lake.close()


async def test_register_recording_reads_only_recordings_inside_the_roots(tmp_path: Path) -> None:
    """The lake plane's `register_recording` tool opens local files inside the dataset roots
    only, and says plainly what is wrong with a file that is not a recording."""
    settings = Settings(home=tmp_path)
    rt = Runtime(settings)
    root = Path(settings.data_dir) / "datasets"
    root.mkdir(parents=True)
    (root / "junk.mcap").write_bytes(b"not a bag")
    cases = {
        "/etc/passwd": "outside the allowed dataset roots",
        str(root / "junk.mcap"): "is not a readable recording: not a valid MCAP file",
        str(root / "none.mcap"): "no recording at",
    }
    async with Client(build_server(rt)) as c:
        for path, said in cases.items():
            res = await c.call_tool("register_recording", {"bag": path}, raise_on_error=False)
            assert res.is_error and said in res.content[0].text, res.content[0].text
    tables = rt.lake.execute(f"SELECT count(*) FROM {ALIAS}.twin_runs").fetchone()
    assert tables == (0,)
    await rt.aclose()
