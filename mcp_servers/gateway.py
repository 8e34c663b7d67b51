"""The Auraison gateway: every plane server mounted under its namespace, behind AgentOps.

``auraison gateway --transport stdio`` (Claude Code, agents) or ``--transport http --port N``
(streamable HTTP at ``/mcp``, bearer tokens required). The gateway adds two tools of its own:
``approvals_list`` (anyone may read what waits for a person) and ``approvals_decide`` (people
only: an API key issued to a person; agents never see it).
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
from collections.abc import Callable
from typing import TYPE_CHECKING, Annotated, Any, Literal

from fastmcp import FastMCP
from fastmcp.exceptions import ToolError
from fastmcp.server.auth import AccessToken, TokenVerifier
from pydantic import Field

from auraison.agentops.engine import AgentOps
from auraison.agentops.factory import default_identity
from auraison.agentops.middleware import AgentOpsMiddleware, current_identity, token_identity
from auraison.errors import AuraisonError
from auraison.identity import Identity
from auraison.settings import GatewayToken

if TYPE_CHECKING:
    from auraison.mcp_servers.billing.service import Billing
    from auraison.runtime import Runtime


class HashedTokenVerifier(TokenVerifier):
    """Bearer tokens: static ones from the settings (compared by SHA-256 in constant time), and
    the management plane's API keys (``ak_…``), checked against its store on every request so a
    revoked key stops working at once."""

    def __init__(self, tokens: list[GatewayToken], billing: Callable[[], Billing] | None = None) -> None:
        super().__init__()
        self._tokens = {hashlib.sha256(t.token.get_secret_value().encode()).hexdigest(): t for t in tokens}
        self._billing = billing

    async def verify_token(self, token: str) -> AccessToken | None:
        digest = hashlib.sha256(token.encode()).hexdigest()
        for known, grant in self._tokens.items():
            if hmac.compare_digest(known, digest):
                return AccessToken(
                    token=token,
                    client_id=grant.subject,
                    scopes=[],
                    claims={"tenant": grant.tenant, "role": grant.role, "kind": grant.kind},
                )
        from auraison.mcp_servers.billing.identity import KEY_PREFIX  # HTTP only: SQLAlchemy loads late
        from auraison.mcp_servers.billing.store import ManagementUnavailable

        if self._billing is not None and token.startswith(KEY_PREFIX):
            try:
                principal = await asyncio.to_thread(self._billing().authenticate, token)
            except ManagementUnavailable:
                return None  # cannot prove the key: refuse (401), never guess
            if principal is not None:
                return AccessToken(
                    token=token,
                    client_id=principal.key_id or "key",
                    scopes=[],
                    claims=principal.model_dump(
                        mode="json", include={"tenant", "role", "kind", "key_id", "user_id"}
                    ),
                )
        return None


def build_gateway(rt: Runtime, servers: dict[str, FastMCP] | None = None, http: bool = False) -> FastMCP:
    """The gateway over the runtime's plane servers (``servers`` replaces them: tests,
    benchmarks), behind the runtime's one engine. Closing is the runtime's (``rt.aclose()``)."""
    settings, engine = rt.settings, rt.engine
    auth = None
    if http:
        # Static tokens from the settings, or API keys issued by the management plane
        # (`auraison keys issue`): without either, every request is refused with 401.
        auth = HashedTokenVerifier(settings.agentops.tokens, lambda: rt.billing)
    gateway = FastMCP(
        "auraison",
        auth=auth,
        instructions="Auraison: robot, world, cluster, lake and billing tools "
        "behind AgentOps. Denials say what to do instead.",
    )
    for namespace, server in (rt.plane_servers() if servers is None else servers).items():
        gateway.mount(server, namespace=namespace)
    default = default_identity(settings)
    _approval_tools(gateway, engine, default)
    gateway.add_middleware(AgentOpsMiddleware(engine, token_identity(default)))
    return gateway


def _approval_tools(gateway: FastMCP, engine: AgentOps, default: Identity) -> None:
    from mcp.types import ToolAnnotations

    @gateway.tool(annotations=ToolAnnotations(readOnlyHint=True))
    async def approvals_list(
        status: Annotated[
            Literal["pending", "approved", "denied", "expired", "used", "all"],
            Field(description="which approvals to show"),
        ] = "pending",
    ) -> list[dict[str, Any]]:
        """Approval requests of your tenant: id, tool, (redacted) arguments, status, expiry.
        Agents read this to tell the person which id to approve; only people decide."""
        items = await engine.approvals.list(current_identity(default).tenant)
        return [a.model_dump() for a in items if status in ("all", a.status)]

    @gateway.tool(annotations=ToolAnnotations(destructiveHint=True))
    async def approvals_decide(
        approval_id: Annotated[str, Field(min_length=4, max_length=64, pattern=r"^apr_[0-9a-f]+$")],
        approve: bool,
        reason: Annotated[str, Field(max_length=500)] = "",
    ) -> dict[str, Any]:
        """Approve or deny a pending request (people only: an API key issued to a person); the
        agent may then call the tool again with the exact same arguments (an approval is
        single-use and bound to those arguments)."""
        try:
            decided = await engine.approvals.decide(
                approval_id, approve, by=current_identity(default), reason=reason
            )
        except AuraisonError as exc:
            raise ToolError(str(exc)) from None
        return decided.model_dump()
