"""The ``billing`` MCP server (``billing_*`` on the gateway): tenants, users, API keys, quotas,
usage and invoices. Role and tenant checks live in the domain layer (``Billing``); this module
only validates arguments, names the caller and turns refusals into tool errors."""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated, Any, Literal, TypeVar

from fastmcp import FastMCP
from mcp.types import ToolAnnotations
from pydantic import Field

from auraison.agentops.factory import default_identity
from auraison.agentops.middleware import current_identity
from auraison.identity import Identity
from auraison.mcp_servers.toolcall import in_thread, plane_tool, serve_tools
from auraison.settings import Settings

from .dimensions import Dimension, Role
from .models import TENANT_PATTERN

if TYPE_CHECKING:
    from auraison.runtime import Runtime

READ = ToolAnnotations(readOnlyHint=True, destructiveHint=False)
WRITE = ToolAnnotations(readOnlyHint=False, destructiveHint=False)
DESTRUCTIVE = ToolAnnotations(readOnlyHint=False, destructiveHint=True)

TenantArg = Annotated[
    str | None, Field(default=None, pattern=TENANT_PATTERN, description="default: your own tenant")
]
Period = Annotated[
    str | None, Field(default=None, pattern=r"^\d{4}-\d{2}$", description="YYYY-MM; default: now")
]
T = TypeVar("T")


def caller_from_token(settings: Settings) -> Identity:
    """The identity of the current MCP request (see ``current_identity``)."""
    return current_identity(default_identity(settings))


def who(rt: Runtime, tenant: str | None) -> tuple[Identity, str]:
    """The caller, and the tenant a call acts on: the one named, else the caller's own."""
    caller = caller_from_token(rt.settings)
    return caller, tenant or caller.tenant


@plane_tool(WRITE)
async def tenant_create(
    rt: Runtime,
    tenant: Annotated[str, Field(pattern=TENANT_PATTERN, description="slug id, e.g. acme-robotics")],
    display_name: Annotated[str, Field(max_length=200)] = "",
    plan: Annotated[str, Field(pattern=r"^[a-z0-9-]{1,40}$")] = "free",
) -> dict[str, Any]:
    """Create a tenant on a plan (platform admins only)."""
    caller = caller_from_token(rt.settings)
    return (await in_thread(rt.billing.tenant_create, caller, tenant, display_name, plan)).model_dump(
        mode="json"
    )


@plane_tool(READ)
async def tenant_get(rt: Runtime, tenant: TenantArg = None) -> dict[str, Any]:
    """A tenant's plan and its counts of users and active keys."""
    caller, tenant = who(rt, tenant)
    return (await in_thread(rt.billing.tenant_get, caller, tenant)).model_dump(mode="json")


@plane_tool(WRITE)
async def user_add(
    rt: Runtime,
    email: Annotated[str, Field(pattern=r"^[^@\s]+@[^@\s]+\.[^@\s]+$", max_length=320)],
    role: Literal["owner", "operator", "viewer", "agent"] = "viewer",
    tenant: TenantArg = None,
) -> dict[str, Any]:
    """Add a user to a tenant with a role (owners only; nobody grants above their own role)."""
    caller, tenant = who(rt, tenant)
    return (await in_thread(rt.billing.user_add, caller, tenant, email, Role(role))).model_dump(mode="json")


@plane_tool(WRITE)
async def apikey_issue(
    rt: Runtime,
    name: Annotated[str, Field(min_length=1, max_length=100)],
    role: Literal["owner", "operator", "viewer", "agent"] = "agent",
    ttl_days: Annotated[int | None, Field(ge=1, le=3650)] = 90,
    tenant: TenantArg = None,
) -> dict[str, Any]:
    """Issue an API key; the key is in the answer once and never again (only a hash is kept)."""
    caller, tenant = who(rt, tenant)
    issued = await in_thread(rt.billing.apikey_issue, caller, tenant, name, Role(role), None, ttl_days)
    return issued.model_dump(mode="json")


@plane_tool(DESTRUCTIVE)
async def apikey_revoke(
    rt: Runtime, key_id: Annotated[str, Field(pattern=r"^key_[0-9a-f]{16}$")], tenant: TenantArg = None
) -> dict[str, Any]:
    """Revoke a key at once; revoking twice is harmless."""
    caller, tenant = who(rt, tenant)
    return (await in_thread(rt.billing.apikey_revoke, caller, tenant, key_id)).model_dump(mode="json")


@plane_tool(READ)
async def quota_get(rt: Runtime, tenant: TenantArg = None) -> list[dict[str, Any]]:
    """Per dimension this period: limit, used, reserved (held by active leases), remaining."""
    caller, tenant = who(rt, tenant)
    return [q.model_dump(mode="json") for q in await in_thread(rt.billing.quota_get, caller, tenant)]


@plane_tool(WRITE)
async def quota_set(
    rt: Runtime,
    dimension: Dimension,
    limit: Annotated[float | None, Field(ge=0, le=1e15, allow_inf_nan=False, description="None: unlimited")],
    tenant: TenantArg = None,
) -> dict[str, Any]:
    """Override one dimension's limit for a tenant (owners and admins)."""
    caller, tenant = who(rt, tenant)
    return (await in_thread(rt.billing.quota_set, caller, tenant, dimension, limit)).model_dump(mode="json")


@plane_tool(READ)
async def usage_report(
    rt: Runtime,
    tenant: TenantArg = None,
    period: Period = None,
    by: Annotated[list[Literal["agent", "tool", "model"]], Field(max_length=3)] = ["agent", "tool"],  # noqa: B006
) -> list[dict[str, Any]]:
    """Usage per dimension, grouped by agent / tool / model, for one month."""
    caller, tenant = who(rt, tenant)
    rows = await in_thread(rt.billing.usage_report, caller, tenant, period, tuple(dict.fromkeys(by)))
    return [r.model_dump(mode="json") for r in rows]


@plane_tool(READ)
async def invoice_preview(rt: Runtime, tenant: TenantArg = None, period: Period = None) -> dict[str, Any]:
    """The invoice so far for a month: usage × unit price per dimension, and the total."""
    caller, tenant = who(rt, tenant)
    return (await in_thread(rt.billing.invoice_preview, caller, tenant, period)).model_dump(mode="json")


@plane_tool(READ)
async def reservations_list(
    rt: Runtime,
    tenant: TenantArg = None,
    state: Literal["active", "committed", "released", "expired", "all"] = "active",
) -> list[dict[str, Any]]:
    """Quota leases: what running agents hold right now (or settled ones)."""
    caller, tenant = who(rt, tenant)
    leases = await in_thread(rt.billing.reservations_list, caller, tenant, None if state == "all" else state)
    return [lease.model_dump(mode="json") for lease in leases]


TOOLS = (
    tenant_create,
    tenant_get,
    user_add,
    apikey_issue,
    apikey_revoke,
    quota_get,
    quota_set,
    usage_report,
    invoice_preview,
    reservations_list,
)


def build_server(rt: Runtime) -> FastMCP:
    """The billing tools over the runtime's management store (opened on first use: the gateway
    starts while the store is down, and the first call reports the outage)."""
    mcp = FastMCP(
        "billing",
        instructions="The management plane: tenants, users, API keys, quotas, usage and invoices. "
        "Every call acts as your identity; you see only your tenant.",
    )
    return serve_tools(mcp, rt, TOOLS)
