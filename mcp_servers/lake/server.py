"""The ``lake`` MCP server (``lake_*`` on the gateway): tables, sandboxed queries, snapshots and
time travel, and event appends. If the lake cannot be reached, every tool says so clearly."""

from __future__ import annotations

import time
import uuid
from typing import Annotated, Any

from fastmcp import FastMCP
from fastmcp.exceptions import ToolError
from fastmcp.server.dependencies import get_access_token
from mcp.types import ToolAnnotations
from pydantic import BaseModel, Field

from auraison.lakehouse.catalog import ALIAS, Lake, LakeUnavailable
from auraison.lakehouse.sandbox import QueryRejected, run_query
from auraison.lakehouse.tables import TABLES
from auraison.lakehouse.writer import append
from auraison.settings import Settings

READ = ToolAnnotations(readOnlyHint=True, destructiveHint=False)


class Event(BaseModel):
    plane: Annotated[str, Field(pattern=r"^(user|control|data|management)$")]
    type: Annotated[str, Field(min_length=1, max_length=100)]
    subject: Annotated[str, Field(max_length=200)] = ""
    payload: dict[str, Any] = {}


def build_server(settings: Settings, lake: Lake | None = None) -> FastMCP:
    mcp = FastMCP(
        "lake",
        instructions="The lakehouse: traces (spans), the event log, experiments. "
        "Read-only SQL over unqualified table names; your tenant's rows only.",
    )
    state: dict[str, Lake | None] = {"lake": lake}

    def get_lake() -> Lake:
        if state["lake"] is None:
            try:
                state["lake"] = Lake(settings)
            except LakeUnavailable as exc:
                raise ToolError(f"lake unavailable: {exc}") from None
        return state["lake"]  # type: ignore[return-value]

    def tenant() -> str:
        token = get_access_token()
        claims = (token.claims or {}) if token else {}
        return str(claims.get("tenant") or settings.agentops.tenant)

    @mcp.tool(annotations=READ)
    def list_tables() -> list[dict[str, Any]]:
        """The lake's tables with their row counts (your tenant's rows for tenant tables)."""
        out = []
        for name in TABLES:
            res = run_query(get_lake(), f"SELECT count(*) AS n FROM {name}", tenant())
            out.append({"table": name, "rows": res["rows"][0][0]})
        return out

    @mcp.tool(annotations=READ)
    def describe_table(table: Annotated[str, Field(pattern=r"^[a-z_]+$")]) -> list[dict[str, str]]:
        """Columns and types of one table."""
        if table not in TABLES:
            raise ToolError(f"unknown table {table!r}; tables: {', '.join(TABLES)}")
        rows = get_lake().execute(f"DESCRIBE {ALIAS}.{table}").fetchall()
        return [{"column": r[0], "type": r[1]} for r in rows]

    @mcp.tool(annotations=READ)
    def query(
        sql: Annotated[
            str, Field(min_length=1, max_length=10_000, description="one SELECT over unqualified tables")
        ],
        limit: Annotated[int, Field(ge=1, le=5000)] = 200,
        version: Annotated[int | None, Field(ge=0, description="read the lake as of this snapshot")] = None,
    ) -> dict[str, Any]:
        """Run one read-only SELECT (time travel with ``version``); rows beyond ``limit`` are cut."""
        try:
            return run_query(get_lake(), sql, tenant(), limit, version)
        except QueryRejected as exc:
            raise ToolError(str(exc)) from None

    @mcp.tool(annotations=READ)
    def snapshots() -> list[dict[str, Any]]:
        """The lake's snapshots (for time travel with ``query(version=…)``)."""
        return get_lake().snapshots()

    @mcp.tool(annotations=ToolAnnotations(readOnlyHint=False, destructiveHint=False))
    def append_events(
        events: Annotated[list[Event], Field(min_length=1, max_length=10_000)],
    ) -> dict[str, int]:
        """Append events to the cross-plane event log (one commit)."""
        now = time.time_ns()
        rows = [
            {"event_id": uuid.uuid4().hex, "ts_ns": now, "tenant": tenant(), **e.model_dump()} for e in events
        ]
        try:
            return {"appended": append(get_lake(), "events", rows)}
        except LakeUnavailable as exc:
            raise ToolError(f"lake unavailable: {exc}") from None

    mcp.lake = state  # type: ignore[attr-defined]
    return mcp
