"""A real agent run (the offline stand-in model, the real gateway, the simulator), its spans
read back from the lake, every one checked against the OpenTelemetry GenAI and MCP semantic
conventions' required attributes — and the run shown as one tree (agent → model, agent → tool →
MCP call → the gateway's decision → plane). The agent, model and agent-side tool spans are
Pydantic AI's own instrumentation (through the process's provider), each made once."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

from opentelemetry.semconv._incubating.attributes.gen_ai_attributes import (
    GEN_AI_AGENT_NAME,
    GEN_AI_OPERATION_NAME,
    GEN_AI_PROVIDER_NAME,
    GEN_AI_REQUEST_MODEL,
    GEN_AI_RESPONSE_MODEL,
    GEN_AI_TOOL_CALL_ARGUMENTS,
    GEN_AI_TOOL_CALL_ID,
    GEN_AI_TOOL_NAME,
    GEN_AI_USAGE_INPUT_TOKENS,
    GEN_AI_USAGE_OUTPUT_TOKENS,
)
from opentelemetry.semconv._incubating.attributes.mcp_attributes import MCP_METHOD_NAME
from opentelemetry.semconv.attributes.error_attributes import ERROR_TYPE

from auraison.agents import run
from auraison.lakehouse.catalog import ALIAS, Lake
from auraison.settings import Settings
from tests.simthread import SimThread

REQUIRED: dict[str, tuple[str, ...]] = {
    # GenAI agent spans: operation, provider (required), and we always know the agent
    "invoke_agent": (GEN_AI_OPERATION_NAME, GEN_AI_PROVIDER_NAME, GEN_AI_AGENT_NAME),
    # GenAI inference spans: operation, provider; the request model when it is known (always
    # here), and the usage and response model Pydantic AI records (recommended, always known here)
    "chat": (
        GEN_AI_OPERATION_NAME,
        GEN_AI_PROVIDER_NAME,
        GEN_AI_REQUEST_MODEL,
        GEN_AI_RESPONSE_MODEL,
        GEN_AI_USAGE_INPUT_TOKENS,
        GEN_AI_USAGE_OUTPUT_TOKENS,
    ),
    # GenAI tool execution spans: operation, and the tool's name and call id
    "execute_tool": (GEN_AI_OPERATION_NAME, GEN_AI_TOOL_NAME, GEN_AI_TOOL_CALL_ID),
    # MCP spans (client and server): the method; tools/call also names the tool
    "mcp": (MCP_METHOD_NAME,),
    "tools/call": (MCP_METHOD_NAME, GEN_AI_TOOL_NAME),
}


def traces_cli(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    cmd = [sys.executable, "-m", "auraison", "traces", *args]
    return subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=120)


def family(span: dict[str, Any]) -> str:
    name, attrs = span["name"], span["attributes"]
    if name.startswith("tools/call "):
        return "tools/call"
    if MCP_METHOD_NAME in attrs and attrs.get(GEN_AI_OPERATION_NAME) != "execute_tool":
        return "mcp"
    op = attrs.get(GEN_AI_OPERATION_NAME)
    assert op in ("invoke_agent", "chat", "execute_tool"), f"a span of no known convention: {span}"
    assert name.split(" ", 1)[0] == op, f"span name {name!r} does not start with its operation {op}"
    return op


async def test_every_span_of_an_agent_run_meets_the_conventions(tmp_path: Path) -> None:
    home = tmp_path / "home"
    with SimThread("maze_small", speed=25.0) as sim:
        settings = Settings(
            home=home,
            robot={"rosbridge_url": sim.url},
            agentops={"approvals": "memory", "lake_sink": True, "tenant": "acme"},
        )
        res = await run("navigator", "Please go to the lab.", settings=settings)
    assert res.trace_id and not (home / "data" / "traces" / "spans.jsonl").exists()  # lake, no JSONL

    lake = Lake(settings)
    cols = ["trace_id", "span_id", "parent_id", "name", "kind", "status", "start_ns", "end_ns", "attributes"]
    rows = lake.execute(
        f"SELECT {', '.join(cols)} FROM {ALIAS}.spans WHERE trace_id = ? ORDER BY start_ns", [res.trace_id]
    ).fetchall()
    lake.close()
    spans = [dict(zip(cols, r, strict=True)) | {"attributes": json.loads(r[-1])} for r in rows]
    assert len(spans) >= 10

    by_id = {s["span_id"]: s for s in spans}

    def ancestors(s: dict[str, Any]) -> list[dict[str, Any]]:
        out = []
        while s["parent_id"] is not None:
            s = by_id[s["parent_id"]]  # a parent missing from the run's trace fails here
            out.append(s)
        return out

    seen: dict[str, int] = {}
    for s in spans:
        fam = family(s)
        seen[fam] = seen.get(fam, 0) + 1
        missing = [a for a in REQUIRED[fam] if s["attributes"].get(a) in (None, "")]
        assert not missing, f"{s['name']} lacks {missing}"
        assert s["end_ns"] >= s["start_ns"] > 0
        if fam == "chat":
            assert s["kind"] == "client"
        if s["kind"] == "server":
            assert fam in ("mcp", "tools/call")
        if s["status"] == "error":
            assert s["attributes"].get(ERROR_TYPE), f"{s['name']} failed without error.type"
        assert GEN_AI_TOOL_CALL_ARGUMENTS not in s["attributes"]  # opt-in, not asked for here
        chain = ancestors(s)  # one tree: every span reaches the run's root
        assert (chain[-1] if chain else s)["name"] == "invoke_agent navigator", s["name"]
    assert {"invoke_agent", "chat", "execute_tool", "tools/call", "mcp"} <= set(seen), seen

    # One SERVER span `tools/call {tool}` per MCP tool call the agent sent.
    sent = [s for s in spans if s["kind"] == "client" and s["name"].startswith("MCP send tools/call ")]
    served = [s for s in spans if s["kind"] == "server" and s["name"].startswith("tools/call")]
    assert len(sent) == len(served) == len(res.tool_calls) == 3
    assert sorted(s["name"] for s in served) == sorted(f"tools/call {c['name']}" for c in res.tool_calls)

    # Pydantic AI's spans, each once (the project makes no agent or chat span of its own): one
    # run, four model requests under it, the tenant on both (the lake files spans by tenant)
    root = spans[0]
    assert [s for s in spans if s["name"].startswith("invoke_agent")] == [root]
    assert root["attributes"]["gen_ai.agent.call.id"]  # Pydantic AI's run id: its span
    assert root["attributes"][GEN_AI_PROVIDER_NAME] == "function"
    chats = [s for s in spans if s["name"].startswith("chat ")]
    assert len(chats) == 4 and all(c["parent_id"] == root["span_id"] for c in chats)
    assert all(s["attributes"].get("auraison.tenant") == "acme" for s in (root, *chats))

    # agent → tool (as the agent saw it) → MCP call → the gateway's decision → the plane's own tool
    named = [s for s in spans if s["name"] == "execute_tool robot_navigate_safely"]
    (tool,) = [s for s in named if MCP_METHOD_NAME in s["attributes"]]
    (asked,) = [s for s in named if s is not tool]
    assert asked["parent_id"] == root["span_id"] and asked in ancestors(tool)
    assert asked["attributes"][GEN_AI_TOOL_CALL_ID] and "auraison.decision" not in asked["attributes"]
    assert tool["attributes"][MCP_METHOD_NAME] == "tools/call"
    assert tool["attributes"]["auraison.decision"] == "allow"
    server = by_id[tool["parent_id"]]
    assert (server["name"], server["kind"]) == ("tools/call robot_navigate_safely", "server")
    plane = [s for s in spans if tool in ancestors(s) and s["name"] == "tools/call navigate_safely"]
    assert plane, "the robot plane's own tool span hangs under the gateway's decision"

    # `auraison traces` shows the same run from the lake, as a tree (and --json)
    env = {k: v for k, v in os.environ.items() if not k.startswith("AURAISON_")}
    env |= {"AURAISON_HOME": str(home), "AURAISON_AGENTOPS__TENANT": "acme"}

    def cli(*args: str) -> Any:
        done = traces_cli(env, *args)
        assert done.returncode == 0, done.stderr
        return done.stdout

    (listed,) = json.loads(cli("list", "--json"))
    assert listed["trace_id"] == res.trace_id and listed["root"] == "invoke_agent navigator"
    assert listed["spans"] == len(spans) and listed["agent"] == "navigator"
    (root,) = json.loads(cli("show", res.trace_id[:12], "--json"))

    def names(node: dict[str, Any], depth: int = 0) -> list[tuple[int, str]]:
        here = (depth, f"{node['name']} [{node['kind']}]")
        return [here] + [n for c in node["children"] for n in names(c, depth + 1)]

    shown = names(root)
    assert len(shown) == len(spans) and shown[0] == (0, "invoke_agent navigator [internal]")
    at = {n: d for d, n in shown if n.startswith(("chat ", "tools/call robot_navigate_safely"))}
    assert at["chat auraison-offline [client]"] == 1, shown
    agent_side, engine_side = (d for d, n in shown if n == "execute_tool robot_navigate_safely [internal]")
    assert agent_side == 1 and at["tools/call robot_navigate_safely [client]"] > agent_side, shown
    assert at["tools/call robot_navigate_safely [server]"] == engine_side - 1, shown
    assert max(d for d, n in shown if n == "tools/call navigate_safely [internal]") > engine_side, shown
    text = cli("show", "last")
    assert "invoke_agent navigator" in text and "execute_tool robot_navigate_safely" in text
    other = traces_cli(env | {"AURAISON_AGENTOPS__TENANT": "someone-else"}, "show", res.trace_id)
    assert other.returncode != 0 and "no trace" in other.stderr and "Traceback" not in other.stderr
