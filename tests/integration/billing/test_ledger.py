"""Reservations never overspend under concurrency, usage counts once, leases expire."""

from __future__ import annotations

import subprocess
import sys
import uuid
from concurrent.futures import ThreadPoolExecutor
from decimal import Decimal

import pytest
import sqlalchemy as sa
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from auraison.identity import Identity
from auraison.mcp_servers.billing import ledger
from auraison.mcp_servers.billing.dimensions import Dimension, Role
from auraison.mcp_servers.billing.ledger import Overdraw, QuotaExhausted
from auraison.mcp_servers.billing.schema import audit_log, leases, quota_counters, usage_events
from auraison.mcp_servers.billing.service import ADMIN, Billing

D = Dimension.gpu_seconds


def new_tenant(billing: Billing, limit: float | None = None, plan: str = "free") -> str:
    tenant = f"t-{uuid.uuid4().hex[:10]}"
    billing.tenant_create(ADMIN, tenant, plan=plan)
    if limit is not None:
        billing.quota_set(ADMIN, tenant, D, limit)
    return tenant


def books(billing: Billing, tenant: str) -> dict[str, Decimal]:
    """The ledger's own numbers and the independent sums they must equal."""
    with billing.store.transaction() as conn:
        used, reserved = conn.execute(
            sa.select(quota_counters.c.used, quota_counters.c.reserved).where(
                quota_counters.c.tenant_id == tenant, quota_counters.c.dimension == D
            )
        ).one()
        active = conn.execute(
            sa.select(sa.func.coalesce(sa.func.sum(leases.c.amount), 0)).where(
                leases.c.tenant_id == tenant, leases.c.dimension == D, leases.c.state == "active"
            )
        ).scalar_one()
        counted = conn.execute(
            sa.select(sa.func.coalesce(sa.func.sum(usage_events.c.quantity), 0)).where(
                usage_events.c.tenant_id == tenant, usage_events.c.dimension == D
            )
        ).scalar_one()
        committed = conn.execute(
            sa.select(sa.func.coalesce(sa.func.sum(leases.c.actual), 0)).where(
                leases.c.tenant_id == tenant, leases.c.state == "committed"
            )
        ).scalar_one()
    return {
        "used": Decimal(used),
        "reserved": Decimal(reserved),
        "active": Decimal(active),
        "counted": Decimal(counted),
        "committed": Decimal(committed),
    }


# Each op: (amount, how it ends: commit with a fraction of the amount, or release, or left open)
ops = st.lists(
    st.tuples(st.integers(1, 9), st.sampled_from(["commit", "release", "open"]), st.integers(0, 100)),
    min_size=16,
    max_size=64,
)


@settings(max_examples=8, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(limit=st.integers(5, 120), plan=ops)
def test_concurrent_reservations_never_overspend(billing: Billing, limit: int, plan: list) -> None:
    tenant = new_tenant(billing, limit)
    agent = Identity(tenant=tenant, role=Role.agent)

    def work(op: tuple[int, str, int]) -> tuple[str, Decimal]:
        amount, end, pct = op
        try:
            lease = billing.reserve(agent, tenant, D, amount)
        except QuotaExhausted:
            return "refused", Decimal(0)
        if end == "commit":
            actual = Decimal(amount * pct) / 100
            billing.commit(agent, tenant, lease.id, actual)
            return "committed", actual.quantize(Decimal("0.000001"))
        if end == "release":
            billing.release(agent, tenant, lease.id)
        return end, Decimal(0)

    with ThreadPoolExecutor(16) as pool:
        outcomes = list(pool.map(work, plan))

    b = books(billing, tenant)
    assert b["used"] + b["reserved"] <= limit  # never overspent
    assert b["reserved"] == b["active"]  # every held unit belongs to an active lease
    assert b["used"] == b["counted"] == b["committed"]  # every used unit is one counted event
    assert b["used"] == sum(v for k, v in outcomes if k == "committed")
    granted = [op for op, (k, _) in zip(plan, outcomes, strict=True) if k != "refused"]
    assert b["reserved"] == sum(a for a, end, _ in granted if end == "open")
    if any(k == "refused" for k, _ in outcomes):
        # A refusal is only legitimate when the limit was near: at least the smallest refused
        # amount could not fit beside what was held or used at the end.
        refused = min(op[0] for op, (k, _) in zip(plan, outcomes, strict=True) if k == "refused")
        peak = sum(a for a, _, _ in granted)
        assert peak + refused > limit


def test_sixteen_clients_race_for_the_last_units(billing: Billing) -> None:
    tenant = new_tenant(billing, 10)
    agent = Identity(tenant=tenant, role=Role.agent)

    def grab(_: int) -> bool:
        try:
            billing.reserve(agent, tenant, D, 1)
            return True
        except QuotaExhausted:
            return False

    with ThreadPoolExecutor(16) as pool:
        granted = sum(pool.map(grab, range(64)))
    assert granted == 10
    assert books(billing, tenant)["reserved"] == 10


def test_retried_usage_events_count_once(billing: Billing) -> None:
    tenant = new_tenant(billing)
    agent = Identity(tenant=tenant, role=Role.agent)

    def send(i: int) -> bool:
        return billing.record_usage(agent, tenant, D, 2.5, f"job-{i % 4}", agent="trainer")

    with ThreadPoolExecutor(16) as pool:
        firsts = list(pool.map(send, range(64)))
    assert sum(firsts) == 4  # four distinct keys, each counted by exactly one of its 16 senders
    report = billing.usage_report(ADMIN, tenant)
    assert [(r.dimension, r.agent, r.quantity, r.events) for r in report] == [
        (D, "trainer", Decimal("10.000000"), 4)
    ]


def test_idempotent_reserve_returns_the_same_lease(billing: Billing) -> None:
    tenant = new_tenant(billing, 10)
    agent = Identity(tenant=tenant, role=Role.agent)
    with ThreadPoolExecutor(8) as pool:
        ids = set(
            pool.map(lambda _: billing.reserve(agent, tenant, D, 4, idempotency_key="call-1").id, range(8))
        )
    assert len(ids) == 1
    assert books(billing, tenant)["reserved"] == 4


def test_a_crash_between_reserve_and_commit_frees_the_amount_at_expiry(billing: Billing) -> None:
    tenant = new_tenant(billing, 10)
    # A real process reserves 8 units with a short lease and dies before settling.
    script = (
        "import os, sys\n"
        "from auraison.mcp_servers.billing.store import Store\n"
        "from auraison.mcp_servers.billing.service import Billing\n"
        "from auraison.identity import Identity\n"
        "b = Billing(Store(sys.argv[1]))\n"
        "lease = b.reserve(Identity(tenant=sys.argv[2], role='agent'), sys.argv[2], 'gpu_seconds', 8,"
        " ttl_s=300)\n"
        "print(lease.id, flush=True)\n"
        "os._exit(1)\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", script, billing.store.url, tenant], capture_output=True, text=True, timeout=60
    )
    lease_id = out.stdout.strip()
    assert out.returncode == 1 and lease_id.startswith("lse_"), out.stderr
    agent = Identity(tenant=tenant, role=Role.agent)
    with pytest.raises(QuotaExhausted, match="2 gpu_seconds left"):
        billing.reserve(agent, tenant, D, 9)  # the dead process's lease still holds its 8 units
    # The held 8 units come back at the lease's deadline (the sweep runs as of that moment).
    with billing.store.transaction() as conn:
        deadline = conn.execute(sa.select(leases.c.expires_at).where(leases.c.id == lease_id)).scalar_one()
        assert ledger.expire_due(conn, tenant, D, now=deadline) == 1
    lease = billing.reserve(agent, tenant, D, 9)
    assert lease.amount == 9
    states = {x.id: x.state for x in billing.reservations_list(ADMIN, tenant, None)}
    assert states[lease_id] == "expired"
    b = books(billing, tenant)
    assert b["reserved"] == 9 and b["used"] == 0


def test_commit_is_idempotent_and_release_returns_units(billing: Billing) -> None:
    tenant = new_tenant(billing, 10)
    agent = Identity(tenant=tenant, role=Role.agent)
    a = billing.reserve(agent, tenant, D, 6)
    billing.commit(agent, tenant, a.id, 5)
    billing.commit(agent, tenant, a.id, 5)  # a retried commit
    b = billing.reserve(agent, tenant, D, 5)
    billing.release(agent, tenant, b.id)
    with pytest.raises(QuotaExhausted, match="5 gpu_seconds left this period, 6 requested"):
        billing.reserve(agent, tenant, D, 6)
    assert books(billing, tenant) == {
        "used": 5,
        "reserved": 0,
        "active": 0,
        "counted": 5,
        "committed": 5,
    }


def test_settle_never_commits_more_than_was_reserved(billing: Billing) -> None:
    """An over-commit is refused and changes nothing; the lease can still settle honestly."""
    tenant = new_tenant(billing, 10)
    agent = Identity(tenant=tenant, role=Role.agent)
    a = billing.reserve(agent, tenant, D, 4)
    with pytest.raises(Overdraw, match="reserved only 4"):
        billing.commit(agent, tenant, a.id, 9)
    assert books(billing, tenant)["used"] == 0 and books(billing, tenant)["reserved"] == 4
    billing.commit(agent, tenant, a.id, 4)
    assert books(billing, tenant)["used"] == 4 and books(billing, tenant)["reserved"] == 0


def test_the_audit_log_is_append_only(billing: Billing) -> None:
    tenant = new_tenant(billing, 10)
    with billing.store.transaction() as conn:
        actions = (
            conn.execute(
                sa.select(audit_log.c.action).where(audit_log.c.tenant_id == tenant).order_by(audit_log.c.id)
            )
            .scalars()
            .all()
        )
    assert actions == ["tenant.create", "quota.set"]
    for statement in (sa.update(audit_log).values(action="x"), sa.delete(audit_log)):
        with pytest.raises(sa.exc.DatabaseError, match="append-only"), billing.store.transaction() as conn:
            conn.execute(statement)
