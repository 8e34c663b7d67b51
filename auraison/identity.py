"""Who is calling: the one identity every plane, every enforcement point and the HTTP API share.

An identity names a tenant, a subject inside it, a role, and a *kind*: ``human`` (a person at the
local CLI, or holding an API key issued to a person) or ``agent`` (every MCP session of the stdio
gateway, every Pydantic AI agent, every key with role ``agent``). The kind is what the trust
boundary turns on: only humans decide approvals, and nobody decides a request they made. Anything
not proven human is an agent — the safe default.
"""

from __future__ import annotations

from enum import StrEnum

from pydantic import BaseModel, ConfigDict


class Role(StrEnum):
    """``admin`` is the platform operator (the local CLI); the others live inside a tenant."""

    admin = "admin"
    owner = "owner"
    operator = "operator"
    viewer = "viewer"
    agent = "agent"


class PrincipalKind(StrEnum):
    """A person or a program acting on a person's behalf."""

    human = "human"
    agent = "agent"


class Identity(BaseModel):
    """One caller: tenant, subject, role and principal kind (agent unless proven human)."""

    model_config = ConfigDict(frozen=True)
    tenant: str = "default"
    role: Role = Role.operator
    subject: str = "local"
    kind: PrincipalKind = PrincipalKind.agent
    user_id: str | None = None
    """The management plane's user behind the call, when one is known."""
    key_id: str | None = None
    """The API key that proved the call, when it came with one."""

    @property
    def is_human(self) -> bool:
        return self.kind is PrincipalKind.human

    @property
    def actor(self) -> str:
        """The name audit logs and approval decisions record."""
        return self.key_id or self.user_id or self.subject or f"{self.role}@{self.tenant}"

    def principal(self) -> str:
        """``kind:subject@tenant`` — what an approval records as its requester or decider."""
        return f"{self.kind}:{self.actor}@{self.tenant}"


def key_kind(role: Role) -> PrincipalKind:
    """An API key with role ``agent`` is an agent's; a key in any other role was issued to a
    person (the management plane issues agent keys with role ``agent``)."""
    return PrincipalKind.agent if role is Role.agent else PrincipalKind.human
