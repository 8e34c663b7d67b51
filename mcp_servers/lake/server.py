"""The ``lake`` MCP server (``lake_*`` on the gateway): tables, sandboxed queries, snapshots and
time travel, and event appends. If the lake cannot be reached, every tool says so clearly."""

from __future__ import annotations

import asyncio
import time
import uuid
from typing import TYPE_CHECKING, Annotated, Any

from fastmcp import Context, FastMCP
from fastmcp.exceptions import ToolError
from mcp.types import ToolAnnotations
from pydantic import BaseModel, Field

from auraison.agentops.factory import default_identity
from auraison.agentops.middleware import current_identity
from auraison.lakehouse.models import DatasetSpec, Document
from auraison.lakehouse.tables import TABLES
from auraison.mcp_servers.toolcall import in_thread, plane_tool, serve_tools

if TYPE_CHECKING:  # DuckDB, Arrow and the embedder load with the plane's first call
    from auraison.lakehouse.catalog import Lake
    from auraison.runtime import Runtime

READ = ToolAnnotations(readOnlyHint=True, destructiveHint=False)


class Event(BaseModel):
    plane: Annotated[str, Field(pattern=r"^(user|control|data|management)$")]
    type: Annotated[str, Field(min_length=1, max_length=100)]
    subject: Annotated[str, Field(max_length=200)] = ""
    payload: dict[str, Any] = {}


def get_lake(rt: Runtime) -> Lake:
    """The runtime's one lake; a lake that is down is a clear tool error, and the next call
    tries again."""
    from auraison.lakehouse.catalog import LakeUnavailable

    try:
        return rt.lake
    except LakeUnavailable as exc:
        raise ToolError(f"lake unavailable: {exc}") from None


def tenant(rt: Runtime) -> str:
    """The tenant whose rows the current call sees."""
    return current_identity(default_identity(rt.settings)).tenant


@plane_tool(READ)
def list_tables(rt: Runtime) -> list[dict[str, Any]]:
    """The lake's tables with their row counts (your tenant's rows for tenant tables)."""
    from auraison.lakehouse.sandbox import run_query

    # one sandboxed query for all of them (each sandboxed query opens a database of its own)
    sql = " UNION ALL ".join(f"SELECT '{name}' AS t, count(*) AS n FROM {name}" for name in TABLES)
    counts = dict(run_query(get_lake(rt), sql, tenant(rt), limit=len(TABLES))["rows"])
    return [{"table": name, "rows": counts[name]} for name in TABLES]


@plane_tool(READ)
def describe_table(rt: Runtime, table: Annotated[str, Field(pattern=r"^[a-z_]+$")]) -> list[dict[str, str]]:
    """Columns and types of one table."""
    from auraison.lakehouse.catalog import ALIAS

    if table not in TABLES:
        raise ToolError(f"unknown table {table!r}; tables: {', '.join(TABLES)}")
    rows = get_lake(rt).execute(f"DESCRIBE {ALIAS}.{table}").fetchall()
    return [{"column": r[0], "type": r[1]} for r in rows]


@plane_tool(READ)
def query(
    rt: Runtime,
    sql: Annotated[
        str, Field(min_length=1, max_length=10_000, description="one SELECT over unqualified tables")
    ],
    limit: Annotated[int, Field(ge=1, le=5000)] = 200,
    version: Annotated[int | None, Field(ge=0, description="read the lake as of this snapshot")] = None,
) -> dict[str, Any]:
    """Run one read-only SELECT (time travel with ``version``); rows beyond ``limit`` are cut."""
    from auraison.lakehouse.catalog import LakeUnavailable
    from auraison.lakehouse.sandbox import QueryRejected, run_query

    try:
        return run_query(get_lake(rt), sql, tenant(rt), limit, version)
    except QueryRejected as exc:
        raise ToolError(str(exc)) from None
    except LakeUnavailable as exc:
        raise ToolError(f"lake unavailable: {exc}") from None


@plane_tool(READ)
def snapshots(rt: Runtime) -> list[dict[str, Any]]:
    """The lake's snapshots (for time travel with ``query(version=…)``)."""
    return get_lake(rt).snapshots()


@plane_tool(ToolAnnotations(readOnlyHint=False, destructiveHint=False))
def append_events(
    rt: Runtime,
    events: Annotated[list[Event], Field(min_length=1, max_length=10_000)],
) -> dict[str, int]:
    """Append events to the cross-plane event log (one commit)."""
    from auraison.lakehouse.catalog import LakeUnavailable
    from auraison.lakehouse.writer import append, new_batch_id

    now = time.time_ns()
    rows = [
        {"event_id": uuid.uuid4().hex, "ts_ns": now, "tenant": tenant(rt), **e.model_dump()} for e in events
    ]
    try:
        # the event ids were made just now: a fresh batch, no scan of the events' keys
        return {"appended": append(get_lake(rt), "events", rows, new_batch_id(), fresh=True)}
    except LakeUnavailable as exc:
        raise ToolError(f"lake unavailable: {exc}") from None


@plane_tool(READ)
async def search(
    rt: Runtime,
    query: Annotated[str, Field(min_length=1, max_length=2000, description="what you are looking for")],
    k: Annotated[int, Field(ge=1, le=50)] = 5,
) -> dict[str, Any]:
    """Your tenant's documents nearest in meaning to ``query`` (cosine similarity of
    embeddings); the answer names the embedder used."""
    from auraison.lakehouse import documents

    return await _guarded(documents.search, get_lake(rt), rt.embedder, tenant(rt), query, k)


@plane_tool(ToolAnnotations(readOnlyHint=False, destructiveHint=False))
async def add_documents(
    rt: Runtime,
    docs: Annotated[list[Document], Field(min_length=1, max_length=1000)],
) -> dict[str, Any]:
    """Store documents and their embeddings for ``search`` (a document already stored is skipped)."""
    from auraison.lakehouse import documents

    return await _guarded(documents.add_documents, get_lake(rt), rt.embedder, tenant(rt), docs)


@plane_tool(ToolAnnotations(readOnlyHint=False, destructiveHint=False, openWorldHint=True))
async def register_dataset(rt: Runtime, spec: DatasetSpec, ctx: Context) -> dict[str, Any]:
    """Register data already in S3 (or in an allowed local folder) as a named dataset, with
    its schema, row count and lineage; reports progress file by file."""
    from auraison.lakehouse import datasets

    loop = asyncio.get_running_loop()

    def progress(done: float, total: float, message: str) -> None:
        asyncio.run_coroutine_threadsafe(ctx.report_progress(done, total, message), loop)

    return await _guarded(datasets.register_dataset, get_lake(rt), rt.settings, tenant(rt), spec, progress)


@plane_tool(ToolAnnotations(readOnlyHint=False, destructiveHint=False))
async def register_recording(
    rt: Runtime,
    bag: Annotated[
        str,
        Field(min_length=1, max_length=1000, description="a recording (.mcap) inside the dataset roots"),
    ],
) -> dict[str, Any]:
    """Register a robot recording (a ROS 2 bag in MCAP, from `robot record` or a run's bag): a
    dataset with its world, duration, places visited and outcome, and the digital twin's rows
    (map, observed and predicted state); registering it again adds nothing twice."""
    from auraison.lakehouse import twin
    from auraison.lakehouse.datasets import allowed_path

    def register(lake: Lake, who: str) -> dict[str, Any]:
        return twin.register_recording(lake, rt.settings, who, allowed_path(rt.settings, bag))

    return await _guarded(register, get_lake(rt), tenant(rt))


TOOLS = (
    list_tables,
    describe_table,
    query,
    snapshots,
    append_events,
    search,
    add_documents,
    register_dataset,
    register_recording,
)


def build_server(rt: Runtime) -> FastMCP:
    """The lake tools over the runtime's one lake (attached on first use)."""
    mcp = FastMCP(
        "lake",
        instructions="The lakehouse: traces (spans), the event log, experiments, documents and "
        "datasets. Read-only SQL over unqualified table names; your tenant's rows only; "
        "`search` finds documents by meaning.",
    )
    return serve_tools(mcp, rt, TOOLS)


_guarded = in_thread  # the lake's failures (LakeUnavailable, refusals) become clear tool errors
