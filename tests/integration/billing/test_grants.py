"""AgentOps draws on the management plane's quotas; a management outage refuses new grants
while calls covered by an existing grant continue; API keys work against the HTTP gateway."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from fastmcp import Client
from fastmcp.client.transports import StdioTransport, StreamableHttpTransport

from auraison.agentops.quotas import QuotaExceeded, QuotaUnavailable
from auraison.mcp_servers.billing.dimensions import Role
from auraison.mcp_servers.billing.grants import GrantLedger
from auraison.mcp_servers.billing.server import build_server as billing_plane
from auraison.mcp_servers.billing.service import ADMIN, Billing
from auraison.mcp_servers.billing.store import ManagementUnavailable, Store
from auraison.runtime import Runtime, grant_journal
from auraison.settings import Settings
from tests.planes import lake_plane
from tests.servers import Served
from tests.tcpproxy import TcpProxy


@pytest.fixture
def proxied(pg_dsn: str) -> Iterator[tuple[Billing, TcpProxy]]:
    """The management store on PostgreSQL, reached through a proxy the test can cut."""
    Store(pg_dsn.replace("postgresql://", "postgresql+psycopg://", 1)).migrate()
    proxy = TcpProxy("127.0.0.1", 5432).start()
    url = pg_dsn.replace(
        "postgresql://postgres@127.0.0.1:5432", f"postgresql+psycopg://postgres@127.0.0.1:{proxy.port}"
    )
    store = Store(url)
    store.engine.pool._timeout = 2  # an outage should be reported quickly
    yield Billing(store), proxy
    proxy.stop()
    store.close()


async def test_an_outage_refuses_new_grants_and_honours_the_current_one(proxied) -> None:
    billing, proxy = proxied
    billing.tenant_create(ADMIN, "acme", plan="pro")
    ledger = GrantLedger(billing, block=5, agent="nav")
    first = [await ledger.reserve("acme", 1) for _ in range(3)]  # one block of 5 granted
    for lease in first:
        await ledger.commit(lease, 1)
    assert [x.amount for x in billing.reservations_list(ADMIN, "acme")] == [5]

    proxy.stop()  # the management plane is gone
    with pytest.raises(ManagementUnavailable, match="management store unavailable"):
        billing.reserve(ADMIN, "acme", "tool_calls", 1)
    covered = [await ledger.reserve("acme", 1) for _ in range(2)]  # still inside the block
    for lease in covered:
        await ledger.commit(lease, 1)
    with pytest.raises(
        QuotaUnavailable, match="no tool_calls grant for tenant acme: management store unavailable"
    ):
        await ledger.reserve("acme", 1)

    proxy.start()  # back (same port): new grants flow again, and the spent block is settled
    await ledger.commit(await ledger.reserve("acme", 1), 1)
    await ledger.close()
    tool_calls = billing.quota_get(ADMIN, "acme")[0]
    assert (tool_calls.used, tool_calls.reserved) == (6, 0)


async def test_quota_denies_the_call_that_would_overspend(tmp_path: Path, pg_dsn: str) -> None:
    s = Settings(
        home=tmp_path,
        management={"store": "postgres"},
        postgres={"dsn": pg_dsn},
        agentops={"approvals": "memory", "quotas": "management", "quota_block": 2, "tenant": "tiny"},
    )
    billing = Billing.from_settings(s)
    billing.tenant_create(ADMIN, "tiny")
    billing.quota_set(ADMIN, "tiny", "tool_calls", 3)
    rt = Runtime(s)
    async with Client(rt.gateway(servers={"lake": lake_plane()})) as c:
        for _ in range(3):
            await c.call_tool("lake_query", {"sql": "select 1"})
        denied = await c.call_tool("lake_query", {"sql": "select 1"}, raise_on_error=False)
    await rt.aclose()
    assert denied.is_error
    decision = json.loads(denied.content[0].text.splitlines()[1])["decision"]
    assert decision["kind"] == "deny" and "quota exhausted" in decision["reason"]
    assert "0 tool_calls left" in decision["reason"]
    assert billing.quota_get(ADMIN, "tiny")[0].used == 3  # settled when the gateway closed


async def test_a_grant_larger_than_what_is_left_shrinks_to_fit(tmp_path: Path) -> None:
    billing = Billing.from_settings(Settings(home=tmp_path))
    billing.tenant_create(ADMIN, "small")
    billing.quota_set(ADMIN, "small", "tool_calls", 3)
    ledger = GrantLedger(billing, block=50)
    lease = await ledger.reserve("small", 2)  # a block of 50 does not fit; 2 does
    with pytest.raises(QuotaExceeded):
        await ledger.reserve("small", 2)
    await ledger.commit(lease, 2)
    await ledger.close()
    assert billing.quota_get(ADMIN, "small")[0].used == 2


KILLED_MIDWAY = """
import asyncio, os, signal, sys
from pathlib import Path
from auraison.mcp_servers.billing.grants import GrantLedger
from auraison.mcp_servers.billing.service import Billing
from auraison.settings import Settings

async def main():
    billing = Billing.from_settings(Settings(home=Path(sys.argv[1])))
    ledger = GrantLedger(billing, block=10, journal=Path(sys.argv[2]))
    for _ in range(3):  # three calls answered, each paid from the one block of 10
        await ledger.commit(await ledger.reserve("acme", 1), 1)
    await ledger.reserve("acme", 1)  # a fourth in flight: never answered, never billed
    os.kill(os.getpid(), signal.SIGKILL)  # no close, no settlement

asyncio.run(main())
"""


async def test_a_killed_process_s_block_is_settled_from_its_journal(tmp_path: Path) -> None:
    """A process SIGKILLed holding a block settles nothing itself; `auraison management
    expire`, or else the next ledger on the same journal, counts the calls it answered (not the
    one in flight), once, and leaves alone the journal of a process that still runs."""
    billing = Billing.from_settings(Settings(home=tmp_path))
    billing.tenant_create(ADMIN, "acme", plan="pro")
    journal = grant_journal(Settings(home=tmp_path))

    def killed_midway() -> Path:
        child = [sys.executable, "-c", KILLED_MIDWAY, str(tmp_path), str(journal)]
        assert subprocess.run(child, timeout=120).returncode == -signal.SIGKILL
        (left,) = journal.glob("*.spend")
        return left

    left = killed_midway()
    assert billing.quota_get(ADMIN, "acme")[0].used == 0  # unbilled, so far
    env = {**os.environ, "AURAISON_HOME": str(tmp_path)}
    cli = [sys.executable, "-m", "auraison", "management", "expire", "--json"]
    out = await asyncio.to_thread(subprocess.run, cli, env=env, capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert json.loads(out.stdout) == {"expired": 0, "settled": 1} and not left.exists()
    assert billing.quota_get(ADMIN, "acme")[0].used == 3

    left = killed_midway()
    ledger = GrantLedger(billing, block=5, journal=journal)  # the next process on this home
    mine = await ledger.reserve("acme", 1)  # its first grant settles the dead one's block
    assert not left.exists()
    tool_calls = billing.quota_get(ADMIN, "acme")[0]
    assert (tool_calls.used, tool_calls.reserved) == (6, 5)
    committed = billing.reservations_list(ADMIN, "acme", "committed")
    assert sorted(x.actual for x in committed) == [3, 3]

    (own,) = journal.glob("*.spend")  # this process's open block: alive, so not an orphan
    assert ledger.settle_orphans() == 0 and own.exists()
    await ledger.commit(mine, 1)
    await ledger.close()
    assert not own.exists()  # settled by its own process: the journal goes with it
    assert billing.quota_get(ADMIN, "acme")[0].used == 7


@pytest.fixture
def key_gateway(tmp_path: Path) -> Iterator[tuple[str, Billing]]:
    s = Settings(home=tmp_path, agentops={"approvals": "memory"})
    billing = Billing.from_settings(s)
    gw = Runtime(s).gateway(http=True)
    served = Served(gw.http_app())
    yield f"{served.url}/mcp", billing
    served.stop(5)


async def test_api_keys_authenticate_against_the_gateway(key_gateway) -> None:
    url, billing = key_gateway
    tenant = f"t-{uuid.uuid4().hex[:8]}"
    billing.tenant_create(ADMIN, tenant, plan="pro")
    owner = billing.apikey_issue(ADMIN, tenant, "owner", Role.owner)
    viewer = billing.apikey_issue(ADMIN, tenant, "dash", Role.viewer)
    async with Client(StreamableHttpTransport(url, auth=owner.api_key)) as c:
        got = (await c.call_tool("billing_tenant_get", {})).structured_content
        assert got["id"] == tenant
        issued = (
            await c.call_tool("billing_apikey_issue", {"name": "bot", "role": "agent"})
        ).structured_content
        assert issued["api_key"].startswith("ak_")
    async with Client(StreamableHttpTransport(url, auth=viewer.api_key)) as c:
        names = {t.name for t in await c.list_tools()}
        assert "billing_usage_report" in names and "billing_apikey_issue" not in names
        report = await c.call_tool("billing_invoice_preview", {})
        assert report.structured_content["tenant"] == tenant
    billing.apikey_revoke(ADMIN, tenant, viewer.id)
    body = {"jsonrpc": "2.0", "id": 1, "method": "tools/list", "params": {}}
    headers = {"Accept": "application/json, text/event-stream"}
    async with httpx.AsyncClient() as http:
        for key, refused in ((viewer.api_key, True), (owner.api_key, False), (owner.api_key[:-2], True)):
            resp = await http.post(url, json=body, headers=headers | {"Authorization": f"Bearer {key}"})
            assert (resp.status_code == 401) == refused


async def test_an_agent_run_is_metered_once_in_the_management_plane(tmp_path: Path) -> None:
    from auraison.agents.runner import run
    from auraison.mcp_servers.lake.server import build_server as lake_server

    s = Settings(home=tmp_path, agentops={"approvals": "memory", "quotas": "management", "tenant": "acme"})
    billing = Billing.from_settings(s)
    billing.tenant_create(ADMIN, "acme", plan="pro")
    async with Runtime(s) as rt:  # closed (its grant settled) before the books are read
        res = await run("analyst", "Which tools were called?", runtime=rt, servers={"lake": lake_server(rt)})
    assert res.usage["tool_calls"] >= 1 and res.usage["input_tokens"] > 0
    rows = {(r.dimension, r.agent): r for r in billing.usage_report(ADMIN, "acme", by=("agent",))}
    assert rows[("model_input_tokens", "analyst")].quantity == res.usage["input_tokens"]
    assert rows[("model_output_tokens", "analyst")].quantity == res.usage["output_tokens"]
    assert rows[("tool_calls", None)].quantity == res.usage["tool_calls"]  # the calls' grant, settled


def gateway_env(home: Path, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("AURAISON_")}
    return env | {"AURAISON_HOME": str(home), "AURAISON_AGENTOPS__QUOTAS": "management", **extra}


async def test_a_gateway_that_exits_settles_its_grant(tmp_path: Path) -> None:
    """A stdio gateway whose client goes away commits what it served and holds nothing."""
    billing = Billing.from_settings(Settings(home=tmp_path))
    billing.tenant_create(ADMIN, "acme")
    env = gateway_env(tmp_path, AURAISON_AGENTOPS__TENANT="acme")
    transport = StdioTransport(sys.executable, ["-m", "auraison", "gateway"], env=env)
    async with Client(transport, timeout=60) as c:
        for _ in range(3):
            await c.call_tool("lake_list_tables", {})
        held = billing.quota_get(ADMIN, "acme")[0]
        assert held.reserved > 0 and held.used == 0  # a block grant, not yet settled
    await transport.close()  # stdin closed, as Claude Code ends a session: the gateway exits
    done = billing.quota_get(ADMIN, "acme")[0]
    assert (done.used, done.reserved) == (3, 0)
    assert billing.reservations_list(ADMIN, "acme") == []


async def test_a_tenant_out_of_quota_can_still_see_why(tmp_path: Path) -> None:
    """Read-only self-service tools are not blocked by the quota they report."""
    s = Settings(home=tmp_path, agentops={"approvals": "memory", "quotas": "management", "tenant": "tiny"})
    billing = Billing.from_settings(s)
    billing.tenant_create(ADMIN, "tiny")
    billing.quota_set(ADMIN, "tiny", "tool_calls", 2)
    rt = Runtime(s, billing=billing)
    async with Client(rt.gateway(servers={"lake": lake_plane(), "billing": billing_plane(rt)})) as c:
        for _ in range(2):
            await c.call_tool("lake_query", {"sql": "select 1"})
        denied = await c.call_tool("lake_query", {"sql": "select 1"}, raise_on_error=False)
        assert denied.is_error and "quota exhausted" in denied.content[0].text
        quota = (await c.call_tool("billing_quota_get", {})).structured_content["result"]
        assert (quota[0]["dimension"], float(quota[0]["remaining"])) == ("tool_calls", 0)
        assert (await c.call_tool("approvals_list", {})).structured_content["result"] == []
    await rt.aclose()
    assert billing.quota_get(ADMIN, "tiny")[0].used == 2  # the reads cost nothing


def test_a_gateway_sent_sigterm_settles_its_grant_too(tmp_path: Path) -> None:
    """A supervisor's SIGTERM (stdin still open) ends the gateway promptly, grants settled."""
    import signal
    import subprocess

    billing = Billing.from_settings(Settings(home=tmp_path))
    billing.tenant_create(ADMIN, "acme")
    env = gateway_env(tmp_path, AURAISON_AGENTOPS__TENANT="acme", AURAISON_LOG_LEVEL="warning")
    proc = subprocess.Popen(
        [sys.executable, "-m", "auraison", "gateway"],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        env=env,
        text=True,
    )

    def ask(msg_id: int, method: str, params: dict) -> dict:
        proc.stdin.write(
            json.dumps({"jsonrpc": "2.0", "id": msg_id, "method": method, "params": params}) + "\n"
        )
        proc.stdin.flush()
        while True:  # notifications (logs, progress) may come first
            reply = json.loads(proc.stdout.readline())
            if reply.get("id") == msg_id:
                return reply

    try:
        hello = {
            "protocolVersion": "2025-06-18",
            "capabilities": {},
            "clientInfo": {"name": "t", "version": "1"},
        }
        assert "result" in ask(1, "initialize", hello)
        proc.stdin.write(json.dumps({"jsonrpc": "2.0", "method": "notifications/initialized"}) + "\n")
        for i in range(3):
            reply = ask(2 + i, "tools/call", {"name": "lake_list_tables", "arguments": {}})
            assert not reply["result"].get("isError"), reply
        assert billing.quota_get(ADMIN, "acme")[0].reserved > 0
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=30) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
    done = billing.quota_get(ADMIN, "acme")[0]
    assert (done.used, done.reserved) == (3, 0)
