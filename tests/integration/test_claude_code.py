"""The plugin, driven by the real Claude Code CLI (no login, no network, no Claude).

`.ci/claude-code` installs the pinned CLI into `.cache/claude-code` and `.ci/run` exports its path
as AURAISON_CLAUDE. Every call runs with a scratch HOME and a timeout. The installed plugin is a
bare copy of the checkout (its tracked and unignored files, as a clone has); its launcher is
pointed at the repository's `.venv` through AURAISON_PLUGIN_VENV so the test builds nothing from
PyPI (a user's first use builds `${CLAUDE_PLUGIN_ROOT}/.venv` instead).

Headless runs talk to `auraison model serve` (the offline stand-in as a local Messages API) and
drive the simulator through the gateway: `/navigate kitchen` in the project folder, held for a
person's approval and run once after it, and `/auraison:navigate lab` from the installed plugin.
`AURAISON_RERECORD=1` keeps the approval run's exchange as tests/recordings/claude_code_navigate_kitchen.json
(its replay: tests/unit/agents/test_messages_api.py)."""

from __future__ import annotations

import asyncio
import contextlib
import json
import math
import os
import re
import selectors
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml

from auraison.agentops.approvals import SqliteApprovalStore
from tests.conftest import REPO
from tests.simthread import SimThread
from tests.terminal import run_at_terminal

TIMEOUT_S = 180


@pytest.fixture(scope="module")
def claude() -> Path:
    path = Path(os.environ.get("AURAISON_CLAUDE") or REPO / ".cache" / "claude-code" / "bin" / "claude")
    if not os.access(path, os.X_OK):
        pytest.fail(f"the Claude Code CLI is not at {path}: run .ci/claude-code (or set AURAISON_CLAUDE)")
    return path


def scratch_home(tmp_path: Path, **settings: object) -> dict[str, str]:
    """An environment with an empty Claude Code home: no login, no user plugins, no network."""
    home = tmp_path / "home"
    (home / ".claude").mkdir(parents=True)
    (home / ".claude.json").write_text(json.dumps({"hasCompletedOnboarding": True}))
    (home / ".claude" / "settings.json").write_text(json.dumps(settings))
    env = {k: v for k, v in os.environ.items() if not k.startswith(("ANTHROPIC_", "CLAUDE", "AURAISON_"))}
    return env | {
        "HOME": str(home),
        "AURAISON_HOME": str(tmp_path / "auraison"),
        "CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC": "1",
        "DISABLE_AUTOUPDATER": "1",
    }


def run(claude: Path, *args: str, env: dict[str, str], cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(claude), *args],
        env=env,
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=TIMEOUT_S,
        stdin=subprocess.DEVNULL,
    )


def server_line(out: str, name: str) -> str:
    lines = [line for line in out.splitlines() if line.startswith(f"{name}: ")]
    assert len(lines) == 1, out
    return lines[0]


RECORDING = REPO / "tests" / "recordings" / "claude_code_navigate_kitchen.json"
NAVIGATE = ("robot_get_state", "robot_plan_path", "robot_navigate_safely")


@contextlib.contextmanager
def stand_in(record: Path) -> Iterator[str]:
    """`auraison model serve --port 0`: the offline stand-in's Messages API; yields its URL."""
    proc = subprocess.Popen(
        [sys.executable, "-m", "auraison", "model", "serve", "--port", "0", "--record", str(record)],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    try:
        assert proc.stdout is not None
        with selectors.DefaultSelector() as sel:
            sel.register(proc.stdout, selectors.EVENT_READ)
            deadline = time.monotonic() + TIMEOUT_S
            while not sel.select(timeout=1.0) and proc.poll() is None and time.monotonic() < deadline:
                pass
        url = proc.stdout.readline().strip()
        assert url.startswith("http://127.0.0.1:"), f"model serve printed {url!r} (exit {proc.poll()})"
        yield url
    finally:
        proc.terminate()
        proc.wait(30)


def offline(env: dict[str, str], url: str, sim: SimThread) -> dict[str, str]:
    """Claude Code against the stand-in (a placeholder credential: nothing leaves the machine),
    waiting for the gateway before its first turn; the gateway against the simulator."""
    return env | {
        "ANTHROPIC_BASE_URL": url,
        "ANTHROPIC_API_KEY": "offline-stand-in",
        "CLAUDE_CODE_MCP_STARTUP_WAIT_MS": "120000",
        "MCP_TIMEOUT": "120000",  # a cold gateway on a loaded machine takes longer than the 30 s default
        "AURAISON_ROBOT__ROSBRIDGE_URL": sim.url,
    }


def approval_policy(tmp_path: Path) -> Path:
    """The default policy, with robot_navigate_safely held for a person's approval."""
    policy = yaml.safe_load((REPO / "infra" / "policies" / "default.yaml").read_text())
    (acting,) = [r for r in policy["rules"] if r["name"] == "operators-act"]
    acting["approval"].append("robot_navigate_safely")
    path = tmp_path / "policy.yaml"
    path.write_text(yaml.safe_dump(policy))
    return path


def distance_to(sim: SimThread, place: str) -> float:
    x, y, _ = sim.sim.world.places[place]
    rx, ry = sim.call(lambda: (sim.sim.robot.x, sim.sim.robot.y))
    return math.hypot(rx - x, ry - y)


def hook_ran(debug_log: Path, tool: str) -> bool:
    """Claude Code's debug log says the PreToolUse guard (the launcher's hook) ran for ``tool``
    and let it through (status 0)."""
    ran = rf"PreToolUse:{re.escape(tool)} \[[^\]]*auraison-plugin\"? hook pre-tool-use\]"
    ran += r"[^\n]*? finished with status 0"
    return re.search(ran, debug_log.read_text()) is not None


ELIDED = "(elided in the recording: the stand-in does not read it)"


def compact(exchange: list[dict]) -> list[dict]:
    """The exchange as the recording keeps it: what the stand-in reads (the messages, the tool
    names, lines naming MCP tools in Claude Code's own text) and its answers; Claude Code's
    system prompt, reminders and tool schemas are elided (they are most of each request)."""

    def names_only(text: str) -> str:
        return "\n".join([ELIDED, *(line for line in text.splitlines() if "mcp__" in line)])

    out = []
    for x in exchange:
        q = x["request"]
        messages = []
        for m in q["messages"]:
            blocks = m["content"]
            if isinstance(blocks, str):
                blocks = [{"type": "text", "text": blocks}]
            kept = []
            for b in ({k: v for k, v in b.items() if k != "cache_control"} for b in blocks):
                if b.get("type") == "text" and m["role"] == "system":
                    b["text"] = names_only(b["text"])
                elif b.get("type") == "text":
                    b["text"] = re.sub(
                        r"<system-reminder>.*?</system-reminder>",
                        f"<system-reminder>{ELIDED}</system-reminder>",
                        b["text"],
                        flags=re.S,
                    )
                kept.append(b)
            messages.append({"role": m["role"], "content": kept})
        request = {
            "model": q["model"],
            "stream": q.get("stream", False),
            "system": [{"type": "text", "text": names_only(b["text"])} for b in q.get("system") or []],
            "tools": [{"name": t["name"]} for t in q.get("tools") or []],
            "messages": messages,
        }
        out.append({"request": request, "response": x["response"]})
    return out


def approvals(env: dict[str, str]) -> list[dict]:
    """Every approval request in the run's store (the gateway's and the CLI's, one SQLite file)."""
    store = SqliteApprovalStore(Path(env["AURAISON_HOME"]) / "data" / "agentops" / "approvals.sqlite")
    return [a.model_dump() for a in asyncio.run(store.list())]


def clean_copy(dest: Path) -> Path:
    """The checkout as a clone would have it: tracked and unignored files, no .venv, no caches."""
    files = subprocess.run(
        ["git", "ls-files", "-co", "--exclude-standard", "-z"], cwd=REPO, capture_output=True, check=True
    ).stdout.split(b"\0")
    for name in filter(None, (f.decode() for f in files)):
        src = REPO / name
        if src.is_symlink() or src.is_file():
            (dest / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(src, dest / name, follow_symlinks=False)
    return dest


def test_plugin_validates_strictly(claude: Path, tmp_path: Path) -> None:
    env = scratch_home(tmp_path)
    out = run(claude, "plugin", "validate", "--strict", str(REPO), env=env, cwd=tmp_path)
    assert out.returncode == 0, out.stdout + out.stderr
    assert "Validation passed" in out.stdout
    assert "hooks: PreToolUse mcp__.*|Bash" in out.stdout  # the guard ships with the plugin
    market = REPO / ".claude-plugin" / "marketplace.json"
    out = run(claude, "plugin", "validate", "--strict", str(market), env=env, cwd=tmp_path)
    assert out.returncode == 0 and "Validating marketplace manifest" in out.stdout, out.stdout + out.stderr


def test_project_mcp_json_gateway_connects(claude: Path, tmp_path: Path) -> None:
    """`claude` in the project folder starts the gateway from .mcp.json (once the user allows it)."""
    env = scratch_home(tmp_path, enableAllProjectMcpServers=True)
    out = run(claude, "mcp", "list", env=env, cwd=REPO)
    line = server_line(out.stdout, "auraison")
    assert "/bin/auraison-plugin gateway --transport stdio" in line and "✔ Connected" in line, out


# Real CLI sessions, each starting the gateway and a hook process per tool call: minutes on a
# loaded 2-core machine, seconds on a quiet one. The per-call timeout still bounds each session.
@pytest.mark.timeout(360)
def test_installed_plugin_gateway_connects(claude: Path, tmp_path: Path) -> None:
    source = clean_copy(tmp_path / "auraison-src")
    assert not (source / ".venv").exists() and (source / ".claude-plugin" / "marketplace.json").exists()
    env = scratch_home(tmp_path)
    work = tmp_path / "elsewhere"  # a user's folder, not the project: only the plugin serves it
    work.mkdir()
    added = run(claude, "plugin", "marketplace", "add", str(source), env=env, cwd=work)
    assert added.returncode == 0, added.stdout + added.stderr
    installed = run(claude, "plugin", "install", "auraison@auraison", env=env, cwd=work)
    assert installed.returncode == 0 and "Successfully installed" in installed.stdout, installed
    plugins = json.loads((Path(env["HOME"]) / ".claude" / "plugins" / "installed_plugins.json").read_text())
    assert list(plugins["plugins"]) == ["auraison@auraison"]

    env["AURAISON_PLUGIN_VENV"] = str(REPO / ".venv")  # documented above: no build from PyPI
    out = run(claude, "mcp", "list", env=env, cwd=work)
    line = server_line(out.stdout, "plugin:auraison:auraison")
    assert "/bin/auraison-plugin gateway --transport stdio" in line and "✔ Connected" in line, out
    assert str(REPO) not in line  # the installed copy's launcher, not the checkout's

    # Headless, from the plugin: its skill, its gateway's tool names, its hook, the robot at the lab.
    tool = "mcp__plugin_auraison_auraison__robot_navigate_safely"
    debug = tmp_path / "plugin-debug.log"
    with SimThread("maze_small", speed=10.0, seed=0) as sim, stand_in(tmp_path / "plugin.json") as url:
        prompt = ["-p", "/auraison:navigate lab", "--allowedTools", tool, "--debug-file", str(debug)]
        out = run(claude, *prompt, env=offline(env, url, sim), cwd=work)
        assert out.returncode == 0, out.stdout + out.stderr
        assert out.stdout.startswith("[offline stand-in model] Arrived at lab"), out.stdout
        assert distance_to(sim, "lab") < 0.3
    called = [
        block["name"]
        for x in json.loads((tmp_path / "plugin.json").read_text())
        for block in x["response"].get("content", [])
        if block["type"] == "tool_use" and block["name"] != "ToolSearch"
    ]
    assert called == [f"mcp__plugin_auraison_auraison__{t}" for t in NAVIGATE]
    assert hook_ran(debug, tool), debug.read_text()[-3000:]


@pytest.mark.timeout(360)
def test_headless_navigate_waits_for_approval_then_runs_once(claude: Path, tmp_path: Path) -> None:
    """`claude -p "/navigate kitchen"` in the project folder (.mcp.json, .claude/skills, the guard
    in .claude/settings.json), against the stand-in, with the drive held for a person: nothing
    moves until `auraison approvals approve` at a terminal; `--continue "approved, go on"` then
    drives once, to the kitchen; the approval is used up."""
    env = scratch_home(tmp_path, enableAllProjectMcpServers=True)
    env["AURAISON_AGENTOPS__POLICY_FILE"] = str(approval_policy(tmp_path))
    record, debug = tmp_path / "exchange.json", tmp_path / "debug.log"
    tools = [f"mcp__auraison__{t}" for t in NAVIGATE]
    with SimThread("maze_small", speed=10.0, seed=0) as sim, stand_in(record) as url:
        env = offline(env, url, sim)
        start = distance_to(sim, "kitchen")
        held = run(claude, "-p", "/navigate kitchen", "--allowedTools", tools[-1], env=env, cwd=REPO)
        assert held.returncode == 0, held.stdout + held.stderr
        assert "waiting for a person's approval" in held.stdout, held.stdout
        approval_id = re.search(r"apr_[0-9a-f]+", held.stdout).group(0)  # type: ignore[union-attr]
        assert distance_to(sim, "kitchen") == start  # nothing moved
        (request,) = approvals(env)
        assert (request["id"], request["status"], request["tool"]) == (approval_id, "pending", NAVIGATE[-1])
        assert request["args"] == {"place": "kitchen"} and request["requested_by"].startswith("agent:")

        person = run_at_terminal([sys.executable, "-m", "auraison", "approvals", "approve", approval_id], env)
        assert person.returncode == 0, person.stderr

        go_on = ["-p", "--continue", "approved, go on", "--allowedTools", " ".join(tools)]
        ran = run(claude, *go_on, "--debug-file", str(debug), env=env, cwd=REPO)
        assert ran.returncode == 0, ran.stdout + ran.stderr
        assert ran.stdout.startswith("[offline stand-in model] Arrived at kitchen"), ran.stdout
        assert distance_to(sim, "kitchen") < 0.3
    assert [(a["id"], a["status"]) for a in approvals(env)] == [(approval_id, "used")]  # once
    assert hook_ran(debug, tools[-1]), debug.read_text()[-3000:]

    exchange = json.loads(record.read_text())
    first = json.dumps(exchange[0]["request"]["messages"])
    assert "<command-name>/navigate</command-name>" in first and "Move the robot to `kitchen`" in first
    errors = [
        block
        for x in exchange
        for m in x["request"]["messages"][-1:]
        if m["role"] == "user" and isinstance(m["content"], list)
        for block in m["content"]
        if block.get("type") == "tool_result" and block.get("is_error")
    ]
    assert [approval_id in json.dumps(b) for b in errors] == [True]  # held once, at the gateway
    if os.environ.get("AURAISON_RERECORD"):
        RECORDING.write_text(json.dumps(compact(exchange), indent=1) + "\n")


def test_plugin_hook_command_guards_through_the_launcher(tmp_path: Path) -> None:
    """hooks/hooks.json's command, run as Claude Code runs it, answers with the AgentOps guard."""
    source = clean_copy(tmp_path / "plugin")
    (entry,) = json.loads((source / "hooks" / "hooks.json").read_text())["hooks"]["PreToolUse"]
    command = entry["hooks"][0]["command"]
    env = scratch_home(tmp_path) | {"CLAUDE_PLUGIN_ROOT": str(source)}
    env["AURAISON_PLUGIN_VENV"] = str(REPO / ".venv")
    payload = {
        "hook_event_name": "PreToolUse",
        "tool_name": "Bash",
        "tool_input": {"command": "auraison approvals approve abc123"},
    }
    out = subprocess.run(
        ["bash", "-c", command.replace("${CLAUDE_PLUGIN_ROOT}", str(source))],
        input=json.dumps(payload),
        env=env,
        capture_output=True,
        text=True,
        timeout=TIMEOUT_S,
    )
    assert out.returncode == 0, out.stderr
    assert json.loads(out.stdout)["hookSpecificOutput"]["permissionDecision"] == "deny"


def test_launcher_says_what_is_missing_without_python_or_uv(tmp_path: Path) -> None:
    """A bare copy on a machine with neither uv nor Python >= 3.11: one clear line, nothing built."""
    root = tmp_path / "plugin"
    (root / "bin").mkdir(parents=True)
    shutil.copy2(REPO / "bin" / "auraison-plugin", root / "bin")
    tools = tmp_path / "path"
    tools.mkdir()
    for name in ("rm", "flock", "dirname"):
        if found := shutil.which(name):
            (tools / name).symlink_to(found)
    out = subprocess.run(
        [shutil.which("bash") or "/bin/bash", str(root / "bin" / "auraison-plugin"), "gateway"],
        env={"PATH": str(tools), "CLAUDE_PLUGIN_ROOT": str(root), "HOME": str(tmp_path)},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert out.returncode == 1 and out.stdout == ""
    assert "needs uv" in out.stderr and "Python >= 3.11" in out.stderr, out.stderr
    assert not (root / ".venv").exists()
