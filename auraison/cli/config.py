"""``auraison config …``: the effective settings, secrets masked."""

from __future__ import annotations

import typer

from .output import JsonOpt, console, print_json
from .state import get_settings

config_app = typer.Typer(help="Inspect the effective settings.", no_args_is_help=True)


@config_app.command("show")
def config_show(as_json: JsonOpt = False) -> None:
    """Print the effective settings (defaults < services.toml < file < env), secrets masked."""
    import json

    from auraison.settings import masked_dump

    data = masked_dump(get_settings())
    if as_json:
        print_json(data)
    else:
        console().print_json(json.dumps(data))
