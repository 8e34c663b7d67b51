"""``auraison approvals …``: people decide the tool calls AgentOps held for a human."""

from __future__ import annotations

import json
from typing import Annotated

import typer

from .output import JsonOpt, console, print_json, table
from .state import get_settings

approvals_app = typer.Typer(help="Human approvals of tool calls (AgentOps).", no_args_is_help=True)


def _store():
    from auraison.agentops.factory import approval_store

    return approval_store(get_settings())


@approvals_app.command("list")
def approvals_list(
    all_: Annotated[bool, typer.Option("--all", help="also decided and expired ones")] = False,
    as_json: JsonOpt = False,
) -> None:
    """List approval requests (pending ones unless --all)."""
    import asyncio
    import time

    items = [a for a in asyncio.run(_store().list()) if all_ or a.status == "pending"]
    if as_json:
        print_json([a.model_dump() for a in items])
        return
    rows = [
        [
            a.id,
            a.tenant,
            a.tool,
            json.dumps(a.args)[:120],
            a.status,
            f"{max(0, a.expires_at - time.time()):.0f}s",
        ]
        for a in items
    ]
    cols = ["id", "tenant", "tool", "arguments", "status", "expires in"]
    console().print(table(cols, rows, "approvals") if items else "no approval requests")


def _decide(approval_id: str, approve: bool, reason: str) -> None:
    """Decide as the person running this (a terminal, or a person's key: ``auraison.principals``)."""
    import asyncio

    from auraison.principals import local_person

    person = local_person(get_settings())
    a = asyncio.run(_store().decide(approval_id, approve, by=person, reason=reason))
    console().print(f"{a.id}: {a.status} ({a.tool} {json.dumps(a.args)[:120]})")


ReasonOpt = Annotated[str, typer.Option(help="why (kept with the decision)")]
IdArg = Annotated[str, typer.Argument(help="the approval id (apr_…), from `approvals list`")]


@approvals_app.command("approve")
def approvals_approve(approval_id: IdArg, reason: ReasonOpt = "") -> None:
    """Approve a pending request; the agent's identical retry then runs once."""
    _decide(approval_id, True, reason)


@approvals_app.command("deny")
def approvals_deny(approval_id: IdArg, reason: ReasonOpt = "") -> None:
    """Deny a pending request; the agent is told it was denied and why."""
    _decide(approval_id, False, reason)
