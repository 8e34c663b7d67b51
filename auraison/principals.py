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
