"""World tools: the local stand-in over MCP, and request/response handling of the real Cosmos
endpoints against a local HTTP server that records requests and replays canned answers."""

from __future__ import annotations

import base64
import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from fastmcp import Client

from auraison.geometry.planner import Costmap
from auraison.geometry.worldfile import load_world
from auraison.mcp_servers.world import remote
from auraison.mcp_servers.world.backend import WorldModel
from auraison.mcp_servers.world.local import critic, predict
from auraison.mcp_servers.world.models import Frame
from auraison.mcp_servers.world.server import build_server
from auraison.runtime import Runtime
from auraison.settings import Settings, WorldSettings
from tests.conftest import REPO
from tests.simthread import SimThread

DOOR = load_world(str(REPO / "tests" / "data" / "door_world.yaml"))
JPEG = base64.b64encode(b"\xff\xd8\xff\xe0fake").decode()


class Recorder:
    """A tiny HTTP server: records every request and answers with the queued canned replies."""

    def __init__(self) -> None:
        self.requests: list[tuple[str, dict[str, Any], dict[str, str]]] = []
        self.replies: list[tuple[int, Any]] = []
        rec = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                rec.requests.append((self.path, body, dict(self.headers)))
                status, reply = rec.replies.pop(0) if rec.replies else (500, {"error": "no canned reply"})
                data = json.dumps(reply).encode() if not isinstance(reply, bytes) else reply
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, *args: object) -> None:
                return None

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()


@pytest.fixture
def recorder() -> Iterator[Recorder]:
    r = Recorder()
    yield r
    r.httpd.shutdown()


def chat(text: str) -> dict[str, Any]:
    return {"choices": [{"message": {"role": "assistant", "content": text}}]}


def test_local_critic_judges_clearance() -> None:
    cm = Costmap(DOOR)
    through_door = predict(DOOR, [(2.5, 0.75), (2.5, 2.0)], 0.18)
    verdict = critic(DOOR, cm, through_door.trajectory, 0.3)
    assert verdict.verdict == "no_go" and "clearance" in verdict.rationale and verdict.stand_in
    round_the_side = predict(DOOR, [(2.5, 0.75), (5.25, 0.9), (5.25, 1.9), (2.5, 2.0)], 0.18)
    assert critic(DOOR, cm, round_the_side.trajectory, 0.3).verdict == "go"
    into_wall = predict(DOOR, [(1.0, 0.75), (1.0, 2.0)], 0.18)
    v = critic(DOOR, cm, into_wall.trajectory, 0.3)
    assert v.verdict == "no_go" and not next(c for c in v.checks if c.name == "collision").ok
    fenced = critic(DOOR, cm, round_the_side.trajectory, 0.3, geofence=[(0, 0), (4, 0), (4, 3), (0, 3)])
    assert fenced.verdict == "no_go" and "geofence" in fenced.rationale


@pytest.mark.parametrize(
    ("text", "verdict", "confidence"),
    [
        (
            '<think>walls are far</think><answer>{"verdict": "go", "confidence": 0.9, '
            '"rationale": "clear"}</answer>',
            "go",
            0.9,
        ),
        ("<think>tight</think>\n<answer>No-go: the robot clips the door frame.</answer>", "no_go", 0.5),
        ("<think>hmm… the answer tag never closes<answer>uncertain, the view is occluded", "uncertain", 0.5),
        ("Sure! It is safe to go.", "go", 0.5),
        ('<answer>{"verdict": "maybe"}</answer>', "uncertain", 0.5),
        ("<think>only thinking, no answer</think>", "uncertain", 0.5),
    ],
)
def test_parse_cosmos_reason_answers_robustly(text: str, verdict: str, confidence: float) -> None:
    v = remote.parse_reason(text, "cosmos")
    assert (v.verdict, v.confidence) == (verdict, confidence) and not v.stand_in


async def test_reason_request_shape_and_geometry_overrides_a_go(recorder: Recorder) -> None:
    model = WorldModel(
        WorldSettings(
            backend="openai",
            reason_url=recorder.url + "/v1",
            reason_model="nvidia/Cosmos-Reason2-8B",
            api_key="k-test",
        )
    )
    recorder.replies.append(
        (200, chat('<think>ok</think><answer>{"verdict":"go","confidence":0.99}</answer>'))
    )
    pred = predict(DOOR, [(2.5, 0.75), (2.5, 2.0)], 0.18)  # squeezes through the door
    v = await model.assess(DOOR, Costmap(DOOR), pred, pred.frames, "safe?")
    assert v.verdict == "no_go" and "geometry overrides" in v.rationale  # the critic cannot override
    path, body, headers = recorder.requests[0]
    assert path == "/v1/chat/completions" and body["model"] == "nvidia/Cosmos-Reason2-8B"
    assert headers["Authorization"] == "Bearer k-test"
    content = body["messages"][1]["content"]
    assert [c["type"] for c in content] == ["image_url"] * len(pred.frames) + ["text"]
    assert content[0]["image_url"]["url"].startswith("data:image/jpeg;base64,")
    recorder.replies.append((200, chat("<answer>no_go: wet floor</answer>")))
    safe = predict(DOOR, [(2.5, 0.75), (5.25, 0.9), (5.25, 1.9), (2.5, 2.0)], 0.18)
    v2 = await model.assess(DOOR, Costmap(DOOR), safe, safe.frames, "safe?")
    assert v2.verdict == "no_go" and "wet floor" in v2.rationale  # but it may deny


async def test_nim_predict_and_transfer_requests(recorder: Recorder) -> None:
    model = WorldModel(WorldSettings(backend="nim", predict_url=recorder.url, transfer_url=recorder.url))
    recorder.replies += [(200, {"frames": [JPEG, JPEG]}), (200, {"b64_video": "AAAA"})]
    pred = await model.predict(DOOR, [(2.5, 0.75), (2.5, 2.0)], 0.18)
    assert len(pred.frames) == 2 and not pred.stand_in and pred.trajectory
    out = await model.transfer(pred.frames)
    assert len(out) == 1 and out[0].synthetic is False
    (p1, b1, _), (p2, b2, _) = recorder.requests
    assert p1 == p2 == "/v1/infer"
    assert b1["image"].startswith("data:image/jpeg;base64,") and "prompt" in b1
    assert len(b2["video"]) == 2


async def test_endpoint_failures_are_clear(recorder: Recorder) -> None:
    model = WorldModel(WorldSettings(backend="openai", reason_url=recorder.url, timeout_s=5))
    recorder.replies.append((503, {"error": "model loading"}))
    frame = Frame(data=JPEG)
    with pytest.raises(remote.WorldBackendError, match="HTTP 503"):
        await model.critic([frame], "q")
    recorder.replies.append((200, {"unexpected": True}))
    with pytest.raises(remote.WorldBackendError, match="unexpected chat completion"):
        await model.critic([frame], "q")
    dead = WorldModel(WorldSettings(backend="openai", reason_url="http://127.0.0.1:9", timeout_s=2))
    with pytest.raises(remote.WorldBackendError, match="unreachable"):
        await dead.critic([frame], "q")


async def test_world_server_tools_over_mcp(tmp_path: Path) -> None:
    with SimThread(str(REPO / "tests" / "data" / "door_world.yaml")) as st:
        s = Settings(
            home=tmp_path, robot={"rosbridge_url": st.url, "world": str(REPO / "tests/data/door_world.yaml")}
        )
        async with Runtime(s) as rt, Client(build_server(rt)) as c:
            res = await c.call_tool("predict", {"path": [[2.5, 0.75], [2.5, 2.0]]})
            head = res.content[0]
            assert head.type == "text" and [x.type for x in res.content[1:]] == ["image"] * 4
            meta = json.loads(head.text)
            assert meta["stand_in"] and len(meta["trajectory"]) > 5
            frames = meta["frames"]
            moved = (await c.call_tool("transfer", {"frames": frames})).structured_content["result"]
            assert moved == frames  # pass-through stand-in
            verdict = (
                await c.call_tool("reason", {"frames": frames[:1], "path": [[2.5, 0.75], [2.5, 2.0]]})
            ).structured_content
            assert verdict["verdict"] == "no_go" and verdict["stand_in"]
            no_path = await c.call_tool("reason", {"frames": frames[:1]}, raise_on_error=False)
            assert no_path.is_error and "pass the planned `path`" in no_path.content[0].text
            bad = await c.call_tool("predict", {"path": [[2.5, "x"]]}, raise_on_error=False)
            assert bad.is_error
