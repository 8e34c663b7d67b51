"""The Claude Code plugin: manifest, skills and .mcp.json are well-formed and name real tools."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
import yaml
from fastmcp import Client

from auraison.agentops import AgentOps
from auraison.runtime import Runtime
from auraison.settings import Settings
from tests.conftest import REPO

SKILLS = sorted((REPO / "skills").glob("*/SKILL.md"))
PREFIXES = ("mcp__auraison__", "mcp__plugin_auraison_auraison__")
"""The gateway's tools as Claude Code names them: from the project's .mcp.json, as the plugin."""
MOTION = {
    "robot_navigate_to",
    "robot_navigate_safely",
    "robot_drive",
    "robot_cancel_navigation",
    "approvals_decide",
}


def frontmatter(path: Path) -> tuple[dict, str]:
    text = path.read_text()
    m = re.match(r"^---\n(.*?)\n---\n(.*)$", text, re.S)
    assert m, f"{path} has no YAML frontmatter"
    return yaml.safe_load(m.group(1)), m.group(2)


async def gateway_tools(tmp_path: Path) -> set[str]:
    gw = Runtime(
        Settings(home=tmp_path, agentops={"approvals": "memory"}), engine=AgentOps(policy=None)
    ).gateway()
    async with Client(gw) as c:
        return {t.name for t in await c.list_tools()}


def test_plugin_manifest() -> None:
    manifest = json.loads((REPO / ".claude-plugin" / "plugin.json").read_text())
    assert manifest["name"] == "auraison" and re.match(r"^\d+\.\d+\.\d+$", manifest["version"])
    assert manifest["description"]


def test_mcp_json_launches_only_the_gateway() -> None:
    """ros-mcp is served through the gateway (governed); nothing reaches a tool around it."""
    servers = json.loads((REPO / ".mcp.json").read_text())["mcpServers"]
    assert servers["auraison"]["args"][:1] == ["gateway"]
    assert servers["auraison"]["command"].endswith("/bin/auraison-plugin")
    assert set(servers) == {"auraison"}


def test_plugin_starts_the_gateway_from_its_own_root() -> None:
    """Claude Code expands only the literal ${CLAUDE_PLUGIN_ROOT} in plugin files (no :-default)."""
    manifest = json.loads((REPO / ".claude-plugin" / "plugin.json").read_text())
    (name, spec), *more = manifest["mcpServers"].items()
    assert name == "auraison" and not more and spec["args"][:1] == ["gateway"]
    assert spec["command"] == "${CLAUDE_PLUGIN_ROOT}/bin/auraison-plugin"
    hooks = json.loads((REPO / "hooks" / "hooks.json").read_text())["hooks"]["PreToolUse"]
    assert [h["matcher"] for h in hooks] == ["mcp__.*|Bash"]
    assert hooks[0]["hooks"][0]["command"] == '"${CLAUDE_PLUGIN_ROOT}/bin/auraison-plugin" hook pre-tool-use'
    for text in (json.dumps(manifest), json.dumps(hooks)):
        assert ":-" not in text
    market = json.loads((REPO / ".claude-plugin" / "marketplace.json").read_text())
    assert [(p["name"], p["source"]) for p in market["plugins"]] == [("auraison", "./")]


def test_project_folder_sees_the_skills_and_the_guard() -> None:
    assert (REPO / ".claude" / "skills").resolve() == (REPO / "skills").resolve()
    settings = json.loads((REPO / ".claude" / "settings.json").read_text())
    (entry,) = settings["hooks"]["PreToolUse"]
    assert entry["matcher"] == "mcp__.*|Bash"
    assert entry["hooks"][0]["command"].endswith("/bin/auraison-plugin hook pre-tool-use")


@pytest.mark.parametrize("path", SKILLS, ids=lambda p: p.parent.name)
async def test_skill_frontmatter_and_tools_exist(path: Path, tmp_path: Path) -> None:
    meta, body = frontmatter(path)
    assert meta["name"] == path.parent.name and len(meta["description"]) <= 1024
    assert "argument-hint" in meta and body.strip()
    allowed = meta["allowed-tools"].split()
    tools = await gateway_tools(tmp_path)
    assert all(name.startswith(PREFIXES) for name in allowed), allowed
    project, plugin = ({n.removeprefix(p) for n in allowed if n.startswith(p)} for p in PREFIXES)
    assert project == plugin, f"{path}: list each tool under both names"
    for name in project:
        assert name in tools, f"{path}: {name} is not a gateway tool"
        assert name not in MOTION, f"{path}: {name} moves things"
    for name in set(re.findall(r"mcp__auraison__(\w+)", body)):
        assert name in tools, f"{path} mentions unknown tool {name}"


def test_at_least_four_skills() -> None:
    assert {p.parent.name for p in SKILLS} >= {"navigate", "robot-status", "world-check", "approvals"}


AGENT_FILES = sorted((REPO / "agents" / "instructions").glob("*.md"))


@pytest.mark.parametrize("path", AGENT_FILES, ids=lambda p: p.stem)
async def test_agent_definition_is_a_claude_code_subagent_with_the_runners_tools(
    path: Path, tmp_path: Path
) -> None:
    """One definition, two runtimes: the frontmatter's tools are the Pydantic AI agent's tool
    globs applied to the gateway, under both the project's and the installed plugin's names."""
    import fnmatch

    from auraison.agents.runner import AGENTS

    meta, body = frontmatter(path)
    assert meta["name"] == path.stem and meta["description"] and body.strip()
    listed = [t.strip() for t in meta["tools"].split(",")]
    globs = AGENTS[path.stem][1]
    expected = {t for t in await gateway_tools(tmp_path) if any(fnmatch.fnmatchcase(t, g) for g in globs)}
    for prefix in PREFIXES:
        assert {t.removeprefix(prefix) for t in listed if t.startswith(prefix)} == expected, prefix
    assert all(t.startswith(PREFIXES) for t in listed)


@pytest.mark.parametrize("agent", ["navigator", "operator", "analyst"])
def test_runner_instructions_leave_the_frontmatter_out(agent: str) -> None:
    from auraison.agents.runner import instructions_for

    text = instructions_for(agent)
    _, body = frontmatter(REPO / "agents" / "instructions" / f"{agent}.md")
    assert text == body.lstrip("\n") and not text.startswith("---") and "tools:" not in text
    assert text.startswith(f"You are Auraison's {agent}")
