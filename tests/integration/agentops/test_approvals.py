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
    ApprovalForbidden,
    ApprovalStore,
    MemoryApprovalStore,
    RedisApprovalStore,
    SqliteApprovalStore,
)
from auraison.agentops.policy import parse_policy
from auraison.identity import PrincipalKind, Role
from tests.terminal import run_at_terminal

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


def person(name: str, tenant: str = "acme", role: Role = Role.operator) -> Identity:
    return Identity(tenant=tenant, role=role, subject=name, kind=PrincipalKind.human)


async def test_grant_is_bound_to_exact_arguments_and_single_use(store: ApprovalStore) -> None:
    eng = AgentOps(POLICY, approvals=store)
    first = await eng.decide(call({"linear": 0.1}))
    assert first.kind == "needs_approval"
    again = await eng.decide(call({"linear": 0.1}))
    assert again.kind == "needs_approval" and again.approval_id == first.approval_id  # no duplicate
    await store.decide(first.approval_id, True, by=person("alice"))
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
    await store.decide(d.approval_id, False, by=person("bob"), reason="robot is charging")
    again = await eng.decide(call({"linear": 0.1}))
    assert again.kind == "deny" and "robot is charging" in again.reason and "bob" in again.reason
    with pytest.raises(ApprovalError, match="not pending"):
        await store.decide(d.approval_id, True, by=person("eve"))


async def test_expiry_is_a_deny(store: ApprovalStore) -> None:
    short = POLICY.model_copy(update={"approval_ttl_s": 0.05})
    eng = AgentOps(short, approvals=store)
    d = await eng.decide(call({"linear": 0.1}))
    deadline = asyncio.get_running_loop().time() + 5
    while (await store.get(d.approval_id)).status != "expired":  # poll the TTL, bounded
        assert asyncio.get_running_loop().time() < deadline
        await asyncio.sleep(0.01)
    with pytest.raises(ApprovalError, match="expired"):
        await store.decide(d.approval_id, True, by=person("late"))
    expired = await eng.decide(call({"linear": 0.1}))
    assert expired.kind == "deny" and "expired" in expired.reason
    fresh = await eng.decide(call({"linear": 0.1}))
    assert fresh.kind == "needs_approval" and fresh.approval_id != d.approval_id


async def test_concurrent_consumers_use_a_grant_once(store: ApprovalStore) -> None:
    eng = AgentOps(POLICY, approvals=store)
    d = await eng.decide(call({"linear": 0.1}))
    await store.decide(d.approval_id, True, by=person("alice"))
    results = await asyncio.gather(*(store.consume(d.approval_id) for _ in range(10)))
    assert results.count(True) == 1


async def test_agents_never_decide_approvals(store: ApprovalStore) -> None:
    """An agent principal is refused whatever its role; the request stays pending."""
    eng = AgentOps(POLICY, approvals=store)
    d = await eng.decide(call({"linear": 0.1}))
    for role in Role:
        with pytest.raises(ApprovalForbidden, match="agents never decide"):
            await store.decide(d.approval_id, True, by=Identity(tenant="acme", role=role, subject="bot"))
    assert (await store.get(d.approval_id)).status == "pending"
    assert (await eng.decide(call({"linear": 0.1}))).kind == "needs_approval"


async def test_nobody_decides_their_own_request(store: ApprovalStore) -> None:
    """A person who asked for a call cannot approve it; another person of the tenant can."""
    eng = AgentOps(POLICY, approvals=store)
    asked = ToolCall(identity=person("alice"), tool="robot_drive", args={"linear": 0.1})
    d = await eng.decide(asked)
    with pytest.raises(ApprovalForbidden, match="cannot decide it"):
        await store.decide(d.approval_id, True, by=person("alice"))
    with pytest.raises(ApprovalError, match="no approval"):  # another tenant's person
        await store.decide(d.approval_id, True, by=person("bob", tenant="globex"))
    with pytest.raises(ApprovalForbidden, match="viewer may not decide"):  # a person who only watches
        await store.decide(d.approval_id, True, by=person("vic", role=Role.viewer))
    assert (await store.decide(d.approval_id, True, by=person("bob"))).status == "approved"


async def test_dry_decision_changes_nothing(store: ApprovalStore) -> None:
    """The hook's dry check neither opens a request nor consumes a granted one."""
    eng = AgentOps(POLICY, approvals=store)
    dry = await eng.decide(call({"linear": 0.1}), dry=True)
    assert dry.kind == "needs_approval" and dry.approval_id is None
    assert await store.list("acme") == []
    d = await eng.decide(call({"linear": 0.1}))
    assert (await eng.decide(call({"linear": 0.1}), dry=True)).approval_id == d.approval_id
    await store.decide(d.approval_id, True, by=person("alice"))
    for _ in range(3):
        assert (await eng.decide(call({"linear": 0.1}), dry=True)).kind == "allow"
    assert (await store.get(d.approval_id)).status == "approved"  # still there for the real call
    assert (await eng.decide(call({"linear": 0.1}))).kind == "allow"
    assert (await store.get(d.approval_id)).status == "used"


def test_approvals_decide_is_for_people_only() -> None:
    """Even a policy that allows every tool to every role never lets an agent see or call it."""
    eng = AgentOps(parse_policy("version: 1\nrules:\n  - name: all\n    allow: ['*']\n"))
    agent = Identity(tenant="acme", role=Role.admin)
    assert not eng.visible(agent, "approvals_decide") and eng.visible(person("alice"), "approvals_decide")
    d = asyncio.run(eng.decide(ToolCall(identity=agent, tool="approvals_decide", args={})))
    assert d.kind == "deny" and "for people only" in d.reason
    human = ToolCall(identity=person("alice"), tool="approvals_decide", args={})
    assert asyncio.run(eng.decide(human)).kind == "allow"


def test_cli_decides_what_another_process_asked(tmp_path: Path) -> None:
    """Embedded profile: an agent asks in one process, a person at a terminal decides with
    `auraison approvals` in another (they share the SQLite store); without a terminal or a
    person's key the CLI refuses, so an agent's shell cannot approve."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("AURAISON_")}
    env |= {"AURAISON_HOME": str(tmp_path)}
    store = SqliteApprovalStore(tmp_path / "data" / "agentops" / "approvals.sqlite")
    asked = asyncio.run(AgentOps(POLICY, approvals=store).decide(call({"linear": 0.1}, tenant="default")))
    listed = subprocess.run(
        [sys.executable, "-m", "auraison", "approvals", "list", "--json"],
        capture_output=True,
        text=True,
        env=env,
        check=True,
    ).stdout
    import json

    (pending,) = json.loads(listed)
    assert pending["id"] == asked.approval_id and pending["args"] == {"linear": 0.1}
    approve = [sys.executable, "-m", "auraison", "approvals", "approve", pending["id"]]
    no_tty = subprocess.run(approve, capture_output=True, text=True, env=env, stdin=subprocess.DEVNULL)
    assert no_tty.returncode != 0 and "only a person decides" in no_tty.stderr
    assert len(no_tty.stderr.strip().splitlines()) == 1
    assert asyncio.run(store.get(pending["id"])).status == "pending"
    res = run_at_terminal(approve, env)
    assert res.returncode == 0 and "approved" in res.stdout, res.stderr
    got = asyncio.run(store.get(pending["id"]))
    assert got.status == "approved" and got.decided_by.startswith("human:cli:")
    bad = run_at_terminal([sys.executable, "-m", "auraison", "approvals", "deny", "apr_nope"], env)
    assert bad.returncode == 2 and "no approval" in bad.stderr
