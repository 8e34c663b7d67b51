"""How a person proves they are one, at this machine: the human principals of the trust boundary.

Agents (Claude Code, Pydantic AI runs) reach the same shell a person uses, so "it came from the
CLI" proves nothing by itself. A decision that only people may take — approving or denying a
tool call — needs one of:

* an interactive terminal (stdin is a TTY): a person typing the command. Claude Code's Bash
  tool and agent subprocesses run without one; and
* an API key issued to a person, in ``AURAISON_API_KEY`` (any role but ``agent``), checked
  against the management plane, which also names the tenant the person acts in.

Anything else is refused with one line that says which of the two to use.
"""

from __future__ import annotations

import getpass
import os
import sys

from auraison.errors import Forbidden, Unavailable
from auraison.identity import Identity, PrincipalKind, Role
from auraison.settings import Settings

API_KEY_ENV = "AURAISON_API_KEY"


def local_person(settings: Settings) -> Identity:
    """The person running this command, proven by a human API key or an interactive terminal."""
    key = os.environ.get(API_KEY_ENV, "").strip()
    if key:
        return _key_holder(settings, key)
    if not sys.stdin.isatty():
        raise Forbidden(
            "only a person decides approvals, and this command has no terminal to prove one: run it "
            f"in an interactive terminal, or set {API_KEY_ENV} to an API key issued to a person"
        )
    return Identity(
        tenant=settings.agentops.tenant,
        role=Role.admin,
        subject=f"cli:{getpass.getuser()}",
        kind=PrincipalKind.human,
    )


def local_caller(settings: Settings) -> Identity:
    """Who runs an acting command at this machine, in the settings' tenant: the platform admin
    when a person is proven (a person's key, or a terminal), else the same agent principal as
    the stdio gateway — an agent's shell gets exactly what the agent gets over MCP."""
    if os.environ.get(API_KEY_ENV, "").strip():
        return local_person(settings)
    if sys.stdin.isatty():
        return Identity(
            tenant=settings.agentops.tenant,
            role=Role.admin,
            subject=f"cli:{getpass.getuser()}",
            kind=PrincipalKind.human,
        )
    from auraison.agentops.factory import default_identity

    return default_identity(settings)


def local_admin(settings: Settings) -> Identity:
    """Who runs a platform command at this machine (``auraison tenants``, ``keys``, …): the
    platform admin, and a *person* only when proven as ``local_person`` proves one. Unproven —
    an agent's shell — it stays an agent principal: it may manage the platform as before, but
    never mint a key that proves a person, nor decide an approval."""
    if os.environ.get(API_KEY_ENV, "").strip():
        return local_person(settings)  # a key's holder acts as what the key grants, no more
    kind = PrincipalKind.human if sys.stdin.isatty() else PrincipalKind.agent
    return Identity(tenant="*", role=Role.admin, subject=f"cli:{getpass.getuser()}", kind=kind)


def _key_holder(settings: Settings, key: str) -> Identity:
    from auraison.runtime import Runtime

    try:
        who = Runtime(settings).billing.authenticate(key)
    except Unavailable as exc:
        raise Unavailable(f"cannot check {API_KEY_ENV}: {exc}") from None
    if who is None:
        raise Forbidden(f"{API_KEY_ENV} is not a valid key (unknown, revoked or expired)")
    if not who.is_human:
        raise Forbidden(f"{API_KEY_ENV} is an agent's key ({who.role}); approvals need a person's key")
    return who
