"""The management store's tables (SQLAlchemy Core). Alembic migrations create them; this module
is the one description the domain code queries through.

Amounts are ``Numeric``: exact on PostgreSQL, where money and limits must add up to the cent.
Times are naive UTC (both dialects store them the same way).
"""

from __future__ import annotations

import sqlalchemy as sa

metadata = sa.MetaData(
    naming_convention={
        "pk": "pk_%(table_name)s",
        "fk": "fk_%(table_name)s_%(column_0_name)s",
        "uq": "uq_%(table_name)s_%(column_0_name)s",
        "ix": "ix_%(table_name)s_%(column_0_name)s",
    }
)

Amount = sa.Numeric(24, 6, asdecimal=True)

tenants = sa.Table(
    "tenants",
    metadata,
    sa.Column("id", sa.String(63), primary_key=True),  # the slug AgentOps identities carry
    sa.Column("display_name", sa.String(200), nullable=False),
    sa.Column("plan", sa.String(40), sa.ForeignKey("plans.name"), nullable=False),
    sa.Column("created_at", sa.DateTime, nullable=False),
)

users = sa.Table(
    "users",
    metadata,
    sa.Column("id", sa.String(40), primary_key=True),
    sa.Column("tenant_id", sa.String(63), sa.ForeignKey("tenants.id"), nullable=False),
    sa.Column("email", sa.String(320), nullable=False),
    sa.Column("role", sa.String(20), nullable=False),
    sa.Column("created_at", sa.DateTime, nullable=False),
    sa.UniqueConstraint("tenant_id", "email", name="uq_users_tenant_email"),
)

api_keys = sa.Table(
    "api_keys",
    metadata,
    sa.Column("id", sa.String(40), primary_key=True),
    sa.Column("tenant_id", sa.String(63), sa.ForeignKey("tenants.id"), nullable=False),
    sa.Column("user_id", sa.String(40), sa.ForeignKey("users.id"), nullable=True),
    sa.Column("name", sa.String(100), nullable=False),
    sa.Column("role", sa.String(20), nullable=False),
    sa.Column("prefix", sa.String(16), nullable=False, unique=True),
    sa.Column("hash", sa.String(64), nullable=False),
    sa.Column("created_at", sa.DateTime, nullable=False),
    sa.Column("expires_at", sa.DateTime, nullable=True),
    sa.Column("revoked_at", sa.DateTime, nullable=True),
)

plans = sa.Table(
    "plans",
    metadata,
    sa.Column("name", sa.String(40), primary_key=True),
    sa.Column("description", sa.String(200), nullable=False),
)

# Per plan and dimension: the limit per period (NULL: unlimited) and the unit price.
plan_terms = sa.Table(
    "plan_terms",
    metadata,
    sa.Column("plan", sa.String(40), sa.ForeignKey("plans.name"), primary_key=True),
    sa.Column("dimension", sa.String(40), primary_key=True),
    sa.Column("limit", Amount, nullable=True),
    sa.Column("unit_price", Amount, nullable=False),
)

quota_overrides = sa.Table(
    "quota_overrides",
    metadata,
    sa.Column("tenant_id", sa.String(63), sa.ForeignKey("tenants.id"), primary_key=True),
    sa.Column("dimension", sa.String(40), primary_key=True),
    sa.Column("limit", Amount, nullable=True),
)

# One row per tenant, dimension and period; reservations move ``reserved``, settlements move
# ``used``. The invariant ``used + reserved <= limit`` holds because every increase of
# ``reserved`` is one conditional UPDATE.
quota_counters = sa.Table(
    "quota_counters",
    metadata,
    sa.Column("tenant_id", sa.String(63), sa.ForeignKey("tenants.id"), primary_key=True),
    sa.Column("dimension", sa.String(40), primary_key=True),
    sa.Column("period", sa.String(7), primary_key=True),
    sa.Column("used", Amount, nullable=False),
    sa.Column("reserved", Amount, nullable=False),
)

leases = sa.Table(
    "leases",
    metadata,
    sa.Column("id", sa.String(40), primary_key=True),
    sa.Column("tenant_id", sa.String(63), sa.ForeignKey("tenants.id"), nullable=False),
    sa.Column("dimension", sa.String(40), nullable=False),
    sa.Column("period", sa.String(7), nullable=False),
    sa.Column("amount", Amount, nullable=False),
    sa.Column("actual", Amount, nullable=True),
    sa.Column("state", sa.String(12), nullable=False),  # active, committed, released, expired
    sa.Column("idempotency_key", sa.String(200), nullable=True),
    sa.Column("agent", sa.String(100), nullable=True),
    sa.Column("tool", sa.String(100), nullable=True),
    sa.Column("created_at", sa.DateTime, nullable=False),
    sa.Column("expires_at", sa.DateTime, nullable=False),
    sa.Column("settled_at", sa.DateTime, nullable=True),
    sa.UniqueConstraint("tenant_id", "idempotency_key", name="uq_leases_tenant_key"),
    sa.Index("ix_leases_active", "tenant_id", "dimension", "state", "expires_at"),
)

usage_events = sa.Table(
    "usage_events",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("tenant_id", sa.String(63), sa.ForeignKey("tenants.id"), nullable=False),
    sa.Column("idempotency_key", sa.String(200), nullable=False),
    sa.Column("dimension", sa.String(40), nullable=False),
    sa.Column("quantity", Amount, nullable=False),
    sa.Column("period", sa.String(7), nullable=False),
    sa.Column("agent", sa.String(100), nullable=True),
    sa.Column("tool", sa.String(100), nullable=True),
    sa.Column("model", sa.String(100), nullable=True),
    sa.Column("occurred_at", sa.DateTime, nullable=False),
    sa.UniqueConstraint("tenant_id", "idempotency_key", name="uq_usage_events_tenant_key"),
    sa.Index("ix_usage_events_period", "tenant_id", "period"),
)

# Append-only: the migration installs triggers that refuse UPDATE and DELETE.
audit_log = sa.Table(
    "audit_log",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("at", sa.DateTime, nullable=False),
    sa.Column("actor", sa.String(200), nullable=False),
    sa.Column("tenant_id", sa.String(63), nullable=True),
    sa.Column("action", sa.String(60), nullable=False),
    sa.Column("subject", sa.String(200), nullable=False),
    sa.Column("detail", sa.JSON, nullable=False),
)
