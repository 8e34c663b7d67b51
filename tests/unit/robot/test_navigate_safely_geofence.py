"""navigate_safely holds the whole route inside the caller's geofence, not only the goal."""

from __future__ import annotations

from pathlib import Path

from fastmcp import Client

from auraison.identity import Identity
from auraison.mcp_servers.robot.server import build_server, geofence_for
from auraison.runtime import Runtime
from auraison.settings import Settings
from tests.conftest import REPO
from tests.simthread import SimThread

DOOR = str(REPO / "tests" / "data" / "door_world.yaml")
FENCED = """\
version: 1
rules:
  - name: fenced
    allow: ["robot_*"]
    constraints:
      "robot_navigate_*":
        geofence: {x: x, y: y, polygon: [[0, 0], [4, 0], [4, 3], [0, 3]]}
"""


def fenced_settings(tmp_path: Path, url: str = "ws://127.0.0.1:9") -> Settings:
    policy = tmp_path / "policy.yaml"
    policy.write_text(FENCED)
    return Settings(
        home=tmp_path, robot={"rosbridge_url": url, "world": DOOR}, agentops={"policy_file": str(policy)}
    )


def test_the_route_check_gets_the_callers_geofence(tmp_path: Path) -> None:
    """The fence comes from the engine's current policy, for the caller's tenant and role."""
    caller = Identity(tenant="default", role="operator")
    assert geofence_for(Runtime(fenced_settings(tmp_path)).engine, caller) == [(0, 0), (4, 0), (4, 3), (0, 3)]
    default = Runtime(Settings(home=tmp_path / "default")).engine
    assert geofence_for(default, caller) is not None  # the default policy's
    assert geofence_for(default, Identity(tenant="default", role="viewer")) is None  # viewers may not move


async def test_a_detour_leaving_the_geofence_is_not_taken(tmp_path: Path) -> None:
    """Goal and start are inside the fence; the only safe route (round the side, x > 4) is not:
    without the fence it is taken (test_navigate_safely_takes_the_safe_route), with it a human
    is asked and nothing moves."""
    with SimThread(DOOR, speed=10.0) as st:
        async with Runtime(fenced_settings(tmp_path, st.url)) as rt, Client(build_server(rt)) as c:
            out = (await c.call_tool("navigate_safely", {"place": "above"})).structured_content
        assert out["status"] == "needs_approval" and out["chosen"] is None
        reasons = [s["detail"] for s in out["steps"] if s["stage"] == "reason"]
        assert any("geofence" in r for r in reasons)
        assert st.call(lambda: st.sim.robot.distance) == 0.0
