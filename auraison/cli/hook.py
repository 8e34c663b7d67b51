"""``auraison hook …``: Claude Code hooks backed by the AgentOps policy.

``auraison hook pre-tool-use`` normally never reaches this module: ``auraison.cli.main`` sends it
to ``auraison.agentops.hook.main`` before typer is imported (it runs before every tool call).
This command is the same hook reached through the full CLI, e.g. with ``--config`` first."""

from __future__ import annotations

import typer

from .state import get_settings

hook_app = typer.Typer(help="Claude Code hooks backed by the AgentOps policy.", no_args_is_help=True)


@hook_app.command("pre-tool-use")
def hook_pre_tool_use() -> None:
    """Claude Code PreToolUse hook: the hook JSON on stdin, the decision JSON on stdout (a dry
    check: it never opens or consumes an approval); fails closed with exit 2."""
    from auraison.agentops.hook import main

    raise typer.Exit(main(get_settings()))
