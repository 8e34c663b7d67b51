"""The lakehouse in all three layouts, the query sandbox, tenant scoping and the trace sink."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from fastmcp import Client

from auraison.lakehouse.catalog import Lake, LakeUnavailable
from auraison.lakehouse.sandbox import QueryRejected, check, run_query
from auraison.lakehouse.writer import LakeTraceSink, append
from auraison.settings import Settings


def spans(n: int, tenant: str = "acme", start: int = 0) -> list[dict[str, Any]]:
    return [
        {
            "trace_id": f"t{i // 10}",
            "span_id": f"s{i}",
            "name": f"execute_tool robot_{i % 3}",
            "tenant": tenant,
            "tool": f"robot_{i % 3}",
            "decision": "allow",
            "start_ns": i,
            "end_ns": i + 5,
            "attributes": {"i": i, "gen_ai.tool.name": f"robot_{i % 3}"},
        }
        for i in range(start, start + n)
    ]


def test_append_is_exactly_once_and_time_travels(lake: Lake) -> None:
    assert append(lake, "spans", spans(100)) == 100
    v1 = lake.snapshots()[-1]["snapshot_id"]
    assert append(lake, "spans", spans(150)) == 50  # the first 100 are already there
    assert append(lake, "spans", spans(10) + spans(10)) == 0  # duplicates inside one batch too
    now = run_query(lake, "SELECT count(*), count(DISTINCT span_id) FROM spans", "acme")["rows"][0]
    assert now == [150, 150]
    before = run_query(lake, "SELECT count(*) FROM spans", "acme", version=v1)["rows"][0]
    assert before == [100]
    by_tool = run_query(lake, "SELECT tool, count(*) FROM spans GROUP BY tool ORDER BY tool", "acme")["rows"]
    assert by_tool == [["robot_0", 50], ["robot_1", 50], ["robot_2", 50]]
    json_attr = run_query(lake, "SELECT max(CAST(attributes->>'i' AS INT)) FROM spans", "acme")["rows"][0]
    assert json_attr == [149]


def test_schema_evolution_keeps_old_snapshots_readable(lake: Lake) -> None:
    append(lake, "spans", spans(5))
    v = lake.snapshots()[-1]["snapshot_id"]
    lake.execute("ALTER TABLE lake.spans ADD COLUMN model VARCHAR")
    lake.execute("UPDATE lake.spans SET model = 'claude' WHERE span_id = 's1'")
    assert run_query(lake, "SELECT model FROM spans WHERE span_id = 's1'", "acme")["rows"] == [["claude"]]
    old = run_query(lake, "SELECT * FROM spans", "acme", version=v)
    assert "model" not in old["columns"] and old["row_count"] == 5


def test_tenants_only_see_their_rows(tmp_path: Path) -> None:
    lk = Lake(Settings(home=tmp_path))
    append(lk, "spans", spans(3, "acme") + spans(4, "globex", start=100))
    assert run_query(lk, "SELECT count(*) FROM spans", "acme")["rows"] == [[3]]
    assert run_query(lk, "SELECT count(*) FROM spans", "globex")["rows"] == [[4]]
    assert run_query(lk, "SELECT count(*) FROM spans", "nobody")["rows"] == [[0]]
    sneaky = "acme' OR tenant <> '"
    assert run_query(lk, "SELECT count(*) FROM spans", sneaky)["rows"] == [[0]]
    lk.close()


ESCAPES = [
    "COPY spans TO '/tmp/out.csv'",
    "SELECT * FROM read_csv('/etc/passwd')",
    "SELECT * FROM read_text('/etc/passwd')",
    "SELECT * FROM '/etc/passwd'",
    "ATTACH '/tmp/other.db' AS other",
    "INSTALL httpfs",
    "LOAD httpfs",
    "SET enable_external_access = true",
    "PRAGMA enable_profiling",
    "SELECT 1; DROP TABLE spans",
    "SELECT 1 /* ; */ ; DELETE FROM spans",
    "SELECT * FROM glob('/etc/*')",
    "SELECT * FROM read_parquet('/tmp/*.parquet')",
    "SELECT * FROM lake.spans",
    "SELECT * FROM main.spans",
    "SELECT * FROM __ducklake_metadata_lake.ducklake_table",
    "SELECT getenv('HOME')",
    "SELECT * FROM query('SELECT 1')",
    "SELECT * FROM duckdb_secrets()",
    "WITH x AS (SELECT * FROM read_csv('/etc/hosts')) SELECT * FROM x",
    "SELECT (SELECT count(*) FROM read_json('/etc/x.json'))",
    "DELETE FROM spans",
    "CREATE TABLE t AS SELECT 1",
    "",
]


@pytest.mark.parametrize("sql", ESCAPES)
def test_sandbox_rejects_escapes(sql: str) -> None:
    with pytest.raises(QueryRejected):
        check(sql)


def test_comments_do_not_hide_anything(tmp_path: Path) -> None:
    lk = Lake(Settings(home=tmp_path))
    append(lk, "spans", spans(2))
    res = run_query(lk, "SELECT count(*) FROM spans -- trailing comment; DROP TABLE spans", "acme")
    assert res["rows"] == [[2]]
    assert run_query(lk, "SELECT count(*) FROM spans", "acme")["rows"] == [[2]]
    limited = run_query(lk, "SELECT * FROM spans", "acme", limit=1)
    assert limited["truncated"] and limited["row_count"] == 1 and "first 1 rows" in limited["notice"]
    lk.close()


def test_trace_sink_spools_while_s3_is_down_and_replays_exactly_once(tmp_path: Path, pg_dsn: str) -> None:
    """Stop the real S3 server mid-stream: nothing blocks, nothing is lost, nothing doubles."""
    from auraison.agentops.tracing import SinkProcessor
    from auraison.services.local import LocalServices, free_weed_port

    svc = LocalServices(Settings(home=tmp_path / "s3home", s3={"port": free_weed_port()}))
    svc.up(("s3",))
    try:
        access, secret = svc.s3_credentials()
        settings = Settings(
            home=tmp_path,
            postgres={"dsn": pg_dsn},
            s3={
                "endpoint": f"127.0.0.1:{svc.settings.s3.port}",
                "access_key": access,
                "secret_key": secret,
                "bucket": "auraison",
            },
        )
        lk = Lake(settings, catalog="postgres", storage="s3")
        # Drains only when the test asks (force_flush): a background drain replaying the spool
        # while the test counts it would race the count.
        proc = SinkProcessor(LakeTraceSink(lk), tmp_path / "spool", batch=10_000, interval_s=3600)
        for r in spans(500):
            proc.add(r)
        assert proc.force_flush(20_000)
        svc.down(("s3",))  # the object store goes away mid-stream
        for r in spans(500, start=500):
            proc.add(r)
        assert not proc.force_flush(3_000) and proc.spool.rows() > 0
        svc.up(("s3",))
        assert proc.force_flush(30_000)
        rows = run_query(lk, "SELECT count(*), count(DISTINCT span_id) FROM spans", "acme")["rows"]
        assert rows == [[1000, 1000]]
        proc.shutdown()
        lk.close()
    finally:
        svc.down(("s3",))


async def test_lake_tools_through_the_gateway(tmp_path: Path) -> None:
    from auraison.agentops import AgentOps
    from auraison.runtime import Runtime

    settings = Settings(home=tmp_path, agentops={"approvals": "memory", "tenant": "acme"})
    rt = Runtime(settings, engine=AgentOps())
    async with Client(rt.gateway()) as c:
        for _ in range(2):  # two calls, two events (each call's ids are new: one fresh batch each)
            added = await c.call_tool(
                "lake_append_events",
                {"events": [{"plane": "user", "type": "robot.arrived", "subject": "kitchen"}]},
            )
            assert added.structured_content == {"appended": 1}
        res = await c.call_tool("lake_query", {"sql": "SELECT type, subject FROM events"})
        assert res.structured_content["rows"] == [["robot.arrived", "kitchen"]] * 2
        tables = {
            t["table"] for t in (await c.call_tool("lake_list_tables", {})).structured_content["result"]
        }
        assert {"spans", "events", "metrics"} <= tables
        cols = (await c.call_tool("lake_describe_table", {"table": "spans"})).structured_content["result"]
        assert {"column": "span_id", "type": "VARCHAR"} in cols
        bad = await c.call_tool(
            "lake_query", {"sql": "SELECT * FROM read_csv('/etc/passwd')"}, raise_on_error=False
        )
        assert bad.is_error and "read_csv" in bad.content[0].text
        assert (await c.call_tool("lake_snapshots", {})).structured_content["result"]
    await rt.aclose()


def test_unreachable_catalog_is_a_clear_error(tmp_path: Path) -> None:
    bad = Settings(home=tmp_path, postgres={"dsn": "postgresql://postgres@127.0.0.1:9/none"})
    with pytest.raises(LakeUnavailable, match="cannot attach the lake"):
        Lake(bad, catalog="postgres", storage="local")


async def test_agentops_spans_land_in_the_lake(tmp_path: Path) -> None:
    """With the lake sink on (the services profile's default), every tool span reaches `spans`."""
    from auraison.agentops import ToolCall
    from auraison.runtime import Runtime

    settings = Settings(home=tmp_path, agentops={"approvals": "memory", "lake_sink": True, "tenant": "acme"})
    async with Runtime(settings) as rt:  # the engine's sink writes into the runtime's one lake
        engine = rt.engine

        async def tool() -> str:
            return "ok"

        for _ in range(3):
            await engine.execute(ToolCall(tool="robot_get_state"), tool)
        assert engine.tracer_provider.force_flush(10_000)
        rows = run_query(rt.lake, "SELECT name, decision FROM spans", "default")["rows"]
        assert rows == [["execute_tool robot_get_state", "allow"]] * 3


def test_large_batches_with_mostly_null_columns(tmp_path: Path) -> None:
    """Columns that are NULL in most rows (tokens, parent ids) survive 20k-row batches."""
    lk = Lake(Settings(home=tmp_path))
    batch = spans(20_000)
    batch[-1]["input_tokens"] = 42
    assert append(lk, "spans", batch) == 20_000
    res = run_query(
        lk, "SELECT count(input_tokens), max(input_tokens), count(parent_id), count(*) FROM spans", "acme"
    )
    assert res["rows"] == [[1, 42, 0, 20_000]]
    lk.close()
