"""The composition root: what it builds it closes, what it is given it leaves alone, and a
service that is down at start is only a first call that fails."""

from __future__ import annotations

from pathlib import Path

import pytest

from auraison.agentops import AgentOps
from auraison.mcp_servers.billing.store import ManagementUnavailable
from auraison.runtime import Runtime
from auraison.settings import Settings
from tests.conftest import free_port


def dead_postgres(home: Path, **agentops: object) -> Settings:
    dsn = f"postgresql://postgres@127.0.0.1:{free_port()}/nothing"  # nothing listens there
    return Settings(home=home, management={"store": "postgres"}, postgres={"dsn": dsn}, agentops=agentops)


async def test_what_it_is_given_it_leaves_alone(tmp_path: Path) -> None:
    """A given engine is the runtime's engine, and closing the runtime does not touch it."""
    engine = AgentOps()
    rt = Runtime(Settings(home=tmp_path), engine=engine)
    assert rt.engine is engine and "robot_*" in engine.arg_views  # robot places, as the gateway shows them
    await rt.aclose()
    assert rt.engine is engine


async def test_what_it_builds_it_closes_and_builds_again(tmp_path: Path) -> None:
    """An owned lake is closed by ``aclose``; using it afterwards opens a fresh one."""
    rt = Runtime(Settings(home=tmp_path))
    lake = rt.lake
    assert rt.lake is lake  # built once
    await rt.aclose()
    with pytest.raises(Exception, match="closed"):
        lake.execute("SELECT 1")
    again = rt.lake
    assert again is not lake and again.execute("SELECT 1").fetchone() == (1,)
    await rt.aclose()
    await rt.aclose()  # twice is harmless


async def test_closing_closes_what_closing_opened(tmp_path: Path) -> None:
    """Spans flushed at close may open the lake; that lake is closed too, nothing left over."""
    from auraison.agentops import ToolCall

    rt = Runtime(Settings(home=tmp_path, agentops={"lake_sink": True}))

    async def tool() -> str:
        return "ok"

    await rt.engine.execute(ToolCall(tool="robot_get_state"), tool)  # the span waits in the sink
    await rt.aclose()
    assert rt._closers == []


async def test_a_gateway_starts_while_the_management_store_is_down(tmp_path: Path) -> None:
    """With quotas drawn from the management plane, a dead store fails calls, not the start."""
    rt = Runtime(dead_postgres(tmp_path, quotas="management", approvals="memory"))
    gateway = rt.gateway(servers={})
    assert gateway.name == "auraison"
    for _ in range(2):  # a failed build is not cached: each use tries again
        with pytest.raises(ManagementUnavailable):
            _ = rt.billing
    await rt.aclose()
