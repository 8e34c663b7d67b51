"""Fuzz every robot tool from its JSON schema: no crash, no traceback, typed errors, and
motion only ever from valid input. (The schema strategies are tests/fuzzing.py's, shared with
the whole-gateway fuzz in tests/integration/test_fuzz_tools.py.)"""

from __future__ import annotations

import asyncio
import math
from typing import Any

import pytest
from fastmcp import Client
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from auraison.mcp_servers.robot.server import build_server
from auraison.runtime import Runtime
from auraison.settings import Settings
from tests.fuzzing import junk, value_for
from tests.simthread import SimThread

NO_MOTION_IF_VALID = {
    "get_state",
    "list_places",
    "get_map",
    "get_scan_summary",
    "get_camera_image",
    "plan_path",
}


@pytest.fixture(scope="module")
def sim():
    with SimThread("maze_small", speed=20.0) as st_:
        yield st_


def run(coro):
    return asyncio.run(coro)


async def tool_schemas(srv) -> dict[str, dict[str, Any]]:
    async with Client(srv) as c:
        return {t.name: t.input_schema for t in await c.list_tools()}


@pytest.fixture(scope="module")
def srv(sim: SimThread, tmp_path_factory: pytest.TempPathFactory):
    return build_server(
        Runtime(Settings(home=tmp_path_factory.mktemp("h"), robot={"rosbridge_url": sim.url}))
    )


@pytest.fixture(scope="module")
def schemas(srv) -> dict[str, dict[str, Any]]:
    return run(tool_schemas(srv))


async def call(srv, name: str, args: dict[str, Any]):
    async with Client(srv) as c:
        res = await c.call_tool(name, args, raise_on_error=False)
    text = " ".join(getattr(x, "text", "") for x in res.content)
    assert "Traceback" not in text, (name, args)
    if res.is_error:
        assert text.strip(), f"{name}{args}: an error must say why"
    return res


@pytest.mark.parametrize("name", sorted(NO_MOTION_IF_VALID))
@settings(max_examples=60, deadline=None, suppress_health_check=list(HealthCheck))
@given(data=st.data())
def test_schema_valid_inputs_to_read_tools(sim: SimThread, srv, schemas, name: str, data) -> None:
    """Values drawn from each read tool's JSON schema: an answer or a typed error, no motion."""
    props = {k: v for k, v in schemas[name].get("properties", {}).items() if k != "ctx"}
    args = data.draw(st.fixed_dictionaries({}, optional={k: value_for(v) for k, v in props.items()}))
    before = sim.call(lambda: sim.sim.robot.distance)
    run(call(srv, name, args))
    assert sim.call(lambda: sim.sim.robot.distance) == before, f"{name} moved the robot"


@pytest.mark.parametrize("name", ["navigate_to", "navigate_safely", "drive"])
@settings(max_examples=60, deadline=None, suppress_health_check=list(HealthCheck))
@given(data=st.data())
def test_garbage_to_motion_tools_moves_nothing(sim: SimThread, srv, schemas, name: str, data) -> None:
    """Wrongly typed, non-finite or huge values for every field: a typed error, zero motion."""
    props = [k for k in schemas[name].get("properties", {}) if k != "ctx"]
    args = data.draw(st.dictionaries(st.sampled_from(props), junk, min_size=1))
    before = sim.call(lambda: sim.sim.robot.distance)
    res = run(call(srv, name, args))
    if not res.is_error:  # junk can only be "valid" as nulls, which leave no goal: refused
        assert (res.structured_content or {}).get("status") in ("refused", None), (name, args)
    assert sim.call(lambda: sim.sim.robot.distance) == before, f"garbage to {name} moved the robot"
    assert all(math.isfinite(v) for v in sim.call(lambda: (sim.sim.robot.x, sim.sim.robot.y)))
