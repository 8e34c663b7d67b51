"""The whole `auraison` command tree: every command and parameter is documented, listings and
status commands take --json, and the plane groups load only when used."""

from __future__ import annotations

import subprocess
import sys

import pytest
from typer.core import TyperArgument, TyperGroup, TyperOption

from auraison.cli.root import LAZY_GROUPS, command, walk

TREE = {" ".join(path): cmd for path, cmd in walk(command())}

# Every command that lists things or reports a state (README: "--json on every listing").
JSON_COMMANDS = [
    "doctor",
    "config show",
    "services status",
    "approvals list",
    "robot state",
    "robot places",
    "lake query",
    "lake tables",
    "lake snapshots",
    "lake search",
    "lake maintain",
    "tenants list",
    "tenants quota",
    "tenants usage",
    "tenants invoice",
    "tenants leases",
    "keys list",
    "jobs list",
    "jobs status",
    "clusters list",
    "clusters status",
]


def test_the_tree_has_every_group_of_the_readme() -> None:
    """Each command group the README documents is in the tree, the lazy plane groups loaded."""
    groups = {p for p, c in TREE.items() if isinstance(c, TyperGroup) and p}
    assert groups >= {"services", "config", "rosmcp", "approvals", "robot", "lake", "hook", *LAZY_GROUPS}
    assert {"doctor", "gateway", "run", "chat", "demo", "replay", "sim run", "jobs submit"} <= set(TREE)


@pytest.mark.parametrize("path", sorted(p for p in TREE if p), ids=str)
def test_every_command_and_parameter_has_help(path: str) -> None:
    """No command, option or argument shows up in --help without saying what it is for."""
    cmd = TREE[path]
    assert (cmd.help or cmd.short_help or "").strip(), f"`auraison {path}` has no help"
    for param in cmd.params:
        if isinstance(param, TyperOption | TyperArgument):
            assert (param.help or "").strip(), f"`auraison {path}` parameter {param.name!r} has no help"


@pytest.mark.parametrize("path", JSON_COMMANDS)
def test_listing_and_status_commands_take_json(path: str) -> None:
    """Programs can read every listing and status: the same --json flag everywhere."""
    opts = {o for p in TREE[path].params if isinstance(p, TyperOption) for o in p.opts}
    assert "--json" in opts, f"`auraison {path}` has no --json"


@pytest.mark.parametrize("name", sorted(LAZY_GROUPS))
def test_lazy_group_help_matches_the_loaded_group(name: str) -> None:
    """What `auraison --help` says of a plane group (before loading it) is the group's own help."""
    assert TREE[name].help == LAZY_GROUPS[name][2]


def test_help_imports_no_plane_and_no_heavy_library() -> None:
    """`auraison --help` loads only the command tree: no plane CLI, pydantic, SQLAlchemy or rich."""
    code = (
        "import contextlib, io, sys\n"
        "from auraison.cli import run\n"
        "with contextlib.redirect_stdout(io.StringIO()) as out: rc = run(['--help'])\n"
        "heavy = sorted(m for m in sys.modules if m.split('.')[0] in "
        "('pydantic', 'sqlalchemy', 'rich', 'fastmcp', 'structlog', 'numpy', 'duckdb', 'ray')"
        " or m.startswith(('auraison.mcp_servers', 'auraison.sim', 'auraison.settings')))\n"
        "assert rc == 0 and 'tenants' in out.getvalue() and 'clusters' in out.getvalue(), out.getvalue()\n"
        "print(heavy)\n"
    )
    res = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert res.returncode == 0, res.stderr
    assert res.stdout.strip() == "[]"


def test_hook_fast_path_skips_the_command_tree() -> None:
    """`auraison hook pre-tool-use` goes to agentops' hook before typer is even imported."""
    code = (
        "import sys, auraison.agentops.hook as hook\n"
        "hook.main = lambda: (print(sorted(m for m in sys.modules if m.startswith(('typer', 'rich',"
        " 'auraison.cli.')))), 7)[1]\n"
        "from auraison.cli import main\n"
        "sys.argv = ['auraison', 'hook', 'pre-tool-use']\n"
        "main()\n"
    )
    res = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert res.returncode == 7, res.stderr
    assert res.stdout.strip() == "[]"
