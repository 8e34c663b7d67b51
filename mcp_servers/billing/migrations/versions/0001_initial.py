"""Tenants, users, API keys, plans, quotas, leases, usage events and the audit log.

Revision ID: 0001
Revises:
"""

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None

Amount = sa.Numeric(24, 6)
Tenant = sa.String(63)


def upgrade() -> None:
    op.create_table(
        "plans",
        sa.Column("name", sa.String(40), primary_key=True),
        sa.Column("description", sa.String(200), nullable=False),
    )
    op.create_table(
        "tenants",
        sa.Column("id", Tenant, primary_key=True),
        sa.Column("display_name", sa.String(200), nullable=False),
        sa.Column("plan", sa.String(40), sa.ForeignKey("plans.name"), nullable=False),
        sa.Column("created_at", sa.DateTime, nullable=False),
    )
    op.create_table(
        "users",
        sa.Column("id", sa.String(40), primary_key=True),
        sa.Column("tenant_id", Tenant, sa.ForeignKey("tenants.id"), nullable=False),
        sa.Column("email", sa.String(320), nullable=False),
        sa.Column("role", sa.String(20), nullable=False),
        sa.Column("created_at", sa.DateTime, nullable=False),
        sa.UniqueConstraint("tenant_id", "email", name="uq_users_tenant_email"),
    )
    op.create_table(
        "api_keys",
        sa.Column("id", sa.String(40), primary_key=True),
        sa.Column("tenant_id", Tenant, sa.ForeignKey("tenants.id"), nullable=False),
        sa.Column("user_id", sa.String(40), sa.ForeignKey("users.id"), nullable=True),
        sa.Column("name", sa.String(100), nullable=False),
        sa.Column("role", sa.String(20), nullable=False),
        sa.Column("prefix", sa.String(16), nullable=False, unique=True),
        sa.Column("hash", sa.String(64), nullable=False),
        sa.Column("created_at", sa.DateTime, nullable=False),
        sa.Column("expires_at", sa.DateTime, nullable=True),
        sa.Column("revoked_at", sa.DateTime, nullable=True),
    )
    op.create_table(
        "plan_terms",
        sa.Column("plan", sa.String(40), sa.ForeignKey("plans.name"), primary_key=True),
        sa.Column("dimension", sa.String(40), primary_key=True),
        sa.Column("limit", Amount, nullable=True),
        sa.Column("unit_price", Amount, nullable=False),
    )
    op.create_table(
        "quota_overrides",
        sa.Column("tenant_id", Tenant, sa.ForeignKey("tenants.id"), primary_key=True),
        sa.Column("dimension", sa.String(40), primary_key=True),
        sa.Column("limit", Amount, nullable=True),
    )
    op.create_table(
        "quota_counters",
        sa.Column("tenant_id", Tenant, sa.ForeignKey("tenants.id"), primary_key=True),
        sa.Column("dimension", sa.String(40), primary_key=True),
        sa.Column("period", sa.String(7), primary_key=True),
        sa.Column("used", Amount, nullable=False),
        sa.Column("reserved", Amount, nullable=False),
    )
    op.create_table(
        "leases",
        sa.Column("id", sa.String(40), primary_key=True),
        sa.Column("tenant_id", Tenant, sa.ForeignKey("tenants.id"), nullable=False),
        sa.Column("dimension", sa.String(40), nullable=False),
        sa.Column("period", sa.String(7), nullable=False),
        sa.Column("amount", Amount, nullable=False),
        sa.Column("actual", Amount, nullable=True),
        sa.Column("state", sa.String(12), nullable=False),
        sa.Column("idempotency_key", sa.String(200), nullable=True),
        sa.Column("agent", sa.String(100), nullable=True),
        sa.Column("tool", sa.String(100), nullable=True),
        sa.Column("created_at", sa.DateTime, nullable=False),
        sa.Column("expires_at", sa.DateTime, nullable=False),
        sa.Column("settled_at", sa.DateTime, nullable=True),
        sa.UniqueConstraint("tenant_id", "idempotency_key", name="uq_leases_tenant_key"),
    )
    op.create_index("ix_leases_active", "leases", ["tenant_id", "dimension", "state", "expires_at"])
    op.create_table(
        "usage_events",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("tenant_id", Tenant, sa.ForeignKey("tenants.id"), nullable=False),
        sa.Column("idempotency_key", sa.String(200), nullable=False),
        sa.Column("dimension", sa.String(40), nullable=False),
        sa.Column("quantity", Amount, nullable=False),
        sa.Column("period", sa.String(7), nullable=False),
        sa.Column("agent", sa.String(100), nullable=True),
        sa.Column("tool", sa.String(100), nullable=True),
        sa.Column("model", sa.String(100), nullable=True),
        sa.Column("occurred_at", sa.DateTime, nullable=False),
        sa.UniqueConstraint("tenant_id", "idempotency_key", name="uq_usage_events_tenant_key"),
    )
    op.create_index("ix_usage_events_period", "usage_events", ["tenant_id", "period"])
    op.create_table(
        "audit_log",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("at", sa.DateTime, nullable=False),
        sa.Column("actor", sa.String(200), nullable=False),
        sa.Column("tenant_id", Tenant, nullable=True),
        sa.Column("action", sa.String(60), nullable=False),
        sa.Column("subject", sa.String(200), nullable=False),
        sa.Column("detail", sa.JSON, nullable=False),
    )
    _append_only("audit_log")


def downgrade() -> None:
    _drop_append_only("audit_log")
    for table in (
        "audit_log",
        "usage_events",
        "leases",
        "quota_counters",
        "quota_overrides",
        "plan_terms",
        "api_keys",
        "users",
        "tenants",
        "plans",
    ):
        op.drop_table(table)


def _append_only(table: str) -> None:
    """Refuse UPDATE and DELETE in the database itself, whatever code connects."""
    if op.get_bind().dialect.name == "postgresql":
        op.execute(
            "CREATE FUNCTION auraison_append_only() RETURNS trigger LANGUAGE plpgsql AS $$ "
            "BEGIN RAISE EXCEPTION 'the % table is append-only', TG_TABLE_NAME; END $$"
        )
        op.execute(
            f"CREATE TRIGGER {table}_append_only BEFORE UPDATE OR DELETE ON {table} "
            "FOR EACH ROW EXECUTE FUNCTION auraison_append_only()"
        )
    else:
        for verb in ("UPDATE", "DELETE"):
            op.execute(
                f"CREATE TRIGGER {table}_no_{verb.lower()} BEFORE {verb} ON {table} "
                f"BEGIN SELECT RAISE(ABORT, 'the {table} table is append-only'); END"
            )


def _drop_append_only(table: str) -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute(f"DROP TRIGGER IF EXISTS {table}_append_only ON {table}")
        op.execute("DROP FUNCTION IF EXISTS auraison_append_only()")
    else:
        for verb in ("update", "delete"):
            op.execute(f"DROP TRIGGER IF EXISTS {table}_no_{verb}")
