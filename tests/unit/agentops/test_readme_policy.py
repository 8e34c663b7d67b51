"""The README's worked policy example is a real policy and behaves as the README says."""

from __future__ import annotations

import re

from auraison.agentops import AgentOps, Identity, ToolCall
from auraison.agentops.policy import parse_policy
from tests.conftest import REPO


def readme_policy() -> str:
    text = (REPO / "README.md").read_text()
    block = re.search(r"### The policy file, worked example.*?```yaml\n(.*?)```", text, re.S)
    assert block, "README lost its worked policy example"
    return block.group(1)


async def test_readme_policy_does_what_the_readme_says() -> None:
    eng = AgentOps(parse_policy(readme_policy(), "README.md"))
    op, viewer = Identity(role="operator"), Identity(role="viewer")

    async def kind(identity: Identity, tool: str, **args: object) -> str:
        return (await eng.decide(ToolCall(identity=identity, tool=tool, args=args))).kind

    assert await kind(op, "robot_navigate_to", x=9, y=1) == "deny"
    assert await kind(op, "robot_navigate_to", x=3, y=1) == "allow"
    assert await kind(op, "robot_drive", linear=0.1) == "needs_approval"
    assert await kind(viewer, "robot_navigate_to", x=3, y=1) == "deny"
    assert await kind(viewer, "robot_stop") == "allow"
    assert await kind(viewer, "lake_query", sql="select 1") == "allow"
    assert await kind(viewer, "lake_query", sql="delete from spans") == "deny"
    assert eng.policy.limit_for("t", "viewer", "robot_stop").never_wait
