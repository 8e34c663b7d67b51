"""The ``auraison`` command line: one entry point for every plane.

Entry points only parse input, call the library and render the result (``output``). Errors end
as one line on stderr: a usage error (unknown command or option, bad value, missing argument)
or a ``UserError`` exits 2, any other ``AuraisonError`` exits 1; no traceback, no usage box.

``main`` imports nothing heavy before it knows what to run: ``auraison hook pre-tool-use`` (run
before every Claude Code tool call) goes straight to ``auraison.agentops.hook.main`` without
typer or rich, and the command tree (``root``) is imported only for everything else."""

from __future__ import annotations

import sys
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import typer

    from .state import get_settings

__all__ = ["app", "get_settings", "main"]

PROG = "auraison"


def __getattr__(name: str) -> Any:
    """``app`` and ``get_settings`` on first use, so ``from auraison.cli import main`` stays cheap."""
    if name == "app":
        from .root import app

        return app
    if name == "get_settings":
        from .state import get_settings

        return get_settings
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def main(argv: list[str] | None = None) -> None:
    """Console entry point (``auraison = "auraison.cli:main"``); exits with the command's code."""
    args = sys.argv[1:] if argv is None else list(argv)
    if args[:2] == ["hook", "pre-tool-use"]:
        from auraison.agentops.hook import main as hook_main

        sys.exit(hook_main())
    sys.exit(run(args))


def run(args: list[str]) -> int:
    """Run the command tree on ``args`` and turn every way it can end into an exit code."""
    import typer
    from typer._click import exceptions as click  # typer vendors click; these are its exceptions

    from auraison.errors import AuraisonError, UserError

    from .output import error_line
    from .root import command

    try:
        code = command().main(args=args, prog_name=PROG, standalone_mode=False)
        return code if isinstance(code, int) else 0  # click returns an Exit's code in this mode
    except click.NoArgsIsHelpError as exc:  # a group called without a command: its help
        if text := exc.format_message():
            sys.stdout.write(text.rstrip("\n") + "\n")
        return 2
    except click.UsageError as exc:
        error_line(f"{exc.format_message()} (see `{_help_path(exc.ctx)} --help`)")
        return 2
    except typer.Exit as exc:
        return exc.exit_code
    except (typer.Abort, KeyboardInterrupt):
        error_line("aborted")
        return 130
    except click.ClickException as exc:
        error_line(exc.format_message())
        return exc.exit_code
    except UserError as exc:
        error_line(str(exc))
        return 2
    except AuraisonError as exc:
        error_line(str(exc))
        return 1
    except Exception as exc:
        if (line := _invalid_input(exc)) is None:
            raise  # a bug: the traceback is what a developer needs
        error_line(line)
        return 2


def _invalid_input(exc: Exception) -> str | None:
    """A pydantic ``ValidationError`` raised at the boundary (a command building a request
    model from its arguments) is bad input: one line naming the fields, exit 2."""
    if "pydantic_core" not in sys.modules:
        return None
    from pydantic_core import ValidationError

    if not isinstance(exc, ValidationError):
        return None
    parts = [f"{'.'.join(map(str, e['loc'])) or 'input'}: {e['msg']}" for e in exc.errors()[:3]]
    return f"invalid {exc.title}: {'; '.join(parts)}"


def _help_path(ctx: Any) -> str:
    return ctx.command_path if ctx is not None and ctx.command_path else PROG


if TYPE_CHECKING:
    app: typer.Typer
