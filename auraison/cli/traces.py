"""``auraison traces …``: runs as span trees, read from the lake's ``spans`` table — an agent
run is ``invoke_agent`` → ``chat`` (the model) and ``execute_tool`` (the tool as the agent saw
it) → ``tools/call`` (MCP) → ``execute_tool`` (the AgentOps decision) → the plane's own tool span.

A trace belongs to a tenant when any of its spans carries that tenant (FastMCP's own spans
carry none; the engine's and the agent's do), so a person sees their tenant's runs only.
"""

from __future__ import annotations

import json
from typing import Annotated, Any

import typer

from auraison.errors import NotFound, UserError

from .output import JsonOpt, console, print_json, table
from .state import get_settings

traces_app = typer.Typer(help="Traces from the lake: recent runs, one run as a tree.", no_args_is_help=True)

TenantOpt = Annotated[str | None, typer.Option(help="whose traces (default: the settings' tenant)")]
COLUMNS = ("trace_id", "span_id", "parent_id", "name", "kind", "status", "start_ns", "end_ns", "attributes")


def _lake() -> Any:
    from .lake import _lake as lake

    return lake()


def _tenant(tenant: str | None) -> str:
    return tenant or get_settings().agentops.tenant


def recent(lake: Any, tenant: str, limit: int) -> list[dict[str, Any]]:
    """The tenant's most recent traces, newest first: root span, span count, errors, duration."""
    from auraison.lakehouse.catalog import ALIAS

    rows = lake.execute(
        f"""
        WITH mine AS (
            SELECT trace_id FROM {ALIAS}.spans WHERE tenant = ?
            GROUP BY trace_id ORDER BY max(end_ns) DESC LIMIT ?
        )
        SELECT s.trace_id,
               arg_min(s.name, CASE WHEN s.parent_id IS NULL THEN 0 ELSE 1 END) AS root,
               max(s.agent) AS agent,
               count(*) AS spans,
               count(*) FILTER (WHERE s.status = 'error') AS errors,
               min(s.start_ns) AS start_ns,
               max(s.end_ns) AS end_ns
        FROM {ALIAS}.spans s JOIN mine USING (trace_id)
        GROUP BY s.trace_id ORDER BY max(s.end_ns) DESC
        """,
        [tenant, limit],
    ).fetchall()
    return [
        {
            "trace_id": r[0],
            "root": r[1],
            "agent": r[2],
            "spans": r[3],
            "errors": r[4],
            "start_ns": r[5],
            "duration_ms": round((r[6] - r[5]) / 1e6, 3),
        }
        for r in rows
    ]


def tree(lake: Any, trace_id: str, tenant: str) -> list[dict[str, Any]]:
    """One trace as nested spans (roots first, children by start time). ``trace_id`` may be a
    unique prefix, or ``last`` for the tenant's most recent trace."""
    from auraison.lakehouse.catalog import ALIAS

    if trace_id == "last":
        latest = recent(lake, tenant, 1)
        if not latest:
            raise NotFound(f"no traces for tenant {tenant!r} in the lake", "run an agent first")
        trace_id = latest[0]["trace_id"]
    ids = lake.execute(
        f"SELECT DISTINCT trace_id FROM {ALIAS}.spans WHERE starts_with(trace_id, ?) AND tenant = ? LIMIT 2",
        [trace_id.lower(), tenant],
    ).fetchall()
    if not ids:
        raise NotFound(f"no trace {trace_id!r} for tenant {tenant!r}", "`auraison traces list` shows them")
    if len(ids) > 1:
        raise UserError(f"{trace_id!r} matches more than one trace", "give more of the trace id")
    rows = lake.execute(
        f"SELECT {', '.join(COLUMNS)} FROM {ALIAS}.spans WHERE trace_id = ? ORDER BY start_ns, span_id",
        [ids[0][0]],
    ).fetchall()
    nodes: dict[str, dict[str, Any]] = {}
    for r in rows:
        span = dict(zip(COLUMNS, r, strict=True))
        span["attributes"] = json.loads(span["attributes"]) if span["attributes"] else {}
        span["duration_ms"] = round(((span["end_ns"] or 0) - (span["start_ns"] or 0)) / 1e6, 3)
        span["children"] = []
        nodes.setdefault(span["span_id"], span)  # a span id twice (never, exactly once) shows once
    roots = []
    for span in nodes.values():
        parent = nodes.get(span["parent_id"] or "")
        (parent["children"] if parent is not None else roots).append(span)
    return roots


def _label(span: dict[str, Any]) -> str:
    from rich.markup import escape

    a = span["attributes"]
    bits = [f"[bold]{escape(span['name'])}[/]", f"[dim]{span['kind']}[/]", f"{span['duration_ms']:.1f} ms"]
    if decision := a.get("auraison.decision"):
        color = "green" if decision == "allow" else "red"
        bits.append(f"[{color}]{decision}[/]")
    if (i := a.get("gen_ai.usage.input_tokens")) is not None:
        bits.append(f"tokens {i}→{a.get('gen_ai.usage.output_tokens')}")
    if span["status"] == "error":
        bits.append(f"[red]error {escape(str(a.get('error.type', '')))}[/]")
    return "  ".join(bits)


@traces_app.command("list")
def traces_list(
    tenant: TenantOpt = None,
    limit: Annotated[int, typer.Option(min=1, max=1000, help="at most this many traces")] = 20,
    as_json: JsonOpt = False,
) -> None:
    """Recent traces (agent runs, gateway calls, hook decisions), newest first."""
    runs = recent(_lake(), _tenant(tenant), limit)
    if as_json:
        print_json(runs)
        return
    cols = ["trace_id", "root", "agent", "spans", "errors", "duration_ms"]
    console().print(table(cols, ([r[c] for c in cols] for r in runs)))


@traces_app.command("show")
def traces_show(
    trace_id: Annotated[str, typer.Argument(help="a trace id (or a unique prefix), or `last`")],
    tenant: TenantOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """One trace as a tree: agent → model, agent → MCP call → decision → plane."""
    roots = tree(_lake(), trace_id, _tenant(tenant))
    if as_json:
        print_json(roots)
        return
    from rich.tree import Tree

    def add(node: Tree, span: dict[str, Any]) -> None:
        branch = node.add(_label(span))
        for child in span["children"]:
            add(branch, child)

    for root in roots:
        top = Tree(_label(root))
        for child in root["children"]:
            add(top, child)
        console().print(f"trace {root['trace_id']}")
        console().print(top)
