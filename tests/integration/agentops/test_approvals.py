"""One approvals contract, three stores (memory, SQLite file, real Redis)."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from auraison.agentops import AgentOps, Identity, ToolCall
from auraison.agentops.approvals import (
    ApprovalError,
    ApprovalStore,
    MemoryApprovalStore,
    RedisApprovalStore,
    SqliteApprovalStore,
)
from auraison.agentops.policy import parse_policy

POLICY = parse_policy("""\
version: 1
approval_ttl_s: 60
rules:
  - name: r
    allow: ["robot_*"]
    approval: ["robot_drive"]
""")


@pytest.fixture(params=["memory", "sqlite", "redis"])
async def store(
    request: pytest.FixtureRequest, tmp_path: Path, redis_prefix: str
) -> AsyncIterator[ApprovalStore]:
    if request.param == "memory":
        yield MemoryApprovalStore()
    elif request.param == "sqlite":
        yield SqliteApprovalStore(tmp_path / "a.sqlite")
    else:
        s = RedisApprovalStore("redis://127.0.0.1:6379/0", redis_prefix)
        yield s
        keys = await s.r.keys(redis_prefix + "*")
        if keys:
            await s.r.delete(*keys)
        await s.close()


def call(args: dict, tenant: str = "acme") -> ToolCall:
    return ToolCall(identity=Identity(tenant=tenant), tool="robot_drive", args=args)


async def test_grant_is_bound_to_exact_arguments_and_single_use(store: ApprovalStore) -> None:
    eng = AgentOps(POLICY, approvals=store)
    first = await eng.decide(call({"linear": 0.1}))
    assert first.kind == "needs_approval"
    again = await eng.decide(call({"linear": 0.1}))
    assert again.kind == "needs_approval" and again.approval_id == first.approval_id  # no duplicate
    await store.decide(first.approval_id, True, by="alice")
    other = await eng.decide(call({"linear": 0.2}))  # one argument changed: not covered
    assert other.kind == "needs_approval" and other.approval_id != first.approval_id
    other_tenant = await eng.decide(call({"linear": 0.1}, tenant="globex"))
    assert other_tenant.kind == "needs_approval"  # tenants never share grants
    granted = await eng.decide(call({"linear": 0.1}))
    assert granted.kind == "allow" and "alice" in granted.reason
    used = await eng.decide(call({"linear": 0.1}))
    assert used.kind == "needs_approval"  # single use: the next identical call asks again


async def test_denial_is_reported_with_reason(store: ApprovalStore) -> None:
    eng = AgentOps(POLICY, approvals=store)
    d = await eng.decide(call({"linear": 0.1}))
    await store.decide(d.approval_id, False, by="bob", reason="robot is charging")
    again = await eng.decide(call({"linear": 0.1}))
    assert again.kind == "deny" and "robot is charging" in again.reason and "bob" in again.reason
    with pytest.raises(ApprovalError, match="not pending"):
        await store.decide(d.approval_id, True, by="eve")


async def test_expiry_is_a_deny(store: ApprovalStore) -> None:
    short = POLICY.model_copy(update={"approval_ttl_s": 0.05})
    eng = AgentOps(short, approvals=store)
    d = await eng.decide(call({"linear": 0.1}))
    deadline = asyncio.get_running_loop().time() + 5
    while (await store.get(d.approval_id)).status != "expired":  # poll the TTL, bounded
        assert asyncio.get_running_loop().time() < deadline
        await asyncio.sleep(0.01)
    with pytest.raises(ApprovalError, match="expired"):
        await store.decide(d.approval_id, True, by="late")
    expired = await eng.decide(call({"linear": 0.1}))
    assert expired.kind == "deny" and "expired" in expired.reason
    fresh = await eng.decide(call({"linear": 0.1}))
    assert fresh.kind == "needs_approval" and fresh.approval_id != d.approval_id


async def test_concurrent_consumers_use_a_grant_once(store: ApprovalStore) -> None:
    eng = AgentOps(POLICY, approvals=store)
    d = await eng.decide(call({"linear": 0.1}))
    await store.decide(d.approval_id, True, by="alice")
    results = await asyncio.gather(*(store.consume(d.approval_id) for _ in range(10)))
    assert results.count(True) == 1


def test_cli_decides_what_another_process_asked(tmp_path: Path) -> None:
    """Embedded profile: the agent and `auraison approvals` share the SQLite store."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("AURAISON_")}
    env |= {"AURAISON_HOME": str(tmp_path)}
    hook_in = '{"tool_name":"mcp__robot__drive","tool_input":{"linear":0.1}}'
    out = subprocess.run(
        [sys.executable, "-m", "auraison", "hook", "pre-tool-use"],
        input=hook_in,
        capture_output=True,
        text=True,
        env=env,
        check=True,
    ).stdout
    assert '"ask"' in out
    listed = subprocess.run(
        [sys.executable, "-m", "auraison", "approvals", "list", "--json"],
        capture_output=True,
        text=True,
        env=env,
        check=True,
    ).stdout
    import json

    (pending,) = json.loads(listed)
    assert pending["tool"] == "robot_drive" and pending["args"] == {"linear": 0.1}
    res = subprocess.run(
        [sys.executable, "-m", "auraison", "approvals", "approve", pending["id"]],
        capture_output=True,
        text=True,
        env=env,
    )
    assert res.returncode == 0 and "approved" in res.stdout
    store = SqliteApprovalStore(tmp_path / "data" / "agentops" / "approvals.sqlite")
    assert asyncio.run(store.get(pending["id"])).status == "approved"
    bad = subprocess.run(
        [sys.executable, "-m", "auraison", "approvals", "deny", "apr_nope"],
        capture_output=True,
        text=True,
        env=env,
    )
    assert bad.returncode == 2 and "no approval" in bad.stderr
