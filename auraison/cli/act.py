"""Acting from the CLI: every command that changes something runs as the MCP tool of the same
name and arguments, under the one AgentOps engine (point ``cli``) — the policy, approvals (an
approval asked here binds the same call over MCP or HTTP), quotas, limits and traces apply to a
shell exactly as to an agent. Who acts is ``auraison.principals.local_caller``: the platform
admin when a person is proven, else the stdio gateway's agent principal.

The command's own files stay the shell's (it could read them anyway); what is guarded is what
the command does to the platform."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, TypeVar

from auraison.errors import Forbidden

from .state import get_settings

if TYPE_CHECKING:
    from auraison.identity import Identity
    from auraison.runtime import Runtime

T = TypeVar("T")


def caller() -> Identity:
    """Who runs this command (see the module's docstring)."""
    from auraison.principals import local_caller

    return local_caller(get_settings())


def act(tool: str, args: dict[str, Any], fn: Callable[[Runtime, Identity], T]) -> T:
    """Run ``fn(runtime, who)`` as the call ``tool(args)``, decided by the runtime's engine; a
    refusal or a hold for a person raises the engine's typed error (one line at the CLI)."""
    from auraison.agentops.decision import ToolCall
    from auraison.runtime import Runtime

    rt = Runtime(get_settings())
    who = caller()
    call = ToolCall(identity=who, tool=tool, args=args, point="cli")

    async def go() -> T:
        try:
            return await rt.engine.execute(call, lambda: asyncio.to_thread(fn, rt, who))
        finally:
            await rt.aclose()

    return asyncio.run(go())


def tenant_for(who: Identity, requested: str | None) -> str:
    """The tenant a command acts in: the caller's own, or — ``--tenant`` — another one, which
    only a person with the admin role may name (an agent's shell stays in its tenant, as over
    MCP, where the tenant comes from the identity and never from an argument)."""
    from auraison.identity import Role

    if requested is None or requested == who.tenant:
        return who.tenant
    if who.is_human and who.role is Role.admin:
        return requested
    raise Forbidden(
        f"{who.principal()} may not act in tenant {requested!r}: leave out --tenant, or run the "
        "command as a person with the admin role"
    )
