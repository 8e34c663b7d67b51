"""The gateway: tools/list per identity, enforcement, approvals over MCP, HTTP bearer auth."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastmcp import Client
from fastmcp.client.transports import StreamableHttpTransport

from auraison.agentops import AgentOps
from auraison.identity import Identity, PrincipalKind
from auraison.runtime import Runtime
from auraison.settings import Settings
from tests.planes import lake_plane, robot_plane
from tests.servers import Served


def settings(home: Path, **agentops: object) -> Settings:
    return Settings(home=home, agentops={"approvals": "memory", **agentops})


def gateway(home: Path, engine: AgentOps | None = None, **agentops: object):
    s = settings(home, **agentops)
    return Runtime(s, engine=engine or AgentOps()).gateway(
        servers={"robot": robot_plane(), "lake": lake_plane()}
    )


def decision_of(result) -> dict:
    return json.loads(result.content[0].text.splitlines()[1])["decision"]


async def test_tools_list_follows_the_role(tmp_path: Path) -> None:
    async with Client(gateway(tmp_path, role="viewer")) as c:
        viewer = {t.name for t in await c.list_tools()}
    async with Client(gateway(tmp_path, role="operator")) as c:
        operator = {t.name for t in await c.list_tools()}
    assert "robot_drive" not in viewer and "robot_navigate_to" not in viewer
    assert {"robot_get_state", "robot_stop", "lake_query"} <= viewer
    assert {"robot_drive", "robot_navigate_to", "approvals_list"} <= operator
    assert "approvals_decide" not in operator  # stdio and in-process sessions are agents


async def test_denial_carries_reason_and_hint_and_tool_never_runs(tmp_path: Path) -> None:
    async with Client(gateway(tmp_path)) as c:
        res = await c.call_tool("robot_navigate_to", {"x": 30.0, "y": 1.0}, raise_on_error=False)
        assert res.is_error
        d = decision_of(res)
        assert d["kind"] == "deny" and "geofence" in d["reason"] and "polygon" in d["hint"]
        ok = await c.call_tool("robot_navigate_to", {"x": 3.0, "y": 1.0})
        assert ok.data == "arrived at (3.0, 1.0)"


async def test_approval_round_trip_over_mcp(tmp_path: Path) -> None:
    """The session asks, cannot decide for itself, a person decides, the retry runs once."""
    engine = AgentOps()
    gw = gateway(tmp_path, engine)
    async with Client(gw) as c:
        res = await c.call_tool("robot_drive", {"linear": 0.1}, raise_on_error=False)
        d = decision_of(res)
        assert d["kind"] == "needs_approval"
        pending = (await c.call_tool("approvals_list", {})).structured_content["result"]
        assert [p["id"] for p in pending] == [d["approval_id"]]
        refused = await c.call_tool(
            "approvals_decide", {"approval_id": d["approval_id"], "approve": True}, raise_on_error=False
        )
        assert refused.is_error and decision_of(refused)["rule"] == "humans-only"
        person = Identity(tenant="default", subject="alice", kind=PrincipalKind.human)
        await engine.approvals.decide(d["approval_id"], True, by=person)
        assert (await c.call_tool("robot_drive", {"linear": 0.1})).data == "drove 0.1 for 1.0s"
        again = await c.call_tool("robot_drive", {"linear": 0.1}, raise_on_error=False)
        assert decision_of(again)["kind"] == "needs_approval"  # single use
    kinds = [(r.tool, r.kind) for r in engine.decisions if r.tool == "robot_drive"]
    assert kinds == [
        ("robot_drive", "needs_approval"),
        ("robot_drive", "allow"),
        ("robot_drive", "needs_approval"),
    ]


async def test_overload_is_shed_with_machine_readable_retry_after(tmp_path: Path) -> None:
    policy = tmp_path / "p.yaml"
    policy.write_text(
        "version: 1\nrules:\n  - name: r\n    allow: ['*']\n"
        "    limits: {lake_query: {rate_per_s: 1, burst: 1}}\n"
    )
    async with Client(gateway(tmp_path, AgentOps(policy))) as c:
        await c.call_tool("lake_query", {"sql": "select 1"})
        res = await c.call_tool("lake_query", {"sql": "select 1"}, raise_on_error=False)
        d = decision_of(res)
        assert d["kind"] == "shed" and 0 < d["retry_after_s"] <= 1


@pytest.fixture
def http_gateway(tmp_path: Path) -> Iterator[str]:
    tokens = [
        {"token": "tok-acme-operator", "tenant": "acme", "role": "operator"},
        {"token": "tok-globex-viewer", "tenant": "globex", "role": "viewer"},
    ]
    s = settings(tmp_path, tokens=tokens)
    servers = {"robot": robot_plane(), "lake": lake_plane()}
    gw = Runtime(s, engine=AgentOps()).gateway(servers=servers, http=True)
    served = Served(gw.http_app())
    yield f"{served.url}/mcp"
    served.stop(5)


async def test_http_refuses_calls_without_a_valid_token(http_gateway: str) -> None:
    import urllib.error
    import urllib.request

    body = json.dumps({"jsonrpc": "2.0", "id": 1, "method": "tools/list", "params": {}}).encode()
    headers = {"Accept": "application/json, text/event-stream", "Content-Type": "application/json"}

    def status(extra: dict[str, str]) -> int:
        req = urllib.request.Request(http_gateway, body, headers | extra, method="POST")
        try:
            with urllib.request.urlopen(req, timeout=5) as resp:
                return resp.status
        except urllib.error.HTTPError as exc:
            return exc.code

    assert status({}) == 401
    assert status({"Authorization": "Bearer wrong"}) == 401
    assert status({"Authorization": "Bearer tok-acme-operator"}) != 401  # auth passed


async def test_http_identity_comes_from_the_token(http_gateway: str) -> None:
    async def names(token: str) -> set[str]:
        async with Client(StreamableHttpTransport(http_gateway, auth=token)) as c:
            return {t.name for t in await c.list_tools()}

    acme, globex = await names("tok-acme-operator"), await names("tok-globex-viewer")
    assert "robot_drive" in acme and "robot_drive" not in globex
    async with Client(StreamableHttpTransport(http_gateway, auth="tok-acme-operator")) as c:
        res = await c.call_tool("robot_drive", {"linear": 0.2}, raise_on_error=False)
        acme_approval = decision_of(res)["approval_id"]
    async with Client(StreamableHttpTransport(http_gateway, auth="tok-globex-viewer")) as c:
        listed = (await c.call_tool("approvals_list", {"status": "all"})).structured_content["result"]
        assert listed == []  # tenant B never sees tenant A's approvals
        res = await c.call_tool(
            "approvals_decide", {"approval_id": acme_approval, "approve": True}, raise_on_error=False
        )
        assert res.is_error  # and viewers may not decide at all


async def test_a_tenant_never_sees_or_calls_another_tenants_tools(tmp_path: Path) -> None:
    policy = AgentOps(
        __import__("auraison.agentops.policy", fromlist=["parse_policy"]).parse_policy(
            "version: 1\nrules:\n"
            "  - name: acme-robots\n    tenants: [acme]\n    allow: ['robot_*']\n"
            "  - name: globex-lake\n    tenants: [globex]\n    allow: ['lake_*']\n"
        )
    )
    seen = {}
    for tenant in ("acme", "globex"):
        gw = gateway(tmp_path, policy, tenant=tenant)
        async with Client(gw) as c:
            seen[tenant] = {t.name for t in await c.list_tools()}
            other = "lake_query" if tenant == "acme" else "robot_get_state"
            args = {"sql": "select 1"} if other == "lake_query" else {}
            res = await c.call_tool(other, args, raise_on_error=False)
            assert res.is_error and decision_of(res)["kind"] == "deny"
    assert seen["acme"] == {"robot_get_state", "robot_navigate_to", "robot_drive", "robot_stop"}
    assert seen["globex"] == {"lake_query"}


async def test_log_lines_carry_the_span_ids(tmp_path: Path) -> None:
    import structlog
    from structlog.testing import capture_logs

    eng = AgentOps()
    with capture_logs(processors=[structlog.contextvars.merge_contextvars]) as logs:
        async with Client(gateway(tmp_path, eng)) as c:
            await c.call_tool("robot_navigate_to", {"x": 99.0, "y": 1.0}, raise_on_error=False)
    (line,) = [x for x in logs if x.get("event") == "decision"]
    assert len(line["trace_id"]) == 32 and len(line["span_id"]) == 16 and line["tenant"] == "default"
