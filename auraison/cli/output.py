"""The one way every command prints: a table (or a line) for people, ``--json`` for programs,
and errors as one line on stderr. Every command group, the plane CLIs included, uses this, so
``--json`` means the same thing everywhere: the data, indented, on stdout, nothing else."""

from __future__ import annotations

import json
import sys
from collections.abc import Iterable, Mapping, Sequence
from functools import cache
from typing import TYPE_CHECKING, Annotated, Any

import typer

if TYPE_CHECKING:
    from rich.console import Console
    from rich.table import Table

JsonOpt = Annotated[bool, typer.Option("--json", help="machine-readable output: JSON on stdout")]


@cache
def console() -> Console:
    """Standard output for people (rich is imported on first use, not at start-up)."""
    from rich.console import Console

    return Console()


@cache
def err_console() -> Console:
    """Standard error: progress and errors, so stdout stays clean for pipes."""
    from rich.console import Console

    return Console(stderr=True)


def jsonable(value: Any) -> Any:
    """Pydantic models, lists of them and plain data alike, as JSON-ready values."""
    if hasattr(value, "model_dump"):
        return value.model_dump(mode="json")
    if isinstance(value, list | tuple):
        return [jsonable(v) for v in value]
    if isinstance(value, Mapping):
        return {k: jsonable(v) for k, v in value.items()}
    return value


def print_json(data: Any) -> None:
    """The data as indented JSON on stdout: no colour, no wrapping, safe to pipe to ``jq``."""
    sys.stdout.write(json.dumps(jsonable(data), indent=2, default=str) + "\n")


def _cell(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, dict | list):
        return json.dumps(value, default=str)
    return str(value)


def table(columns: Sequence[str], rows: Iterable[Sequence[Any]], title: str | None = None) -> Table:
    """A rich table whose cells fold instead of being cut off."""
    from rich.table import Table

    out = Table(title=title)
    for col in columns:
        out.add_column(col, overflow="fold")
    for row in rows:
        out.add_row(*(_cell(v) for v in row))
    return out


def show(rows: Iterable[Any], columns: Sequence[str], as_json: bool, title: str | None = None) -> None:
    """A list of records (models or dicts): the named columns as a table, or all fields as JSON."""
    data = [jsonable(r) for r in rows]
    if as_json:
        print_json(data)
    else:
        console().print(table(columns, ([item.get(c) for c in columns] for item in data), title))


def show_one(obj: Any, as_json: bool, title: str | None = None) -> None:
    """One record: a field/value table, or JSON."""
    data = jsonable(obj)
    if as_json:
        print_json(data)
    else:
        console().print(table(["field", "value"], data.items(), title))


def error_line(message: str) -> None:
    """One line on stderr: ``error: <message>``; nothing else (no usage box, no traceback)."""
    text = " ".join(str(message).split())
    if sys.stderr.isatty():
        from rich.text import Text

        err_console().print(Text.assemble(("error:", "red"), " ", text), highlight=False, soft_wrap=True)
    else:
        sys.stderr.write(f"error: {text}\n")
