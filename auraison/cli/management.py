"""``auraison tenants …``, ``auraison keys …`` and ``auraison management …``: the management
plane for the platform operator, who acts as ``admin`` (whoever can reach the store can)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated, Any

import typer

from auraison.mcp_servers.billing.dimensions import Dimension, Role

from .output import JsonOpt, console, print_json
from .output import show as _show
from .state import get_settings

if TYPE_CHECKING:
    from auraison.mcp_servers.billing.service import Billing

tenants_app = typer.Typer(
    help="Tenants, their users, quotas, usage and invoices (management plane).", no_args_is_help=True
)
keys_app = typer.Typer(help="API keys: issue (shown once), list, revoke.", no_args_is_help=True)
management_app = typer.Typer(
    help="The management store: schema migrations and lease expiry.", no_args_is_help=True
)

PeriodOpt = Annotated[str | None, typer.Option(help="YYYY-MM (default: this month)")]
TenantArg = Annotated[str, typer.Argument(help="the tenant's id")]


def _billing(migrate: bool = True) -> Billing:
    """The management plane's service (imported here: SQLAlchemy is not needed for `--help`)."""
    from auraison.mcp_servers.billing.service import Billing

    return Billing.from_settings(get_settings(), migrate=migrate)


def _admin() -> Any:
    """The platform operator's identity; a person only when this command proves one (a terminal
    or a person's key), else an agent acting as admin (``auraison.principals.local_admin``)."""
    from auraison.principals import local_admin

    return local_admin(get_settings())


@tenants_app.command("create")
def tenants_create(
    tenant: Annotated[str, typer.Argument(help="slug id, e.g. acme-robotics")],
    name: Annotated[str, typer.Option(help="display name")] = "",
    plan: Annotated[str, typer.Option(help="free or pro")] = "free",
    as_json: JsonOpt = False,
) -> None:
    """Create a tenant on a plan."""
    _show([_billing().tenant_create(_admin(), tenant, name, plan)], ["id", "display_name", "plan"], as_json)


@tenants_app.command("list")
def tenants_list(as_json: JsonOpt = False) -> None:
    """Every tenant with its plan, users and active keys."""
    _show(_billing().tenant_list(_admin()), ["id", "display_name", "plan", "users", "active_keys"], as_json)


@tenants_app.command("add-user")
def tenants_add_user(
    tenant: TenantArg,
    email: Annotated[str, typer.Argument(help="the user's e-mail address")],
    role: Annotated[Role, typer.Option(help="owner, operator, viewer or agent")] = Role.viewer,
    as_json: JsonOpt = False,
) -> None:
    """Add a user to a tenant."""
    _show([_billing().user_add(_admin(), tenant, email, role)], ["id", "tenant", "email", "role"], as_json)


@tenants_app.command("quota")
def tenants_quota(tenant: TenantArg, as_json: JsonOpt = False) -> None:
    """Limits, use and reservations this period."""
    cols = ["dimension", "limit", "used", "reserved", "remaining", "source"]
    _show(_billing().quota_get(_admin(), tenant), cols, as_json, f"quota of {tenant}")


@tenants_app.command("quota-set")
def tenants_quota_set(
    tenant: TenantArg,
    dimension: Annotated[Dimension, typer.Argument(help="what is limited, e.g. tool_calls")],
    limit: Annotated[str, typer.Argument(help="a number, or 'none' for unlimited")],
    as_json: JsonOpt = False,
) -> None:
    """Override one dimension's limit for a tenant."""
    try:
        value = None if limit.lower() == "none" else float(limit)
    except ValueError:
        raise typer.BadParameter(f"{limit!r} is not a number; use a number or 'none'") from None
    line = _billing().quota_set(_admin(), tenant, dimension, value)
    _show([line], ["dimension", "limit", "used", "reserved", "remaining", "source"], as_json)


@tenants_app.command("usage")
def tenants_usage(
    tenant: TenantArg,
    period: PeriodOpt = None,
    by: Annotated[str, typer.Option(help="comma list of agent, tool, model")] = "agent,tool",
    as_json: JsonOpt = False,
) -> None:
    """Usage per dimension, grouped by agent / tool / model."""
    groups = tuple(g.strip() for g in by.split(",") if g.strip())
    bad = [g for g in groups if g not in ("agent", "tool", "model")]
    if bad:
        raise typer.BadParameter(f"cannot group by {', '.join(bad)}; use agent, tool or model")
    rows = _billing().usage_report(_admin(), tenant, period, groups)
    _show(rows, ["dimension", *groups, "quantity", "events"], as_json, f"usage of {tenant}")


@tenants_app.command("invoice")
def tenants_invoice(tenant: TenantArg, period: PeriodOpt = None, as_json: JsonOpt = False) -> None:
    """The invoice so far for a month (a preview: nothing is charged)."""
    invoice = _billing().invoice_preview(_admin(), tenant, period)
    if as_json:
        print_json(invoice)
        return
    _show(
        invoice.lines,
        ["dimension", "quantity", "unit_price", "amount"],
        False,
        f"{tenant} · {invoice.period} · plan {invoice.plan}",
    )
    console().print(f"total: {invoice.total} {invoice.currency} (preview)")


@tenants_app.command("leases")
def tenants_leases(
    tenant: TenantArg,
    state: Annotated[str, typer.Option(help="active, committed, released, expired or all")] = "active",
    as_json: JsonOpt = False,
) -> None:
    """Quota leases (what running agents hold)."""
    rows = _billing().reservations_list(_admin(), tenant, None if state == "all" else state)
    _show(rows, ["id", "dimension", "amount", "state", "expires_at", "agent"], as_json)


@keys_app.command("issue")
def keys_issue(
    tenant: TenantArg,
    name: Annotated[str, typer.Argument(help="what the key is for, e.g. ci-bot")],
    role: Annotated[Role, typer.Option(help="owner, operator, viewer or agent")] = Role.agent,
    ttl_days: Annotated[int | None, typer.Option(min=1, help="expiry (default: never)")] = None,
    as_json: JsonOpt = False,
) -> None:
    """Issue an API key. It is printed once; only its hash is stored."""
    issued = _billing().apikey_issue(_admin(), tenant, name, role, None, ttl_days)
    if as_json:
        print_json(issued)
        return
    console().print(f"key {issued.id} ({issued.role}) for {tenant}; store it now, it is not shown again:")
    print(issued.api_key)


@keys_app.command("list")
def keys_list(tenant: TenantArg, as_json: JsonOpt = False) -> None:
    """Keys of a tenant (prefixes only, never secrets)."""
    _show(
        _billing().apikey_list(_admin(), tenant),
        ["id", "name", "role", "prefix", "created_at", "expires_at", "revoked_at"],
        as_json,
    )


@keys_app.command("revoke")
def keys_revoke(
    tenant: TenantArg,
    key_id: Annotated[str, typer.Argument(help="the key's id (key_…), from `keys list`")],
    as_json: JsonOpt = False,
) -> None:
    """Revoke a key; it stops working on the next request."""
    _show([_billing().apikey_revoke(_admin(), tenant, key_id)], ["id", "name", "revoked_at"], as_json)


@management_app.command("migrate")
def management_migrate(
    revision: Annotated[
        str, typer.Argument(help="head, or a revision id; below current downgrades")
    ] = "head",
) -> None:
    """Bring the store's schema to a revision (the same migrations on SQLite and PostgreSQL)."""
    billing = _billing(migrate=False)
    current = billing.store.current_revision()
    if revision in ("base", "0") or (revision != "head" and current and revision < current):
        billing.store.downgrade(revision)
    else:
        billing.store.migrate(revision)
    console().print(f"management store at revision {billing.store.current_revision() or 'base'}")


@management_app.command("expire")
def management_expire(as_json: JsonOpt = False) -> None:
    """Settle the quota blocks of this home's processes that died holding them (from their
    journals: what they used is counted), then expire leases past their deadline (reservations
    also do this as they go)."""
    from auraison.mcp_servers.billing.grants import GrantLedger
    from auraison.runtime import grant_journal

    billing = _billing()
    settled = GrantLedger(billing, journal=grant_journal(get_settings())).settle_orphans()
    expired = billing.expire_due()
    if as_json:
        print_json({"expired": expired, "settled": settled})
    else:
        console().print(f"settled {settled} blocks of dead processes; expired {expired} leases")
