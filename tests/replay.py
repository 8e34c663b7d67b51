"""Recorded scenarios: how they were made, and a one-line replay for tests.

    replay_scenario("navigate_kitchen", mode="full")        # in a test: that's all

Each scenario names its world, prompt and settings, so ``make_recordings`` can re-record it
and live-tools replays start the same simulator state.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from auraison.agents import run
from auraison.agents.recording import Recording
from auraison.settings import Settings
from tests.simthread import SimThread

HERE = Path(__file__).parent
RECORDINGS = HERE / "recordings"
DOOR = str(HERE / "data" / "door_world.yaml")


@dataclass(frozen=True)
class Scenario:
    prompt: str
    world: str = "maze_small"
    agent: str = "navigator"
    agentops: dict[str, Any] = field(default_factory=dict)


SCENARIOS = {
    "navigate_kitchen": Scenario("Please go to the kitchen."),
    "door_detour": Scenario("Please go to the above.", world=DOOR),
    "unreachable": Scenario("Navigate to 0.1, 0.1 please."),
    "approval_gated": Scenario("Drive forward 0.1 m/s for 1 s."),
    "analyst_tool_calls": Scenario("Which tools were called?", agent="analyst"),
    "denied_geofence": Scenario(
        "Go to the lab.", agentops={"policy_file": str(HERE / "data" / "tight_geofence.yaml")}
    ),
}


def settings_for(s: Scenario, home: Path, url: str) -> Settings:
    return Settings(
        home=home,
        robot={"rosbridge_url": url, "world": s.world},
        agentops={"approvals": "memory", **s.agentops},
    )


async def record(name: str, home: Path) -> Path:
    s = SCENARIOS[name]
    with SimThread(s.world, speed=10.0, seed=0) as sim:
        await run(
            s.agent, s.prompt, settings=settings_for(s, home, sim.url), record=RECORDINGS / f"{name}.json"
        )
    return RECORDINGS / f"{name}.json"


async def replay_scenario(name: str, home: Path, mode: str = "full"):
    """Replay a shipped recording; raises ``ReplayMismatch`` with a diff on any divergence."""
    s = SCENARIOS[name]
    rec = Recording.load(RECORDINGS / f"{name}.json")
    if mode == "full":
        return await run(
            rec.agent, rec.prompt, settings=settings_for(s, home, "ws://127.0.0.1:9"), replay=rec
        )
    with SimThread(s.world, speed=10.0, seed=0) as sim:
        return await run(
            rec.agent, rec.prompt, settings=settings_for(s, home, sim.url), replay=rec, mode="live-tools"
        )


if __name__ == "__main__":  # python -m tests.replay: re-record every scenario
    import tempfile

    for scenario in SCENARIOS:
        print(asyncio.run(record(scenario, Path(tempfile.mkdtemp()))))
