"""The trust boundary as Claude Code meets it: a stdio gateway session is an agent principal.

It may ask for a motion and read the pending approvals, never decide them; a person approves at
a terminal with `auraison approvals approve`, and the session's identical retry runs once.
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

from fastmcp import Client
from fastmcp.client.transports import StdioTransport

from tests.conftest import REPO
from tests.simthread import SimThread
from tests.terminal import run_at_terminal

DRIVE = {"linear": 0.1, "angular": 0.0, "duration": 0.5}


def decision_of(result) -> dict:
    return json.loads(result.content[0].text.splitlines()[1])["decision"]


async def test_stdio_session_cannot_approve_its_own_drive(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("AURAISON_")}
    env |= {"AURAISON_HOME": str(tmp_path), "AURAISON_LOG_LEVEL": "warning"}
    with SimThread("maze_small", speed=4.0) as sim:
        env["AURAISON_ROBOT__ROSBRIDGE_URL"] = sim.url
        transport = StdioTransport(
            sys.executable, ["-m", "auraison", "gateway", "--transport", "stdio"], env=env, cwd=str(REPO)
        )
        async with Client(transport, timeout=120) as c:
            names = {t.name for t in await c.list_tools()}
            assert "approvals_list" in names and "approvals_decide" not in names
            asked = await c.call_tool("robot_drive", DRIVE, raise_on_error=False)
            approval_id = decision_of(asked)["approval_id"]
            assert decision_of(asked)["kind"] == "needs_approval"
            self_approve = await c.call_tool(
                "approvals_decide", {"approval_id": approval_id, "approve": True}, raise_on_error=False
            )
            assert self_approve.is_error and "for people only" in self_approve.content[0].text
            listed = (await c.call_tool("approvals_list", {})).structured_content["result"]
            assert [a["status"] for a in listed if a["id"] == approval_id] == ["pending"]
            before = (await c.call_tool("robot_get_state", {})).structured_content["pose"]

            person = run_at_terminal(
                [sys.executable, "-m", "auraison", "approvals", "approve", approval_id], env
            )
            assert person.returncode == 0, person.stderr

            drove = (await c.call_tool("robot_drive", DRIVE)).structured_content
            after = (await c.call_tool("robot_get_state", {})).structured_content["pose"]
            assert drove["duration_s"] > 0 and after["x"] - before["x"] > 0.02, json.dumps(drove)
            again = await c.call_tool("robot_drive", DRIVE, raise_on_error=False)
            assert decision_of(again)["kind"] == "needs_approval"  # the approval was used, once
            assert decision_of(again)["approval_id"] != approval_id
