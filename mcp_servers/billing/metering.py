"""Usage metering and billing: usage events counted once, reports, and invoice previews.

Model spend is priced with ``genai-prices`` (the pydantic project's price table, bundled with
the package, so pricing works offline)."""

from __future__ import annotations

from decimal import Decimal

import sqlalchemy as sa

from .dimensions import Dimension
from .ledger import count_usage, to_amount
from .models import Invoice, InvoiceLine, UsageRow
from .schema import plan_terms, tenants, usage_events
from .store import ManagementError, audit, period_of, utcnow


def model_cost(
    model: str, input_tokens: int, output_tokens: int, provider: str | None = None
) -> Decimal | None:
    """USD for one model call, or ``None`` for a model genai-prices does not know."""
    from genai_prices import Usage, calc_price

    try:
        price = calc_price(
            Usage(input_tokens=input_tokens, output_tokens=output_tokens),
            model_ref=model,
            provider_id=provider,
        )
    except LookupError:
        return None
    return Decimal(price.total_price)


def record_model_usage(
    conn: sa.Connection,
    actor: str,
    tenant: str,
    idempotency_key: str,
    model: str,
    input_tokens: int,
    output_tokens: int,
    agent: str | None = None,
    provider: str | None = None,
) -> dict[str, bool | str | None]:
    """Tokens in, tokens out and their cost, as three events under one idempotency key."""
    cost = model_cost(model, input_tokens, output_tokens, provider)
    parts = [
        (Dimension.model_input_tokens, Decimal(input_tokens)),
        (Dimension.model_output_tokens, Decimal(output_tokens)),
    ]
    if cost is not None:
        parts.append((Dimension.model_cost_usd, to_amount(cost)))
    counted = False
    for dimension, quantity in parts:
        counted |= count_usage(
            conn, tenant, dimension, quantity, f"{idempotency_key}:{dimension}", agent=agent, model=model
        )
    if counted:
        audit(conn, actor, tenant, "usage.model", idempotency_key, model=model, cost=str(cost))
    return {"counted": counted, "cost_usd": None if cost is None else str(cost)}


def usage_report(
    conn: sa.Connection, tenant: str, period: str | None = None, by: tuple[str, ...] = ("agent", "tool")
) -> list[UsageRow]:
    period = period or period_of(utcnow())
    cols = [usage_events.c.dimension, *(usage_events.c[name] for name in by)]
    rows = conn.execute(
        sa.select(*cols, sa.func.sum(usage_events.c.quantity), sa.func.count())
        .where(usage_events.c.tenant_id == tenant, usage_events.c.period == period)
        .group_by(*cols)
        .order_by(*cols)
    ).all()
    out = []
    for row in rows:
        named = dict(zip(["dimension", *by], row[: len(cols)], strict=True))
        out.append(UsageRow(**named, quantity=to_amount(row[-2]), events=row[-1]))
    return out


def invoice_preview(conn: sa.Connection, tenant: str, period: str | None = None) -> Invoice:
    period = period or period_of(utcnow())
    plan = conn.execute(sa.select(tenants.c.plan).where(tenants.c.id == tenant)).scalar_one_or_none()
    if plan is None:
        raise ManagementError(f"no tenant {tenant!r}")
    prices = dict(
        conn.execute(
            sa.select(plan_terms.c.dimension, plan_terms.c.unit_price).where(plan_terms.c.plan == plan)
        ).all()
    )
    totals = dict(
        conn.execute(
            sa.select(usage_events.c.dimension, sa.func.sum(usage_events.c.quantity))
            .where(usage_events.c.tenant_id == tenant, usage_events.c.period == period)
            .group_by(usage_events.c.dimension)
        ).all()
    )
    lines = []
    for dimension in Dimension:
        quantity = to_amount(totals.get(dimension, 0))
        price = to_amount(prices.get(dimension, 0))
        lines.append(
            InvoiceLine(
                dimension=dimension,
                quantity=quantity,
                unit_price=price,
                amount=(quantity * price).quantize(Decimal("0.01")),
            )
        )
    total = sum((line.amount for line in lines), Decimal("0.00"))
    return Invoice(tenant=tenant, period=period, plan=plan, lines=lines, total=total)
