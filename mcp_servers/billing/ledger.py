"""Quota reservations: reserve before the work, settle after, atomically.

Every increase of a counter's ``reserved`` is one conditional UPDATE
(``… WHERE used + reserved + amount <= limit``): PostgreSQL re-checks the condition on the
latest row version after a concurrent writer commits, SQLite serialises writers, so no
interleaving can overspend. Every lease changes state exactly once (``WHERE state='active'``),
so a counter is decremented exactly once per lease, whether by commit, release or expiry.
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite

from auraison.errors import UserError

from .dimensions import Dimension
from .models import LeaseInfo, QuotaLine
from .schema import leases, plan_terms, quota_counters, quota_overrides, tenants, usage_events
from .store import ManagementError, NotFound, audit, new_id, period_of, utcnow

Q = quota_counters


class Overdraw(UserError):
    """A settlement that would count more usage than its lease reserved: refused, nothing changes
    (counting it would let a tenant spend past its limit without a reservation)."""


class QuotaExhausted(ManagementError):
    status_code = 409  # a conflict with what the tenant has left, not a malformed request

    def __init__(self, tenant: str, dimension: str, remaining: Decimal, wanted: Decimal) -> None:
        super().__init__(
            f"tenant {tenant} has {remaining.normalize():f} {dimension} left this period, "
            f"{wanted.normalize():f} requested; ask an owner to raise the quota "
            f"(`auraison tenants quota-set {tenant} {dimension} N`) or wait for the next period"
        )
        self.remaining = remaining


def to_amount(value: float | int | str | Decimal) -> Decimal:
    amount = Decimal(str(value))
    if not amount.is_finite() or amount < 0:
        raise ManagementError(f"amount must be a finite number >= 0, got {value!r}")
    return amount.quantize(Decimal("0.000001"))


def limit_for(conn: sa.Connection, tenant: str, dimension: str) -> tuple[Decimal | None, str]:
    """The tenant's limit for a dimension (``None``: unlimited) and where it comes from, in one
    query: an override wins over the plan's term."""
    o, t = quota_overrides, plan_terms
    row = conn.execute(
        sa.select(tenants.c.plan, t.c.limit, o.c.limit, o.c.tenant_id.is_not(None))
        .select_from(
            tenants.outerjoin(t, sa.and_(t.c.plan == tenants.c.plan, t.c.dimension == dimension)).outerjoin(
                o, sa.and_(o.c.tenant_id == tenants.c.id, o.c.dimension == dimension)
            )
        )
        .where(tenants.c.id == tenant)
    ).first()
    if row is None:
        raise NotFound(f"no tenant {tenant!r}; create it with `auraison tenants create {tenant}`")
    plan, plan_limit, override_limit, overridden = row
    return (override_limit, "override") if overridden else (plan_limit, f"plan:{plan}")


def insert_ignore(conn: sa.Connection, table: sa.Table, **values) -> int:
    """INSERT … ON CONFLICT DO NOTHING on either dialect; returns rows inserted (0 or 1)."""
    dialect = postgresql if conn.dialect.name == "postgresql" else sqlite
    stmt = dialect.insert(table).values(**values).on_conflict_do_nothing()
    # Count through RETURNING: with an implicit RETURNING of the key, rowcount is not reliable.
    return len(conn.execute(stmt.returning(sa.literal_column("1"))).all())


def _bump(conn: sa.Connection, tenant: str, dimension: str, period: str, where=(), **values) -> bool:
    """One conditional UPDATE of a counter row, creating the row first if this is the period's
    first use; returns whether the row matched (the condition held)."""
    key = (Q.c.tenant_id == tenant, Q.c.dimension == dimension, Q.c.period == period)
    update = sa.update(Q).where(*key, *where).values(**values)
    if conn.execute(update).rowcount:
        return True
    # No match: the condition failed, or the row did not exist when the UPDATE ran (another
    # writer may have created it since). Make sure it exists, then decide on a second UPDATE.
    if _counter(conn, tenant, dimension, period) is None:
        insert_ignore(conn, Q, tenant_id=tenant, dimension=dimension, period=period, used=0, reserved=0)
    return bool(conn.execute(update).rowcount)


def _counter(conn: sa.Connection, tenant: str, dimension: str, period: str):
    return conn.execute(
        sa.select(Q.c.used, Q.c.reserved).where(
            Q.c.tenant_id == tenant, Q.c.dimension == dimension, Q.c.period == period
        )
    ).first()


def reserve(
    conn: sa.Connection,
    actor: str,
    tenant: str,
    dimension: Dimension,
    amount: Decimal,
    ttl_s: float,
    idempotency_key: str | None = None,
    agent: str | None = None,
    tool: str | None = None,
) -> LeaseInfo:
    if idempotency_key is not None:
        existing = _lease_by_key(conn, tenant, idempotency_key)
        if existing is not None:
            return existing
    now = utcnow()
    period = period_of(now)
    lease = {
        "id": new_id("lse"),
        "tenant_id": tenant,
        "dimension": dimension,
        "period": period,
        "amount": amount,
        "state": "active",
        "idempotency_key": idempotency_key,
        "agent": agent,
        "tool": tool,
        "created_at": now,
        "expires_at": now + dt.timedelta(seconds=ttl_s),
    }
    if conn.dialect.name == "postgresql" and _reserve_in_one_statement(conn, actor, lease):
        return _info(lease)
    limit, _ = limit_for(conn, tenant, dimension)
    room = () if limit is None else (Q.c.used + Q.c.reserved + amount <= limit,)
    # The portable path (SQLite, where writers are serialised anyway, and PostgreSQL's first
    # use of a period or a refusal): decide first, write the lease only when granted.
    granted = _bump(conn, tenant, dimension, period, room, reserved=Q.c.reserved + amount)
    if not granted and expire_due(conn, tenant, dimension, now):
        # Leases that lapsed still held units: expiry runs here, on the refusal path, so a
        # grant that fits never pays for the sweep.
        granted = _bump(conn, tenant, dimension, period, room, reserved=Q.c.reserved + amount)
    if not granted:
        used, held = _counter(conn, tenant, dimension, period)
        raise QuotaExhausted(tenant, dimension, max(limit - used - held, Decimal(0)), amount)
    conn.execute(leases.insert().values(**lease))
    audit(conn, actor, tenant, "lease.reserve", lease["id"], dimension=dimension, amount=str(amount))
    return _info(lease)


# PostgreSQL's fast path: the limit, the conditional UPDATE of the counter, the lease and its
# audit entry in one statement (one round trip; the counter's row lock is held from here to the
# COMMIT that follows at once). If nothing was granted — no counter row yet this period, lapsed
# leases to expire first, or a real refusal — nothing was written either, and the portable path
# below decides.
_RESERVE_PG = sa.text(
    """
WITH lim AS (
    SELECT CASE WHEN o.tenant_id IS NOT NULL THEN o."limit" ELSE pt."limit" END AS value
    FROM tenants t
    LEFT JOIN plan_terms pt ON pt.plan = t.plan AND pt.dimension = :dimension
    LEFT JOIN quota_overrides o ON o.tenant_id = t.id AND o.dimension = :dimension
    WHERE t.id = :tenant
), upd AS (
    UPDATE quota_counters q SET reserved = q.reserved + :amount
    FROM lim
    WHERE q.tenant_id = :tenant AND q.dimension = :dimension AND q.period = :period
      AND (lim.value IS NULL OR q.used + q.reserved + :amount <= lim.value)
    RETURNING q.tenant_id
), lease AS (
    INSERT INTO leases (id, tenant_id, dimension, period, amount, state, idempotency_key, agent, tool,
                        created_at, expires_at)
    SELECT :id, :tenant, :dimension, :period, :amount, 'active', :key, :agent, :tool, :created, :expires
    FROM upd
    RETURNING id
), entry AS (
    INSERT INTO audit_log (at, actor, tenant_id, action, subject, detail)
    SELECT :created, :actor, :tenant, 'lease.reserve', lease.id, CAST(:detail AS JSON) FROM lease
)
SELECT
    (SELECT count(*) FROM lease) AS granted,
    (SELECT value FROM lim) AS limit_value,
    c.used, c.reserved,
    EXISTS (SELECT 1 FROM leases x WHERE x.tenant_id = :tenant AND x.dimension = :dimension
            AND x.state = 'active' AND x.expires_at <= :created) AS lapsed
FROM (SELECT 1) one
LEFT JOIN quota_counters c ON c.tenant_id = :tenant AND c.dimension = :dimension AND c.period = :period
"""
)


def _reserve_in_one_statement(conn: sa.Connection, actor: str, lease: dict) -> bool:
    """``True``: granted. ``False``: the portable path must decide (no counter row yet, or
    lapsed leases to expire first). Raises ``QuotaExhausted`` for a plain refusal."""
    import json

    out = (
        conn.execute(
            _RESERVE_PG,
            {
                "tenant": lease["tenant_id"],
                "dimension": str(lease["dimension"]),
                "period": lease["period"],
                "amount": lease["amount"],
                "id": lease["id"],
                "key": lease["idempotency_key"],
                "agent": lease["agent"],
                "tool": lease["tool"],
                "created": lease["created_at"],
                "expires": lease["expires_at"],
                "actor": actor,
                "detail": json.dumps({"dimension": str(lease["dimension"]), "amount": str(lease["amount"])}),
            },
        )
        .mappings()
        .one()
    )
    if out["granted"]:
        return True
    if out["used"] is None or out["lapsed"] or out["limit_value"] is None:
        return False
    # The counter exists, nothing lapsed, and the amount does not fit: refuse in this one trip.
    left = max(out["limit_value"] - out["used"] - out["reserved"], Decimal(0))
    raise QuotaExhausted(lease["tenant_id"], lease["dimension"], left, lease["amount"])


def settle(conn: sa.Connection, actor: str, tenant: str, lease_id: str, actual: Decimal | None) -> LeaseInfo:
    """Commit (``actual`` given: count that usage) or release (``None``) an active lease.
    Settling twice is a no-op; committing an expired lease still counts the usage it did."""
    state = "committed" if actual is not None else "released"
    now = utcnow()
    if conn.dialect.name == "postgresql":
        row = _settle_in_one_statement(conn, actor, tenant, lease_id, state, actual, now)
        if row is not None:
            return _info(row)
    # One statement moves an active lease and returns it; only the rare paths read it again.
    moved = (
        conn.execute(
            leases.update()
            .where(leases.c.id == lease_id, leases.c.tenant_id == tenant, leases.c.state == "active")
            .where(leases.c.amount >= (actual if actual is not None else 0))
            .values(state=state, actual=actual, settled_at=now)
            .returning(*leases.c)
        )
        .mappings()
        .first()
    )
    row = moved or _lease(conn, tenant, lease_id)
    if actual is not None and actual > row["amount"] and row["state"] in ("active", "expired"):
        raise Overdraw(
            f"cannot commit {actual} on lease {lease_id}: it reserved only {row['amount']}",
            "commit at most what was reserved, and reserve again for the rest",
        )
    if moved:
        values = {"reserved": Q.c.reserved - row["amount"]}
    elif row["state"] == "expired" and actual is not None:
        conn.execute(
            leases.update()
            .where(leases.c.id == lease_id, leases.c.state == "expired")
            .values(state="committed", actual=actual, settled_at=now)
        )
        values = {}  # expiry already returned the held amount
    else:
        return _info(row)
    if actual is not None and _usage_event(
        conn, tenant, row["dimension"], actual, f"lease:{lease_id}", row["period"], row["agent"], row["tool"]
    ):
        values["used"] = Q.c.used + actual
    audit(conn, actor, tenant, f"lease.{state}", lease_id, actual=None if actual is None else str(actual))
    if values:
        _bump(conn, tenant, row["dimension"], row["period"], **values)  # one UPDATE, last (see reserve)
    return _info({**row, "state": state, "actual": actual})


# PostgreSQL's fast path for settling an active lease: move it, count its usage event (once, by
# its key), give back what it held and add what it used to the counter, and audit — one
# statement. Anything else (expired, already settled, unknown) returns no row and the portable
# path below handles it.
_SETTLE_PG = sa.text(
    """
WITH l AS (
    UPDATE leases SET state = :state, actual = CAST(:actual AS NUMERIC), settled_at = :now
    WHERE id = :id AND tenant_id = :tenant AND state = 'active'
      AND amount >= COALESCE(CAST(:actual AS NUMERIC), 0)
    RETURNING *
), ev AS (
    INSERT INTO usage_events
        (tenant_id, idempotency_key, dimension, quantity, period, agent, tool, occurred_at)
    SELECT l.tenant_id, 'lease:' || l.id, l.dimension, CAST(:actual AS NUMERIC), l.period,
           l.agent, l.tool, :now
    FROM l WHERE CAST(:actual AS NUMERIC) IS NOT NULL
    ON CONFLICT DO NOTHING
    RETURNING quantity
), upd AS (
    UPDATE quota_counters q
    SET reserved = q.reserved - l.amount, used = q.used + COALESCE((SELECT sum(quantity) FROM ev), 0)
    FROM l
    WHERE q.tenant_id = l.tenant_id AND q.dimension = l.dimension AND q.period = l.period
    RETURNING 1
), entry AS (
    INSERT INTO audit_log (at, actor, tenant_id, action, subject, detail)
    SELECT :now, :actor, l.tenant_id, :action, l.id, CAST(:detail AS JSON) FROM l
)
SELECT l.*, (SELECT count(*) FROM upd) AS counted FROM l
"""
)


def _settle_in_one_statement(
    conn: sa.Connection, actor: str, tenant: str, lease_id: str, state: str, actual: Decimal | None, now
) -> dict | None:
    import json

    row = (
        conn.execute(
            _SETTLE_PG,
            {
                "state": state,
                "actual": actual,
                "now": now,
                "id": lease_id,
                "tenant": tenant,
                "actor": actor,
                "action": f"lease.{state}",
                "detail": json.dumps({"actual": None if actual is None else str(actual)}),
            },
        )
        .mappings()
        .first()
    )
    if row is None:
        return None
    if row["counted"] != 1:  # the counter row must exist (the reservation made it)
        raise ManagementError(f"lease {lease_id} has no quota counter; the ledger is inconsistent")
    return dict(row)


def count_usage(
    conn: sa.Connection,
    tenant: str,
    dimension: str,
    quantity: Decimal,
    idempotency_key: str,
    period: str | None = None,
    *,
    agent: str | None = None,
    tool: str | None = None,
    model: str | None = None,
) -> bool:
    """Count one usage event exactly once (by idempotency key); returns whether it was new."""
    period = period or period_of(utcnow())
    inserted = _usage_event(conn, tenant, dimension, quantity, idempotency_key, period, agent, tool, model)
    if inserted:
        _bump(conn, tenant, dimension, period, used=Q.c.used + quantity)
    return inserted


def _usage_event(
    conn: sa.Connection,
    tenant: str,
    dimension: str,
    quantity: Decimal,
    key: str,
    period: str,
    agent: str | None = None,
    tool: str | None = None,
    model: str | None = None,
) -> bool:
    """Insert a usage event unless its idempotency key was seen; the unique key decides."""
    return bool(
        insert_ignore(
            conn,
            usage_events,
            tenant_id=tenant,
            idempotency_key=key,
            dimension=dimension,
            quantity=quantity,
            period=period,
            agent=agent,
            tool=tool,
            model=model,
            occurred_at=utcnow(),
        )
    )


def expire_due(
    conn: sa.Connection,
    tenant: str | None = None,
    dimension: str | None = None,
    now: dt.datetime | None = None,
) -> int:
    """Expire active leases past their deadline, freeing what they held; returns how many."""
    now = now or utcnow()
    where = [leases.c.state == "active", leases.c.expires_at <= now]
    if tenant is not None:
        where.append(leases.c.tenant_id == tenant)
    if dimension is not None:
        where.append(leases.c.dimension == dimension)
    due = conn.execute(sa.select(leases).where(*where).order_by(leases.c.id).limit(500)).mappings().all()
    expired = 0
    for row in due:
        moved = conn.execute(
            leases.update()
            .where(leases.c.id == row["id"], leases.c.state == "active")
            .values(state="expired", settled_at=now)
        ).rowcount
        if moved:
            conn.execute(
                sa.update(Q)
                .where(
                    Q.c.tenant_id == row["tenant_id"],
                    Q.c.dimension == row["dimension"],
                    Q.c.period == row["period"],
                )
                .values(reserved=Q.c.reserved - row["amount"])
            )
            audit(conn, "system", row["tenant_id"], "lease.expired", row["id"], amount=str(row["amount"]))
            expired += 1
    return expired


def quota_lines(conn: sa.Connection, tenant: str, period: str | None = None) -> list[QuotaLine]:
    period = period or period_of(utcnow())
    expire_due(conn, tenant)  # what lapsed leases held is not "reserved" any more
    lines = []
    for dimension in Dimension:
        limit, source = limit_for(conn, tenant, dimension)
        used, held = _counter(conn, tenant, dimension, period) or (Decimal(0), Decimal(0))
        remaining = None if limit is None else max(limit - used - held, Decimal(0))
        lines.append(
            QuotaLine(
                dimension=dimension,
                period=period,
                limit=limit,
                used=used,
                reserved=held,
                remaining=remaining,
                source=source,
            )
        )
    return lines


def set_limit(
    conn: sa.Connection, actor: str, tenant: str, dimension: Dimension, limit: Decimal | None
) -> None:
    limit_for(conn, tenant, dimension)  # the tenant must exist
    conn.execute(
        quota_overrides.delete().where(
            quota_overrides.c.tenant_id == tenant, quota_overrides.c.dimension == dimension
        )
    )
    conn.execute(quota_overrides.insert().values(tenant_id=tenant, dimension=dimension, limit=limit))
    audit(conn, actor, tenant, "quota.set", dimension, limit=None if limit is None else str(limit))


def list_leases(
    conn: sa.Connection, tenant: str, state: str | None = "active", limit: int = 100
) -> list[LeaseInfo]:
    query = sa.select(leases).where(leases.c.tenant_id == tenant)
    if state is not None:
        query = query.where(leases.c.state == state)
    rows = conn.execute(query.order_by(leases.c.created_at.desc()).limit(limit)).mappings()
    return [_info(r) for r in rows]


def _lease(conn: sa.Connection, tenant: str, lease_id: str):
    row = (
        conn.execute(sa.select(leases).where(leases.c.id == lease_id, leases.c.tenant_id == tenant))
        .mappings()
        .first()
    )
    if row is None:
        raise NotFound(f"no lease {lease_id} in tenant {tenant}")
    return row


def _lease_by_key(conn: sa.Connection, tenant: str, key: str) -> LeaseInfo | None:
    row = (
        conn.execute(sa.select(leases).where(leases.c.tenant_id == tenant, leases.c.idempotency_key == key))
        .mappings()
        .first()
    )
    return None if row is None else _info(row)


def _info(row) -> LeaseInfo:
    return LeaseInfo(
        id=row["id"],
        tenant=row["tenant_id"],
        dimension=row["dimension"],
        amount=row["amount"],
        state=row["state"],
        period=row["period"],
        expires_at=row["expires_at"],
        actual=row.get("actual"),
        agent=row.get("agent"),
        tool=row.get("tool"),
    )
