"""The built-in plans: ``free`` (small limits) and ``pro`` (larger limits, list prices).

Revision ID: 0002
Revises: 0001
"""

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"

PLANS = {
    "free": "Evaluation: small monthly limits, no charge",
    "pro": "Production: large monthly limits, usage billed at list prices",
}
# dimension: (free limit, pro limit, pro unit price in USD); model cost is passed through.
TERMS = {
    "tool_calls": (10_000, 1_000_000, "0.0005"),
    "model_input_tokens": (2_000_000, None, "0"),
    "model_output_tokens": (500_000, None, "0"),
    "model_cost_usd": (10, 5_000, "1"),
    "gpu_seconds": (3_600, 360_000, "0.0008"),
    "cpu_seconds": (36_000, 3_600_000, "0.00002"),
    "robot_motion_minutes": (600, 60_000, "0.05"),
}


def upgrade() -> None:
    plans = sa.table("plans", sa.column("name"), sa.column("description"))
    terms = sa.table(
        "plan_terms", sa.column("plan"), sa.column("dimension"), sa.column("limit"), sa.column("unit_price")
    )
    # A downgrade keeps plans that tenants still use, so insert only the missing ones.
    present = {row[0] for row in op.get_bind().execute(sa.text("SELECT name FROM plans"))}
    op.bulk_insert(plans, [{"name": k, "description": v} for k, v in PLANS.items() if k not in present])
    rows = []
    for dimension, (free, pro, price) in TERMS.items():
        rows.append({"plan": "free", "dimension": dimension, "limit": free, "unit_price": 0})
        rows.append({"plan": "pro", "dimension": dimension, "limit": pro, "unit_price": price})
    op.bulk_insert(terms, rows)


def downgrade() -> None:
    op.execute("DELETE FROM plan_terms WHERE plan IN ('free', 'pro')")
    # A plan that tenants still use stays: a downgrade never orphans a tenant.
    op.execute("DELETE FROM plans WHERE name IN ('free', 'pro') AND name NOT IN (SELECT plan FROM tenants)")
