"""Hook decisions leave spans — written without the OTel SDK by the hook process (one spool
segment), committed to the lake by the next process that traces there."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from auraison.agentops.spool import Spool
from auraison.agentops.tracing import SinkProcessor


def hook(home: Path, payload: dict, **env: str) -> subprocess.CompletedProcess[str]:
    base = {k: v for k, v in os.environ.items() if not k.startswith("AURAISON_")}
    return subprocess.run(
        [sys.executable, "-m", "auraison", "hook", "pre-tool-use"],
        input=json.dumps(payload),
        capture_output=True,
        text=True,
        env=base | {"AURAISON_HOME": str(home), **env},
        timeout=60,
    )


def test_a_denied_hook_call_leaves_a_span_in_the_spool_and_the_lake_takes_it(tmp_path: Path) -> None:
    from auraison.lakehouse.catalog import ALIAS, Lake
    from auraison.lakehouse.writer import LakeTraceSink
    from auraison.settings import Settings

    payload = {
        "tool_name": "mcp__auraison__robot_navigate_to",
        "tool_input": {"x": 40, "y": 1},  # outside the geofence
        "tool_use_id": "toolu_01",
        "session_id": "sess-1",
    }
    res = hook(tmp_path, payload, AURAISON_AGENTOPS__LAKE_SINK="true")
    assert res.returncode == 0, res.stderr
    assert json.loads(res.stdout)["hookSpecificOutput"]["permissionDecision"] == "deny"
    spool = Spool(tmp_path / "data" / "traces" / "spool")
    (segment,) = spool.segments()
    (row,) = Spool.read(segment)
    assert row["name"] == "pre_tool_use robot_navigate_to" and row["status"] == "error"
    a = row["attributes"]
    assert a["error.type"] == "ToolDenied" and a["auraison.decision"] == "deny"
    assert a["auraison.enforcement_point"] == "hook" and "geofence" in a["auraison.decision.reason"]
    assert a["gen_ai.tool.call.id"] == "toolu_01" and a["gen_ai.conversation.id"] == "sess-1"

    lake = Lake(Settings(home=tmp_path))
    proc = SinkProcessor(LakeTraceSink(lake), spool.dir, interval_s=3600)
    assert proc.force_flush(30_000)  # the next tracing process replays the segment
    assert proc.force_flush(30_000)  # and a second replay adds nothing
    got = lake.execute(f"SELECT name, decision, tool, tenant FROM {ALIAS}.spans").fetchall()
    assert got == [("pre_tool_use robot_navigate_to", "deny", "robot_navigate_to", "default")]
    assert not spool.segments()
    proc.shutdown()
    lake.close()


def test_without_a_lake_sink_the_span_goes_to_the_trace_file(tmp_path: Path) -> None:
    payload = {"tool_name": "mcp__auraison__robot_get_state", "tool_input": {}}
    res = hook(tmp_path, payload, AURAISON_AGENTOPS__LAKE_SINK="false")
    assert res.returncode == 0 and res.stdout == "", res.stderr  # allowed: no opinion
    (line,) = (tmp_path / "data" / "traces" / "spans.jsonl").read_text().splitlines()
    row = json.loads(line)
    assert row["name"] == "pre_tool_use robot_get_state" and row["decision"] == "allow"
    assert "error.type" not in row["attributes"] and row["status"] == "unset"
