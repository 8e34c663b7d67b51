"""The root ``auraison`` app: global options, ``doctor``, and the wiring of every command group.

The heavier groups (sim, management, control) are registered lazily: their modules are imported only
when one of their commands runs (or a test walks the tree), so ``auraison --help`` does not pay
for pydantic models, SQLAlchemy or Ray it will not use."""

from __future__ import annotations

import importlib
from pathlib import Path
from typing import Annotated, Any

import typer
from typer import _click as click  # typer vendors click: its groups and contexts are these
from typer.core import TyperGroup

from . import agents, approvals, config, gateway, hook, lake, model, robot, rosmcp, services, traces
from .output import JsonOpt, console, print_json, table
from .state import get_settings, state

# name → (module, Typer attribute, help shown in `auraison --help` before the module is loaded).
# tests/unit/test_cli_tree.py checks that each help equals the loaded app's own.
LAZY_GROUPS: dict[str, tuple[str, str, str]] = {
    "sim": ("auraison.sim.cli", "app", "The TurtleBot3 maze simulator (rosbridge v2 on a WebSocket)."),
    "tenants": (
        "auraison.cli.management",
        "tenants_app",
        "Tenants, their users, quotas, usage and invoices (management plane).",
    ),
    "keys": ("auraison.cli.management", "keys_app", "API keys: issue (shown once), list, revoke."),
    "management": (
        "auraison.cli.management",
        "management_app",
        "The management store: schema migrations and lease expiry.",
    ),
    "control": (
        "auraison.cli.control",
        "control_app",
        "The control plane: its HTTP API and KubeRay manifests.",
    ),
    "jobs": ("auraison.cli.control", "jobs_app", "Ray jobs: submit, watch, logs, stop."),
    "clusters": (
        "auraison.cli.control",
        "clusters_app",
        "Ray clusters: list, status, start/stop the local head.",
    ),
    "twin": ("auraison.cli.twin", "twin_app", "The digital twin: recorded runs, predicted vs observed."),
    "sdg": (
        "auraison.cli.sdg",
        "sdg_app",
        "Synthetic data: generated mazes driven on Ray into versioned lake datasets.",
    ),
}


class LazyGroup(TyperGroup):
    """A typer group whose plane sub-groups are imported on first use.

    While the group's own help is rendered, a not-yet-loaded sub-group is listed by a stand-in
    command carrying its help; any other lookup (running it, ``auraison jobs --help``, the tree
    test) loads the real one."""

    _listing = False

    def list_commands(self, ctx: click.Context) -> list[str]:
        return [*super().list_commands(ctx), *(n for n in LAZY_GROUPS if n not in self.commands)]

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        if cmd_name in LAZY_GROUPS and cmd_name not in self.commands:
            module, attr, help_text = LAZY_GROUPS[cmd_name]
            if self._listing:
                return TyperGroup(name=cmd_name, help=help_text)
            sub = typer.main.get_group(getattr(importlib.import_module(module), attr))
            sub.name = cmd_name
            _same_markup(sub, self.rich_markup_mode)  # as `add_typer` would have passed it down
            self.add_command(sub, cmd_name)
        return super().get_command(ctx, cmd_name)

    def format_help(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        self._listing = True
        try:
            super().format_help(ctx, formatter)
        finally:
            self._listing = False


def _same_markup(cmd: Any, mode: Any) -> None:
    cmd.rich_markup_mode = mode
    for sub in getattr(cmd, "commands", {}).values():
        _same_markup(sub, mode)


# Plain help (rich_markup_mode=None): rich's help renderer imports markdown-it and costs more
# than the rest of `auraison --help` together (see bench/README.md, H2).
app = typer.Typer(
    cls=LazyGroup,
    help="Auraison: agents for robotics and ML platforms.",
    no_args_is_help=True,
    rich_markup_mode=None,
)


@app.callback()
def _main(
    config_file: Annotated[
        Path | None, typer.Option("--config", "-c", help="TOML settings file (overrides services.toml)")
    ] = None,
    log_format: Annotated[
        str | None, typer.Option("--log-format", help="console (people) or json (machines)")
    ] = None,
    log_level: Annotated[
        str | None, typer.Option("--log-level", help="debug, info, warning or error")
    ] = None,
) -> None:
    """Auraison: agents for robotics and ML platforms."""
    from auraison.logging import configure_logging

    state.config = config_file
    state.overrides = {k: v for k, v in {"log_format": log_format, "log_level": log_level}.items() if v}
    settings = get_settings()
    configure_logging(settings.log_format, settings.log_level)


@app.command()
def doctor(
    fix: Annotated[bool, typer.Option("--fix", help="install what can be installed locally")] = False,
    as_json: JsonOpt = False,
) -> None:
    """Check every dependency and service; print the exact fix for each missing one."""
    from auraison.doctor import diagnose

    settings = get_settings()
    rows = diagnose(settings, fix=fix)
    if as_json:
        print_json([r.__dict__ | {"status": r.status} for r in rows])
    else:
        out = table(
            ["component", "status", "detail", "fix"],
            [],
            f"auraison doctor — profile {settings.profile.value}",
        )
        for r in rows:
            color = "green" if r.ok else ("red" if r.needed else "yellow")
            out.add_row(r.component, f"[{color}]{r.status}[/]", r.detail, r.fix)
        console().print(out)
    if any(r.needed and not r.ok for r in rows):
        raise typer.Exit(1)


def _wire(root: typer.Typer) -> None:
    """Every command group in one place, in the order `auraison --help` lists them."""
    root.add_typer(services.services_app, name="services")
    root.add_typer(config.config_app, name="config")
    root.add_typer(rosmcp.rosmcp_app, name="rosmcp")
    root.command()(gateway.gateway)
    root.add_typer(approvals.approvals_app, name="approvals")
    root.add_typer(robot.robot_app, name="robot")
    root.command("run")(agents.run_agent)
    root.command()(agents.chat)
    root.command()(agents.demo)
    root.command()(agents.replay)
    root.add_typer(agents.agents_app, name="agents")
    root.add_typer(lake.lake_app, name="lake")
    root.add_typer(traces.traces_app, name="traces")
    root.add_typer(hook.hook_app, name="hook")
    root.add_typer(model.model_app, name="model")


_wire(app)


def command() -> click.Command:
    """The click command behind ``app`` (built once; the lazy groups load on demand)."""
    return typer.main.get_command(app)


def walk(cmd: click.Command, path: tuple[str, ...] = ()) -> Any:
    """Every (path, command) of the tree, the lazy groups loaded: for tests and docs."""
    yield path, cmd
    if isinstance(cmd, TyperGroup):
        ctx = click.Context(cmd)
        for name in cmd.list_commands(ctx):
            sub = cmd.get_command(ctx, name)
            if sub is not None:
                yield from walk(sub, (*path, name))
