"""The plugin, driven by the real Claude Code CLI (no login, no network, no model).

`.ci/claude-code` installs the pinned CLI into `.cache/claude-code` and `.ci/run` exports its path
as AURAISON_CLAUDE. Every call runs with a scratch HOME and a timeout. The installed plugin is a
bare copy of the checkout (its tracked and unignored files, as a clone has); its launcher is
pointed at the repository's `.venv` through AURAISON_PLUGIN_VENV so the test builds nothing from
PyPI (a user's first use builds `${CLAUDE_PLUGIN_ROOT}/.venv` instead)."""

from __future__ import annotations

import contextlib
import http.server
import json
import os
import shutil
import subprocess
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import REPO

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


@contextlib.contextmanager
def capturing_messages_api() -> Iterator[tuple[str, list[dict]]]:
    """A local stand-in for the Messages API that records each request and refuses it (400), so
    a headless `claude -p` shows what it would send a model, and stops, without any model."""
    seen: list[dict] = []

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            seen.append(json.loads(self.rfile.read(int(self.headers["content-length"]))))
            error = {"type": "invalid_request_error", "message": "no model here"}
            body = json.dumps({"type": "error", "error": error})
            self.send_response(400)
            self.send_header("content-type", "application/json")
            self.end_headers()
            self.wfile.write(body.encode())

        def log_message(self, *args: object) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}", seen
    finally:
        server.shutdown()
        server.server_close()


def headless_prompt(claude: Path, prompt: str, env: dict[str, str], cwd: Path) -> str:
    """What `claude -p PROMPT` sends as the conversation (no model answers; it stops on a 400)."""
    with capturing_messages_api() as (url, seen):
        # A stand-in credential for the local endpoint, not a key: nothing leaves the machine.
        env = env | {"ANTHROPIC_BASE_URL": url, "ANTHROPIC_API_KEY": "offline-test-not-a-key"}
        out = run(claude, "-p", prompt, env=env, cwd=cwd)
    assert seen, out.stdout + out.stderr
    return json.dumps(seen[0]["messages"])


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

    sent = headless_prompt(claude, "/auraison:navigate lab", env, work)
    assert "Move the robot to `lab`" in sent  # the plugin's skill, expanded with its argument


def test_project_folder_knows_the_navigate_skill(claude: Path, tmp_path: Path) -> None:
    """Claude Code reads a project's skills from .claude/skills (here a link to skills/)."""
    sent = headless_prompt(claude, "/navigate lab", scratch_home(tmp_path), REPO)
    assert "<command-name>/navigate</command-name>" in sent and "Move the robot to `lab`" in sent


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
