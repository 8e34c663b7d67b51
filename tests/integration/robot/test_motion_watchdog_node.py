"""The robot's motion watchdog as a process beside the robot (``auraison robot watchdog``),
against the real simulator with the simulator's own watchdog switched off: whatever halts the
robot here is the node. Holders are the real ``MotionLease`` over the real rosbridge client.

Times: the node counts wall time, so these tests do too (the sim runs at real speed); every
wait is a bounded poll on a condition, never a sleep that stands in for one."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Callable, Iterator
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest

from auraison.bench.chaos import gateway_env
from auraison.mcp_servers.robot.lease import MotionLease
from auraison.mcp_servers.robot.rosbridge import RosbridgeClient
from auraison.mcp_servers.robot.watchdog import ESTOP_TOPIC, MotionWatchdogNode
from tests.simthread import SimThread, nav_goal
from tests.tcpproxy import TcpProxy

ACTION, ACTION_TYPE = "/navigate_to_pose", "nav2_msgs/action/NavigateToPose"
KITCHEN = (5.75, 5.75)  # maze_small: ~12 m of driving from the start, a goal of a minute
TTL_S = 1.0  # the default lease; shorter ones would halt on a stalled, loaded CI machine
MARGIN_S = 1.5  # what a loaded 2-core CI machine may add to the ttl before the goal is canceled
ROOT = Path(__file__).resolve().parents[3]

HOLDER = """
import asyncio, sys
from auraison.logging import configure_logging
from auraison.mcp_servers.robot.lease import MotionLease
from auraison.mcp_servers.robot.rosbridge import RosbridgeClient

async def main(url: str, ttl: float, x: float, y: float) -> None:
    client = RosbridgeClient(url)
    async def halt(reason: str) -> None: ...
    lease = MotionLease(client.publish, halt, ttl)
    goal = {"pose": {"header": {"frame_id": "map"},
                     "pose": {"position": {"x": x, "y": y}, "orientation": {"w": 1.0}}}}
    async with lease.hold("navigate_to kitchen"):
        await client.send_goal("/navigate_to_pose", "nav2_msgs/action/NavigateToPose", goal)
        print(lease.status.holder, flush=True)
        await asyncio.Event().wait()  # renewing until killed

configure_logging()  # to stderr: stdout carries the holder's name
asyncio.run(main(sys.argv[1], *map(float, sys.argv[2:])))
"""


def wait_for(what: str, check: Callable[[], bool], limit_s: float = 60) -> None:
    """Poll ``check`` until it holds; fail with ``what`` after ``limit_s`` (a deadline, not a timing)."""
    deadline = time.monotonic() + limit_s
    while not check():
        if time.monotonic() > deadline:
            raise AssertionError(f"never happened: {what}")
        time.sleep(0.02)


async def until(what: str, check: Callable[[], bool], limit_s: float = 60) -> None:
    """``wait_for`` on the event loop: the node and the holders run while it polls."""
    for _ in range(int(limit_s / 0.02)):
        if await asyncio.to_thread(check):
            return
        await asyncio.sleep(0.02)
    raise AssertionError(f"never happened: {what}")


def moving(st: SimThread) -> bool:
    return st.call(lambda: st.sim.nav.active is not None and st.sim.robot.v > 0.05)


def at_rest(st: SimThread) -> bool:
    return st.call(lambda: st.sim.nav.active is None and st.sim.robot.v == 0.0 and st.sim.robot.w == 0.0)


def goal_states(st: SimThread) -> list[str]:
    return st.call(lambda: [g.status.name for g in st.sim.nav.goals.values()])


@pytest.fixture
def sim() -> Iterator[SimThread]:
    with SimThread("maze_small", speed=1.0, seed=1, watchdog=False) as st:
        yield st


@contextlib.asynccontextmanager
async def watching(url: str) -> AsyncIterator[MotionWatchdogNode]:
    """The node on the test's loop, connected, until the block ends."""
    node = MotionWatchdogNode(RosbridgeClient(url), min_backoff_s=0.05, max_backoff_s=0.5)
    stop = asyncio.Event()
    task = asyncio.create_task(node.run(stop))
    try:
        await asyncio.wait_for(node.connected.wait(), 10)
        yield node
    finally:
        stop.set()
        await asyncio.wait_for(task, 10)


async def no_halt(reason: str) -> None:
    """The holder's own halt: unused here (these holders never stop renewing on their own)."""


async def test_continuing_heartbeats_halt_nothing_and_a_released_lease_halts_nothing(sim: SimThread) -> None:
    """A goal three leases long runs under a renewed lease untouched; its release drops the holder.
    A second holder that beats once and goes silent is then halted — and it alone, which shows a
    lease's time passed with the first one released."""
    holder = RosbridgeClient(sim.url)
    async with watching(sim.url) as node:
        lease = MotionLease(holder.publish, no_halt, TTL_S)
        async with lease.hold("navigate_to kitchen"):
            await holder.send_goal(ACTION, ACTION_TYPE, nav_goal(*KITCHEN))
            await until("the robot under way", lambda: moving(sim))
            await asyncio.sleep(3 * TTL_S)  # the motion runs three leases long, renewed every ttl/4
            assert list(node.halts) == []
            assert moving(sim) and goal_states(sim) == ["EXECUTING"]
            assert list(node.book.leases) == [lease.status.holder]
        await until("the release heard", lambda: not node.book.leases)
        canary = MotionLease(holder.publish, no_halt, TTL_S, holder="canary")
        await canary._send("held")  # one beat, then silence
        await until("the canary's halt", lambda: bool(node.halts))
        assert [h.holder for h in node.halts] == ["canary"], node.halts
        halt = node.halts[0]
        assert halt.reason == "lease_expired" and halt.goals_canceled == 1 and halt.zero_twists == 3
        assert TTL_S <= halt.silent_s <= TTL_S + MARGIN_S
    await until("the robot at rest", lambda: at_rest(sim))
    assert goal_states(sim) == ["CANCELED"]
    await holder.close()


async def test_an_estop_through_the_node_halts_a_goal_whoever_sent_it(sim: SimThread) -> None:
    """The simulator's own e-stop is off: the node hears /auraison/estop and cancels a goal it
    did not send, over Nav2's cancel service, and zeroes the velocity."""
    holder, console = RosbridgeClient(sim.url), RosbridgeClient(sim.url)
    async with watching(sim.url) as node:
        await holder.send_goal(ACTION, ACTION_TYPE, nav_goal(*KITCHEN))
        await until("the robot under way", lambda: moving(sim))
        await console.publish(ESTOP_TOPIC, "std_msgs/msg/String", {"data": "test console"})
        await until("the node's halt", lambda: bool(node.halts))
        halt = node.halts[0]
        assert halt.reason == "estop" and halt.detail == "e-stop by test console" and halt.holder is None
        assert halt.goals_canceled == 1 and halt.zero_twists == 3
        await until("the robot at rest", lambda: at_rest(sim))
    assert goal_states(sim) == ["CANCELED"]
    assert sim.call(lambda: sim.sim.watchdog.halts) == []  # not the simulator's own
    await holder.close()
    await console.close()


async def test_a_lease_that_runs_out_while_the_node_is_cut_off_is_halted_on_reconnect(
    sim: SimThread,
) -> None:
    """The node's rosbridge connection is cut: it cannot halt, and the robot drives on while it is
    cut (said in the log); on reconnect it halts at once for the lease that ran out meanwhile."""
    proxy = TcpProxy("127.0.0.1", sim.port).start()
    holder = RosbridgeClient(sim.url)
    try:
        async with watching(f"ws://127.0.0.1:{proxy.port}") as node:
            lease = MotionLease(holder.publish, no_halt, TTL_S, holder="gateway-1")
            await holder.send_goal(ACTION, ACTION_TYPE, nav_goal(*KITCHEN))
            await lease._send("held")
            await until("the lease heard", lambda: "gateway-1" in node.book.leases)
            await until("the robot under way", lambda: moving(sim))
            proxy.stop()
            await until("the node disconnected", lambda: not node.connected.is_set())
            await until("a halt attempted", lambda: bool(node.halts))
            assert not node.halts[0].delivered and node.halts[0].goals_canceled is None
            assert moving(sim)  # it could not halt while cut off
            proxy.start()
            await until("the halt on reconnect", lambda: len(node.halts) == 2)
            halt = node.halts[1]
            assert halt.delivered and halt.holder == "gateway-1" and halt.goals_canceled == 1
            assert halt.detail.endswith("(while disconnected)")
            await until("the robot at rest", lambda: at_rest(sim))
    finally:
        proxy.stop()
        await holder.close()
    assert goal_states(sim) == ["CANCELED"]


def _log_lines(path: Path) -> list[dict[str, Any]]:
    out = []
    for line in path.read_text().splitlines():
        with contextlib.suppress(ValueError):
            out.append(json.loads(line))
    return out


def _event(path: Path, event: str) -> dict[str, Any] | None:
    return next((e for e in _log_lines(path) if e.get("event") == event), None)


def test_the_cli_node_halts_the_robot_after_its_sigkilled_holder_falls_silent(
    sim: SimThread, tmp_path: Path
) -> None:
    """``auraison robot watchdog`` as it runs on a robot; a holder process (the real lease) sends a
    goal and renews, then is SIGKILLed mid-goal: no cancel is ever sent, yet the node cancels the
    goal within the ttl and a bounded margin, and says why in its JSON log."""
    env = gateway_env(tmp_path, AURAISON_LOG_LEVEL="info")
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT), env.get("PYTHONPATH")]))
    log = tmp_path / "watchdog.log"
    with log.open("wb") as err:
        node = subprocess.Popen(
            [sys.executable, "-m", "auraison", "robot", "watchdog", "--rosbridge", sim.url, "--json-log"],
            stdout=subprocess.DEVNULL,
            stderr=err,
            env=env,
        )
    holder: subprocess.Popen[str] | None = None
    try:
        wait_for("the node watching", lambda: _event(log, "motion watchdog watching") is not None)
        holder = subprocess.Popen(
            [sys.executable, "-c", HOLDER, sim.url, str(TTL_S), *map(str, KITCHEN)],
            stdout=subprocess.PIPE,
            text=True,
            env=env,
        )
        assert holder.stdout is not None
        name = holder.stdout.readline().strip()
        assert name, "the holder printed no name"
        wait_for("the robot under way", lambda: moving(sim))
        assert _event(log, "robot halted by the motion watchdog") is None  # renewed, untouched
        holder.kill()
        killed_at = time.time()
        holder.wait(10)
        wait_for("the node's halt", lambda: _event(log, "robot halted by the motion watchdog") is not None)
        halt = _event(log, "robot halted by the motion watchdog")
        assert halt is not None
        assert halt["holder"] == name and halt["reason"] == "lease_expired", halt
        assert halt["goals_canceled"] == 1 and halt["zero_twists"] == 3
        assert halt["silent_s"] <= TTL_S + MARGIN_S
        halted_at = datetime.fromisoformat(halt["timestamp"]).timestamp()
        assert halted_at - killed_at <= TTL_S + MARGIN_S
        wait_for("the robot at rest", lambda: at_rest(sim))
        assert goal_states(sim) == ["CANCELED"]
        node.send_signal(signal.SIGTERM)
        assert node.wait(15) == 0
    finally:
        for proc in (holder, node):
            if proc is not None and proc.poll() is None:
                proc.kill()
                proc.wait(10)
