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
from auraison.mcp_servers.toolcall import in_thread
from auraison.settings import Settings

from .dimensions import Dimension, Role
from .models import TENANT_PATTERN

if TYPE_CHECKING:  # the store (SQLAlchemy) loads with the plane's first use
    from auraison.runtime import Runtime

    from .service import Billing

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


def build_server(rt: Runtime) -> FastMCP:
    settings = rt.settings
    mcp = FastMCP(
        "billing",
        instructions="The management plane: tenants, users, API keys, quotas, usage and invoices. "
        "Every call acts as your identity; you see only your tenant.",
    )

    def service() -> Billing:
        return rt.billing  # opened on first use: the gateway starts while the store is down

    call = in_thread

    def who(tenant: str | None) -> tuple[Identity, str]:
        caller = caller_from_token(settings)
        return caller, tenant or caller.tenant

    @mcp.tool(annotations=WRITE)
    async def tenant_create(
        tenant: Annotated[str, Field(pattern=TENANT_PATTERN, description="slug id, e.g. acme-robotics")],
        display_name: Annotated[str, Field(max_length=200)] = "",
        plan: Annotated[str, Field(pattern=r"^[a-z0-9-]{1,40}$")] = "free",
    ) -> dict[str, Any]:
        """Create a tenant on a plan (platform admins only)."""
        caller = caller_from_token(settings)
        return (await call(service().tenant_create, caller, tenant, display_name, plan)).model_dump(
            mode="json"
        )

    @mcp.tool(annotations=READ)
    async def tenant_get(tenant: TenantArg = None) -> dict[str, Any]:
        """A tenant's plan and its counts of users and active keys."""
        caller, tenant = who(tenant)
        return (await call(service().tenant_get, caller, tenant)).model_dump(mode="json")

    @mcp.tool(annotations=WRITE)
    async def user_add(
        email: Annotated[str, Field(pattern=r"^[^@\s]+@[^@\s]+\.[^@\s]+$", max_length=320)],
        role: Literal["owner", "operator", "viewer", "agent"] = "viewer",
        tenant: TenantArg = None,
    ) -> dict[str, Any]:
        """Add a user to a tenant with a role (owners only; nobody grants above their own role)."""
        caller, tenant = who(tenant)
        return (await call(service().user_add, caller, tenant, email, Role(role))).model_dump(mode="json")

    @mcp.tool(annotations=WRITE)
    async def apikey_issue(
        name: Annotated[str, Field(min_length=1, max_length=100)],
        role: Literal["owner", "operator", "viewer", "agent"] = "agent",
        ttl_days: Annotated[int | None, Field(ge=1, le=3650)] = 90,
        tenant: TenantArg = None,
    ) -> dict[str, Any]:
        """Issue an API key; the key is in the answer once and never again (only a hash is kept)."""
        caller, tenant = who(tenant)
        issued = await call(service().apikey_issue, caller, tenant, name, Role(role), None, ttl_days)
        return issued.model_dump(mode="json")

    @mcp.tool(annotations=DESTRUCTIVE)
    async def apikey_revoke(
        key_id: Annotated[str, Field(pattern=r"^key_[0-9a-f]{16}$")], tenant: TenantArg = None
    ) -> dict[str, Any]:
        """Revoke a key at once; revoking twice is harmless."""
        caller, tenant = who(tenant)
        return (await call(service().apikey_revoke, caller, tenant, key_id)).model_dump(mode="json")

    @mcp.tool(annotations=READ)
    async def quota_get(tenant: TenantArg = None) -> list[dict[str, Any]]:
        """Per dimension this period: limit, used, reserved (held by active leases), remaining."""
        caller, tenant = who(tenant)
        return [q.model_dump(mode="json") for q in await call(service().quota_get, caller, tenant)]

    @mcp.tool(annotations=WRITE)
    async def quota_set(
        dimension: Dimension,
        limit: Annotated[
            float | None, Field(ge=0, le=1e15, allow_inf_nan=False, description="None: unlimited")
        ],
        tenant: TenantArg = None,
    ) -> dict[str, Any]:
        """Override one dimension's limit for a tenant (owners and admins)."""
        caller, tenant = who(tenant)
        return (await call(service().quota_set, caller, tenant, dimension, limit)).model_dump(mode="json")

    @mcp.tool(annotations=READ)
    async def usage_report(
        tenant: TenantArg = None,
        period: Period = None,
        by: Annotated[list[Literal["agent", "tool", "model"]], Field(max_length=3)] = ["agent", "tool"],  # noqa: B006
    ) -> list[dict[str, Any]]:
        """Usage per dimension, grouped by agent / tool / model, for one month."""
        caller, tenant = who(tenant)
        rows = await call(service().usage_report, caller, tenant, period, tuple(dict.fromkeys(by)))
        return [r.model_dump(mode="json") for r in rows]

    @mcp.tool(annotations=READ)
    async def invoice_preview(tenant: TenantArg = None, period: Period = None) -> dict[str, Any]:
        """The invoice so far for a month: usage × unit price per dimension, and the total."""
        caller, tenant = who(tenant)
        return (await call(service().invoice_preview, caller, tenant, period)).model_dump(mode="json")

    @mcp.tool(annotations=READ)
    async def reservations_list(
        tenant: TenantArg = None,
        state: Literal["active", "committed", "released", "expired", "all"] = "active",
    ) -> list[dict[str, Any]]:
        """Quota leases: what running agents hold right now (or settled ones)."""
        caller, tenant = who(tenant)
        leases = await call(service().reservations_list, caller, tenant, None if state == "all" else state)
        return [lease.model_dump(mode="json") for lease in leases]

    return mcp
