"""Start the servers exactly as `.mcp.json` says (command, args, env) over stdio and run the
/navigate skill's tool sequence against the real simulator."""

from __future__ import annotations

import asyncio
import json
import os
import re
import time
from pathlib import Path

from fastmcp import Client
from fastmcp.client.transports import StdioTransport

from tests.conftest import REPO
from tests.simthread import SimThread


def expand(value: str, env: dict[str, str]) -> str:
    """Claude Code's .mcp.json expansion: ${VAR} and ${VAR:-default}."""
    return re.sub(r"\$\{(\w+)(?::-([^}]*))?\}", lambda m: env.get(m.group(1), m.group(2) or ""), value)


async def test_navigate_skill_sequence_through_the_gateway_over_stdio(tmp_path: Path) -> None:
    spec = json.loads((REPO / ".mcp.json").read_text())["mcpServers"]["auraison"]
    base = {k: v for k, v in os.environ.items() if not k.startswith("AURAISON_")}
    base["CLAUDE_PROJECT_DIR"] = str(REPO)  # what Claude Code sets for a project's servers
    with SimThread("maze_small", speed=8.0) as sim:
        env = base | {k: expand(v, base) for k, v in spec.get("env", {}).items()}
        env |= {
            "AURAISON_HOME": str(tmp_path),
            "AURAISON_ROBOT__ROSBRIDGE_URL": sim.url,
        }  # test isolation only
        transport = StdioTransport(
            expand(spec["command"], base),
            [expand(a, base) for a in spec["args"]],
            env=env,
            cwd=str(REPO),
            log_file=tmp_path / "gateway.log",
        )
        assert transport.command == f"{REPO}/bin/auraison-plugin"  # the launcher, reusing .venv
        async with Client(transport, timeout=120) as c:
            names = {t.name for t in await c.list_tools()}
            assert {"robot_get_state", "robot_navigate_safely", "world_reason", "approvals_list"} <= names
            state = (await c.call_tool("robot_get_state", {})).structured_content
            assert state["connected"] and state["navigation"]["state"] == "idle"
            places = (await c.call_tool("robot_list_places", {})).structured_content["result"]
            assert "office" in {p["name"] for p in places}
            plan = (await c.call_tool("robot_plan_path", {"place": "office"})).structured_content
            assert plan["reachable"]
            shown = await c.call_tool("robot_get_map", {})
            assert shown.content[1].type == "image"
            out = (await c.call_tool("robot_navigate_safely", {"place": "office"})).structured_content
            assert out["status"] == "succeeded" and out["navigation"]["reached"], out
            final = (await c.call_tool("robot_get_state", {})).structured_content["pose"]
            assert abs(final["x"] - 0.75) < 0.25 and abs(final["y"] - 5.75) < 0.25
    from auraison.lakehouse.catalog import Lake  # the gateway process traced into the lake
    from auraison.settings import Settings

    lake = Lake(Settings(home=tmp_path))
    deadline = time.monotonic() + 60  # the gateway flushes its last spans as it exits, after stdin closes
    while True:
        names = {r[0] for r in lake.execute("SELECT DISTINCT name FROM lake.spans").fetchall()}
        if "execute_tool robot_navigate_safely" in names or time.monotonic() > deadline:
            break
        await asyncio.sleep(0.1)
    lake.close()
    assert "execute_tool robot_navigate_safely" in names  # AgentOps traced every call
