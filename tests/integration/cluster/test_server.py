"""The cluster MCP server as agents see it through the gateway: names, policy, progress."""

from __future__ import annotations

import json
from pathlib import Path

from fastmcp import Client

from auraison.agentops import AgentOps
from auraison.mcp_servers.cluster.server import build_server
from auraison.mcp_servers.cluster.service import ControlPlane
from auraison.runtime import Runtime
from tests.integration.cluster.conftest import control_settings


async def test_submit_and_watch_a_job_through_the_gateway(tmp_path: Path, ray_head: str) -> None:
    settings = control_settings(tmp_path, ray_head, agentops={"role": "operator", "tenant": "acme"})
    rt = Runtime(settings, engine=AgentOps(), control=ControlPlane(settings, grantor=None))
    gw = rt.gateway(servers={"cluster": build_server(rt)})
    progress: list[str] = []

    async def on_progress(done: float, total: float | None, message: str | None) -> None:
        progress.append(message or "")

    async with Client(gw, progress_handler=on_progress) as c:
        names = {t.name for t in await c.list_tools()}
        expected = {"cluster_list", "cluster_status", "cluster_job_submit", "cluster_job_wait",
                    "cluster_job_logs", "cluster_runs_compare", "cluster_agent_start"}  # fmt: skip
        assert expected | {"cluster_render_manifest"} <= names
        job = {"entrypoint": "python -c \"print('hello from ray')\"", "submission_id": "mcp-1"}
        submitted = (await c.call_tool("cluster_job_submit", {"job": job})).structured_content
        assert submitted["submission_id"] == "mcp-1" and submitted["created"] is True
        done = (await c.call_tool("cluster_job_wait", {"submission_id": "mcp-1"})).structured_content
        assert done["status"] == "SUCCEEDED" and done["timed_out"] is False
        logs = (await c.call_tool("cluster_job_logs", {"submission_id": "mcp-1"})).structured_content
        assert "hello from ray" in logs["logs"]
        stop = await c.call_tool("cluster_job_stop", {"submission_id": "mcp-1"}, raise_on_error=False)
        decision = json.loads(stop.content[0].text.splitlines()[1])["decision"]
        assert decision["kind"] == "needs_approval"  # stopping a job is a human's call by default
        bad = await c.call_tool("cluster_job_submit", {"job": {"entrypoint": ""}}, raise_on_error=False)
        assert bad.is_error
    assert progress[-1] == "mcp-1: SUCCEEDED"
