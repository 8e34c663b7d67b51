"""``auraison services …``: start, stop and inspect the services this project runs itself."""

from __future__ import annotations

from typing import Annotated, Any

import typer

from auraison.errors import UserError

from .output import JsonOpt, console, print_json, table
from .state import get_settings

services_app = typer.Typer(help="Start/stop the services this project runs itself.", no_args_is_help=True)


def _names(only: str | None) -> tuple[str, ...]:
    from auraison.services.local import SERVICE_NAMES

    if not only:
        return SERVICE_NAMES
    names = tuple(n.strip() for n in only.split(",") if n.strip())
    bad = [n for n in names if n not in SERVICE_NAMES]
    if bad:
        raise UserError(f"unknown service(s) {bad}", f"choose from {', '.join(SERVICE_NAMES)}")
    return names


OnlyOpt = Annotated[str | None, typer.Option("--only", help="comma list of s3,ray,sim")]


@services_app.command("up")
def services_up(
    only: OnlyOpt = None,
    rosmcp: Annotated[bool, typer.Option(help="also build the ros-mcp venv if missing")] = True,
) -> None:
    """Start SeaweedFS S3, a Ray head and the sim (idempotent: running ones are kept)."""
    from auraison import rosmcp as rosmcp_mod
    from auraison.services.local import LocalServices

    settings = get_settings()
    local = LocalServices(settings)
    for name in _names(only):
        with console().status(f"starting {name}…"):
            ((_, rec, new),) = local.up((name,))
        console().print(f"{name}: {'started' if new else 'already running'} (pid {rec.pid})")
    from auraison.lakehouse.extensions import install_extensions

    if new := install_extensions(settings.duckdb_extension_dir):
        console().print(f"duckdb extensions installed offline: {', '.join(new)}")
    if rosmcp:
        rosmcp_mod.ensure_ros_mcp(settings.cache_dir, progress=lambda m: console().print(m))
    console().print(f"endpoints written to {settings.home / 'services.toml'}")
    _print_status(local, as_json=False)


@services_app.command("down")
def services_down(only: OnlyOpt = None) -> None:
    """Stop what `services up` started (by PID file; nothing else is touched)."""
    from auraison.services.local import LocalServices

    local = LocalServices(get_settings())
    for name, was in local.down(_names(only)):
        console().print(f"{name}: {'stopped' if was else 'not running'}")
    local.write_endpoints()


@services_app.command("status")
def services_status(as_json: JsonOpt = False) -> None:
    """Show the project's own services and the machine's PostgreSQL, Redis and NATS."""
    from auraison.services.local import LocalServices

    _print_status(LocalServices(get_settings()), as_json)


def _status_rows(local: Any) -> list[dict[str, Any]]:
    from auraison.services import probes

    s = local.settings
    rows = [
        {
            "service": st.name,
            "owner": "auraison",
            "running": bool(st.running),
            "pid": st.pid,
            "endpoint": st.endpoint,
            "detail": st.detail,
        }
        for st in local.status()
    ]
    for name, probe in (
        ("postgresql", probes.probe_postgres(s.postgres.dsn)),
        ("redis", probes.probe_redis(s.redis.url)),
        ("nats", probes.probe_nats(s.nats.url)),
    ):
        rows.append(
            {
                "service": name,
                "owner": "machine",
                "running": bool(probe.ok),
                "pid": None,
                "endpoint": None,
                "detail": probe.detail,
                "fix": None if probe.ok else probe.fix,
            }
        )
    return rows


def _print_status(local: Any, as_json: bool) -> None:
    rows = _status_rows(local)
    if as_json:
        print_json(rows)
        return
    out = table(["service", "owner", "state", "pid", "endpoint / detail"], [], "services")
    for r in rows:
        if r["owner"] == "auraison":
            state_txt = "[green]running[/]" if r["running"] else "[yellow]stopped[/]"
            detail = f"{r['endpoint']} — {r['detail']}"
        else:
            state_txt = "[green]up[/]" if r["running"] else "[red]down[/]"
            detail = r["detail"] + (f" — fix: {r['fix']}" if r.get("fix") else "")
        out.add_row(r["service"], r["owner"], state_txt, str(r["pid"] or "-"), detail)
    console().print(out)
