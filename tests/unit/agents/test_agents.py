"""Agents through the real gateway and the real simulator; recordings replayed both ways."""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
from pathlib import Path

import pytest
from pydantic_ai import models
from pydantic_ai.models.test import TestModel

from auraison.agentops import AgentOps
from auraison.agents import run
from auraison.agents.recording import Recording, RecordingError, ReplayMismatch
from auraison.identity import Identity
from auraison.settings import Settings
from tests.replay import RECORDINGS, SCENARIOS, replay_scenario
from tests.simthread import SimThread
from tests.terminal import run_at_terminal

models.ALLOW_MODEL_REQUESTS = False  # never a network model in tests
PERSON = Identity(tenant="default", role="operator", subject="alice", kind="human")  # decides approvals


def settings(home: Path, url: str, **agentops: object) -> Settings:
    return Settings(home=home, robot={"rosbridge_url": url}, agentops={"approvals": "memory", **agentops})


async def test_navigator_offline_drives_to_a_place(tmp_path: Path) -> None:
    progress: list[tuple[float, float | None, str]] = []
    with SimThread("maze_small", speed=25.0) as sim:
        res = await run(
            "navigator",
            "Please go to the lab.",
            settings=settings(tmp_path, sim.url),
            on_progress=lambda d, t, m: progress.append((d, t, m)),
        )
        r = sim.call(lambda: sim.sim.robot)
    assert len(progress) >= 3 and "m to go" in progress[-1][2]  # Nav2 feedback reached the caller
    assert res.output.startswith("[offline stand-in model] Arrived at lab")
    assert abs(r.x - 5.75) < 0.25 and abs(r.y - 0.75) < 0.25
    assert [c["name"] for c in res.tool_calls] == [
        "robot_get_state",
        "robot_plan_path",
        "robot_navigate_safely",
    ]
    assert res.trace_id and len(res.trace_id) == 32 and res.model == "offline stand-in"


async def test_offline_model_says_what_it_cannot_do(tmp_path: Path) -> None:
    with SimThread("maze_small") as sim:
        res = await run("navigator", "Write me a poem about robots.", settings=settings(tmp_path, sim.url))
    assert "[offline stand-in model] I only understand" in res.output and res.tool_calls == []


async def test_test_model_through_the_gateway(tmp_path: Path) -> None:
    with SimThread("maze_small") as sim:
        model = TestModel(call_tools=["robot_get_state", "robot_list_places", "robot_get_scan_summary"])
        res = await run("operator", "look around", settings=settings(tmp_path, sim.url), model=model)
    assert {c["name"] for c in res.tool_calls} == {
        "robot_get_state",
        "robot_list_places",
        "robot_get_scan_summary",
    }
    assert all(c["ok"] for c in res.tool_calls)


async def test_approval_end_to_end(tmp_path: Path) -> None:
    """Deferral → decision → resume: the run stops with DeferredToolRequests, a human approves,
    the run resumes with DeferredToolResults and the approved call runs exactly once."""
    from pydantic_ai import DeferredToolRequests, DeferredToolResults

    engine = AgentOps()
    with SimThread("maze_small", speed=4.0) as sim:
        s = settings(tmp_path, sim.url)
        first = await run("navigator", "Drive forward 0.1 m/s for 1 s.", settings=s, engine=engine)
        assert isinstance(first.pending, DeferredToolRequests) and "needs approval apr_" in first.output
        assert sim.call(lambda: sim.sim.robot.distance) == 0
        (call,) = first.pending.approvals
        approval_id = first.pending.metadata[call.tool_call_id]["approval_id"]
        pending = await engine.approvals.get(approval_id)
        assert pending.status == "pending" and pending.args == {"linear": 0.1, "duration": 1.0}
        resumed = await run(
            "navigator",
            "",
            settings=s,
            engine=engine,
            history=first.messages,
            deferred=DeferredToolResults(
                approvals={call.tool_call_id: True},
                metadata={call.tool_call_id: {"approved_by": PERSON.model_dump(mode="json")}},
            ),
        )
        assert resumed.output.startswith("[offline stand-in model] Drove"), resumed.output
        assert sim.call(lambda: sim.sim.robot.distance) > 0.05
        assert (await engine.approvals.get(approval_id)).status == "used"


async def wait_for(pred, limit_s: float = 10.0) -> None:
    """Poll a condition, bounded (a closed socket reaches the server's side asynchronously)."""
    deadline = asyncio.get_running_loop().time() + limit_s
    while not pred():
        assert asyncio.get_running_loop().time() < deadline, "condition not met in time"
        await asyncio.sleep(0.01)


async def test_a_run_whose_model_raises_still_closes_the_gateway(tmp_path: Path) -> None:
    """The model fails after a tool call opened the rosbridge connection: the run raises the
    model's error, and the gateway's planes are closed all the same (no connection left open)."""
    from pydantic_ai.messages import ModelResponse, ToolCallPart
    from pydantic_ai.models.function import FunctionModel

    def model(messages: list, info: object) -> ModelResponse:
        if len(messages) == 1:
            return ModelResponse(parts=[ToolCallPart("robot_get_state", {})])
        raise RuntimeError("the model provider went away")

    with SimThread("maze_small") as sim:
        s = settings(tmp_path, sim.url)
        seen: list[int] = []

        def on_call(name: str, args: dict, ok: bool, result: object) -> None:
            seen.append(len(sim.call(lambda: sim.server.connections)))  # while the run is connected

        with pytest.raises(RuntimeError, match="went away"):
            await run("navigator", "hi", settings=s, model=FunctionModel(model), on_call=on_call)
        assert seen == [1]  # the tool call did connect
        await wait_for(lambda: not sim.call(lambda: sim.server.connections))  # the failed run closed it


@pytest.mark.parametrize("name", sorted(SCENARIOS))
@pytest.mark.parametrize("mode", ["full", "live-tools"])
async def test_shipped_recordings_replay(name: str, mode: str, tmp_path: Path) -> None:
    rec = Recording.load(RECORDINGS / f"{name}.json")
    res = await replay_scenario(name, tmp_path, mode)
    assert len(res.tool_calls) == len(rec.tool_calls)
    if rec.tool_calls[-1].deferred is not None:  # the run stopped for a human, in both modes
        assert res.pending is not None and res.output.startswith("Waiting for a human")
        return
    final = rec.model_messages()[-1].parts[0].content
    if mode == "full":
        assert res.output == final
    else:  # live results may differ in measured numbers, never in substance
        assert res.output.split(":")[0] == final.split(":")[0]


async def test_changed_tool_schema_fails_replay_with_a_diff_naming_the_tool(tmp_path: Path) -> None:
    rec = Recording.load(RECORDINGS / "unreachable.json")
    schema = rec.tool_schemas["robot_plan_path"]
    schema["properties"]["speed"] = {"type": "number"}  # pretend the recording saw another version
    with SimThread("maze_small") as sim, pytest.raises(ReplayMismatch) as err:
        await run(rec.agent, rec.prompt, settings=settings(tmp_path, sim.url), replay=rec, mode="live-tools")
    assert "tool robot_plan_path: input schema changed" in str(err.value) and '"speed"' in str(err.value)


async def test_a_diverging_call_fails_with_a_diff(tmp_path: Path) -> None:
    rec = Recording.load(RECORDINGS / "navigate_kitchen.json")
    rec.tool_calls[1].args = {"place": "office"}  # the recording says the model planned to the office
    with pytest.raises(ReplayMismatch) as err:
        await replay_scenario_with(rec, tmp_path)
    text = str(err.value)
    assert (
        "tool call #2 differs" in text and '-  "place": "office"' in text and '+  "place": "kitchen"' in text
    )


async def replay_scenario_with(rec: Recording, home: Path):
    return await run(rec.agent, rec.prompt, settings=settings(home, "ws://127.0.0.1:9"), replay=rec)


@pytest.mark.parametrize(
    ("content", "needle"),
    [
        ("{not json", "not a JSON recording"),
        (json.dumps({"version": 1, "agent": "navigator"}), "not a valid recording"),
        (
            json.dumps(
                {
                    "version": 99,
                    "agent": "n",
                    "prompt": "p",
                    "model": "m",
                    "tenant": "t",
                    "wall_time_s": 1,
                    "tool_schemas": {},
                    "tool_calls": [],
                    "messages": [],
                }
            ),
            "format 99",
        ),
    ],
)
def test_corrupted_recording_is_a_clear_error(tmp_path: Path, content: str, needle: str) -> None:
    path = tmp_path / "bad.json"
    path.write_text(content)
    with pytest.raises(RecordingError, match=needle):
        Recording.load(path)
    res = subprocess.run(
        [sys.executable, "-m", "auraison", "replay", str(path)],
        capture_output=True,
        text=True,
        env={"AURAISON_HOME": str(tmp_path), "PATH": "/usr/bin:/bin"},
    )
    assert res.returncode == 2 and needle in res.stderr and "Traceback" not in res.stderr


def test_chat_keeps_history_and_decides_approvals_inline(tmp_path: Path) -> None:
    with SimThread("maze_small", speed=4.0) as sim:
        env = {
            "AURAISON_HOME": str(tmp_path),
            "AURAISON_ROBOT__ROSBRIDGE_URL": sim.url,
            "PATH": "/usr/bin:/bin",
        }
        # A person at a terminal answers the approval: stdin is a pseudo-terminal holding the typed lines.
        res = run_at_terminal(
            [sys.executable, "-m", "auraison", "chat", "--agent", "navigator"],
            env,
            timeout=120,
            typed="status\nDrive forward 0.1 m/s for 1 s.\ny\nplaces\n\n",
        )
        moved = sim.call(lambda: sim.sim.robot.distance)
    out = res.stdout
    assert res.returncode == 0, res.stderr
    assert "The robot is at (0.75, 0.75)" in out and "Needs human approval" in out
    assert "approved" in out and "Drove" in out and "Places: dock" in out  # later turns still work
    assert moved > 0.05
