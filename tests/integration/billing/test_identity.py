"""Roles and tenant isolation for every billing tool, API keys, and migrations both ways."""

from __future__ import annotations

import uuid
from decimal import Decimal
from typing import Any

import pytest
import sqlalchemy as sa
from fastmcp import Client

from auraison.identity import Identity, PrincipalKind
from auraison.mcp_servers.billing.dimensions import PERMISSIONS, Role
from auraison.mcp_servers.billing.server import build_server
from auraison.mcp_servers.billing.service import ADMIN, Billing
from auraison.mcp_servers.billing.store import Forbidden, Store
from auraison.runtime import Runtime
from auraison.settings import Settings

# tool -> (permission it needs, arguments for a call that would succeed on one's own tenant)
TOOLS: dict[str, tuple[str, dict[str, Any]]] = {
    "tenant_get": ("tenant.get", {}),
    "user_add": ("user.add", {"email": "new@example.com", "role": "viewer"}),
    "apikey_issue": ("key.issue", {"name": "ci", "role": "agent"}),  # MCP sessions are agents
    "apikey_revoke": ("key.revoke", {"key_id": "KEY"}),
    "quota_get": ("quota.get", {}),
    "quota_set": ("quota.set", {"dimension": "gpu_seconds", "limit": 100}),
    "usage_report": ("usage.report", {}),
    "invoice_preview": ("invoice.preview", {}),
    "reservations_list": ("reservations.list", {}),
}


def two_tenants(billing: Billing) -> tuple[str, str, str]:
    a, b = (f"t-{uuid.uuid4().hex[:8]}" for _ in range(2))
    billing.tenant_create(ADMIN, a, plan="pro")
    billing.tenant_create(ADMIN, b)
    key = billing.apikey_issue(ADMIN, a, "victim", Role.viewer)
    return a, b, key.id


@pytest.mark.parametrize("role", ["owner", "operator", "viewer", "agent"])
async def test_every_tool_checks_role_and_tenant(billing: Billing, role: str, tmp_path) -> None:
    mine, other, key_id = two_tenants(billing)
    settings = Settings(home=tmp_path, agentops={"tenant": mine, "role": role})
    server = build_server(Runtime(settings, billing=billing))
    async with Client(server) as c:
        for tool, (permission, args) in TOOLS.items():
            args = {k: (key_id if v == "KEY" else v) for k, v in args.items()}
            own = await c.call_tool(tool, args, raise_on_error=False)
            allowed = Role(role) in PERMISSIONS[permission]
            assert own.is_error != allowed, (tool, role, own.content)
            if not allowed:
                assert f"role {role} may not {permission}" in own.content[0].text
            cross = await c.call_tool(tool, args | {"tenant": other}, raise_on_error=False)
            assert cross.is_error, (tool, role)  # a tenant never sees or touches another tenant
            text = cross.content[0].text
            assert f"cannot act on tenant {other}" in text or f"may not {permission}" in text
        created = await c.call_tool("tenant_create", {"tenant": "sneaky"}, raise_on_error=False)
        assert created.is_error and "may not tenant.create" in created.content[0].text


def test_nobody_grants_above_their_role(billing: Billing) -> None:
    tenant, _, _ = two_tenants(billing)
    operator = Identity(tenant=tenant, role=Role.operator)
    with pytest.raises(Forbidden, match="operator cannot grant the owner role"):
        billing.apikey_issue(operator, tenant, "escalate", Role.owner)
    with pytest.raises(Forbidden, match="admin role belongs to the platform"):
        billing.user_add(Identity(tenant=tenant, role=Role.owner), tenant, "x@y.io", Role.admin)
    assert billing.apikey_issue(operator, tenant, "agent-key", Role.agent).role == Role.agent
    # An agent principal never mints a key that proves a person (it could then approve its own
    # requests), whatever its role; a person in the same role may.
    for role in (Role.operator, Role.viewer):
        with pytest.raises(Forbidden, match="only issue agent keys"):
            billing.apikey_issue(Identity(tenant=tenant, role=Role.owner), tenant, "me", role)
    person = Identity(tenant=tenant, role=Role.owner, subject="ann", kind=PrincipalKind.human)
    assert billing.apikey_issue(person, tenant, "ann", Role.operator).role == Role.operator


def test_api_keys_are_shown_once_hashed_revocable_and_expire(billing: Billing) -> None:
    tenant, _, _ = two_tenants(billing)
    issued = billing.apikey_issue(ADMIN, tenant, "robot", Role.agent, ttl_days=1)
    who = billing.authenticate(issued.api_key)
    assert who is not None and (who.tenant, who.role, who.key_id) == (tenant, Role.agent, issued.id)
    with billing.store.transaction() as conn:
        stored = conn.execute(
            sa.text("SELECT hash, prefix FROM api_keys WHERE id = :i"), {"i": issued.id}
        ).one()
    assert issued.api_key not in stored and stored.prefix in issued.api_key  # only a hash is kept
    assert billing.authenticate(issued.api_key[:-1] + ("A" if issued.api_key[-1] != "A" else "B")) is None
    assert billing.authenticate("ak_nothing_here") is None and billing.authenticate("garbage") is None
    listed = billing.apikey_list(ADMIN, tenant)
    assert all("api_key" not in k.model_dump() for k in listed)
    billing.apikey_revoke(ADMIN, tenant, issued.id)
    assert billing.authenticate(issued.api_key) is None
    expired = billing.apikey_issue(ADMIN, tenant, "old", Role.viewer, ttl_days=1)
    with billing.store.transaction() as conn:
        conn.execute(sa.text("UPDATE api_keys SET expires_at = created_at WHERE id = :i"), {"i": expired.id})
    assert billing.authenticate(expired.api_key) is None


def test_migrations_run_down_and_up_on_a_populated_store(store_url: str) -> None:
    store = Store(store_url)
    store.migrate()
    billing = Billing(store)
    tenant, _, _ = two_tenants(billing)
    lease = billing.reserve(ADMIN, tenant, "gpu_seconds", 3)
    billing.commit(ADMIN, tenant, lease.id, 2)
    store.downgrade("0001")  # the plans stay: tenants still use them
    assert store.current_revision() == "0001"
    store.migrate()
    assert billing.quota_get(ADMIN, tenant)[4].used == 2
    store.downgrade("base")
    assert store.current_revision() is None
    assert not sa.inspect(store.engine).get_table_names() or set(
        sa.inspect(store.engine).get_table_names()
    ) <= {"alembic_version"}
    store.migrate()  # and up again on the now-empty database
    assert store.current_revision() == "0002"
    assert [t.id for t in Billing(store).tenant_list(ADMIN)] == []
    store.close()


def test_invoice_preview_prices_usage_per_dimension(billing: Billing) -> None:
    tenant, _, _ = two_tenants(billing)  # on the pro plan
    agent = Identity(tenant=tenant, role=Role.agent)
    billing.record_usage(
        agent, tenant, "gpu_seconds", 1000, "job-1", agent="trainer", tool="cluster_job_submit"
    )
    billing.record_usage(agent, tenant, "tool_calls", 400, "batch-1", agent="nav")
    counted = billing.record_model_usage(agent, tenant, "call-1", "claude-sonnet-4-5", 100_000, 20_000, "nav")
    again = billing.record_model_usage(agent, tenant, "call-1", "claude-sonnet-4-5", 100_000, 20_000, "nav")
    assert counted["counted"] and not again["counted"]
    invoice = billing.invoice_preview(Identity(tenant=tenant, role=Role.viewer), tenant)
    lines = {line.dimension: line for line in invoice.lines}
    assert lines["gpu_seconds"].amount == Decimal("0.80")  # 1000 s × $0.0008
    assert lines["tool_calls"].amount == Decimal("0.20")
    assert lines["model_cost_usd"].quantity == Decimal("0.6")  # 0.1M × $3 + 0.02M × $15
    assert invoice.total == sum(line.amount for line in invoice.lines)
