"""The dead-man lease end to end: a real stdio gateway process drives the real simulator, and
the session ends mid-goal in each way it can — SIGKILL, stdin closed, SIGTERM. Times are the
simulator's (sim seconds), never the test's wall clock."""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path

import pytest

from auraison.bench.chaos import GatewayProcess, gateway_env
from tests.simthread import SimThread

SPEED = 8.0  # the sim runs 8× real time: a lease of 1 s is 8 sim seconds
LEASE_S = 1.0  # the default; a gateway stalled longer than this (a loaded CI machine) halts the robot
LONG_LEASE_S = 10.0  # for the session-end tests: there the watchdog must not be what stops it
TICK = 0.015  # one physics step (sim seconds; ≤ 1.5 × 1/physics_hz as the bridge splits its steps)


def wait_for(what: str, check: Callable[[], bool], limit_s: float = 90) -> None:
    """Poll ``check`` until it holds; fail with ``what`` after ``limit_s`` (a deadline, not a timing)."""
    deadline = time.monotonic() + limit_s
    while not check():
        if time.monotonic() > deadline:
            raise AssertionError(f"never happened: {what}")
        time.sleep(0.02)


def moving(st: SimThread) -> bool:
    return st.call(lambda: st.sim.nav.active is not None and st.sim.robot.v > 0.05)


def at_rest(st: SimThread) -> bool:
    return st.call(lambda: st.sim.nav.active is None and st.sim.robot.v == 0.0 and st.sim.robot.w == 0.0)


@pytest.fixture
def sim() -> SimThread:
    with SimThread("maze_small", speed=SPEED, seed=1) as st:
        yield st


def start_gateway(st: SimThread, tmp_path: Path, lease_s: float = LEASE_S) -> GatewayProcess:
    env = gateway_env(
        tmp_path,
        AURAISON_ROBOT__ROSBRIDGE_URL=st.url,
        AURAISON_ROBOT__MOTION_LEASE_S=str(lease_s),
        AURAISON_LOG_LEVEL="info",
    )
    return GatewayProcess(env, tmp_path / "gateway.log")


def drive_off(st: SimThread, gw: GatewayProcess, place: str = "kitchen") -> None:
    """Send the robot on a long goal (5 m or more away) and wait until it is under way."""
    gw.call("robot_navigate_to", {"place": place})
    wait_for("the robot under way", lambda: moving(st))


def test_renewal_keeps_a_long_goal_going_and_a_sigkilled_gateway_halts_the_robot_within_the_lease(
    sim: SimThread, tmp_path: Path
) -> None:
    """A goal many leases long succeeds while the gateway lives and renews; then kill -9 mid-goal:
    no cancel is ever sent, yet the robot stops one lease after the last heartbeat, by the
    robot's own watchdog, and the goal ends canceled."""
    gw = start_gateway(sim, tmp_path)
    try:
        t0 = sim.call(lambda: sim.sim.t)
        out = gw.call_ok("robot_navigate_to", {"place": "kitchen"}, timeout=180)  # ~12 m: ~60 sim s
        assert out["status"] == "succeeded" and out["reached"], out
        assert sim.call(lambda: sim.sim.t) - t0 > 5 * LEASE_S * SPEED  # renewed many times over
        state = gw.call_ok("robot_get_state")
        assert state["lease"]["state"] == "released" and f":{gw.pid}:" in state["lease"]["holder"]
        assert state["lease"]["ttl_s"] == LEASE_S and state["lease"]["halts"] == 0
        drive_off(sim, gw, "dock")
        gw.kill()
        dead_at = sim.call(lambda: sim.sim.t)
    finally:
        gw.close()
    wait_for("the watchdog's halt", lambda: sim.call(lambda: bool(sim.sim.watchdog.halts)))
    halt = sim.call(lambda: sim.sim.watchdog.halts[0])
    assert f":{gw.pid}:" in halt.holder and halt.goal_canceled and halt.was_moving
    assert halt.renewed_at <= dead_at  # no heartbeat after death
    assert halt.halted_at - halt.renewed_at <= LEASE_S * SPEED + TICK + 1e-6
    wait_for("the robot at rest", lambda: at_rest(sim))
    goals = sim.call(lambda: [g.status.name for g in sim.sim.nav.goals.values()])
    assert goals == ["SUCCEEDED", "CANCELED"]


def test_closing_the_session_mid_goal_stops_the_robot(sim: SimThread, tmp_path: Path) -> None:
    """The client closes stdin mid-goal (Claude Code ends the session): the robot stops, and
    not by the watchdog (its lease is far too long to have run out), and the lease is released."""
    gw = start_gateway(sim, tmp_path, LONG_LEASE_S)
    try:
        drive_off(sim, gw)
        assert gw.close_stdin() == 0
        wait_for("the robot at rest", lambda: at_rest(sim))
    finally:
        gw.close()
    assert sim.call(lambda: sim.sim.watchdog.halts) == []  # the session's end stopped it
    assert sim.call(lambda: sim.sim.watchdog.leases) == {}  # and released the lease
    assert sim.call(lambda: [g.status.name for g in sim.sim.nav.goals.values()]) == ["CANCELED"]


def test_sigterm_mid_goal_halts_and_records_why(sim: SimThread, tmp_path: Path) -> None:
    """A supervisor's SIGTERM closes the runtime: the leased motion halts, and the log says so."""
    gw = start_gateway(sim, tmp_path, LONG_LEASE_S)
    try:
        drive_off(sim, gw)
        assert gw.terminate() == 0
        wait_for("the robot at rest", lambda: at_rest(sim))
    finally:
        gw.close()
    assert sim.call(lambda: sim.sim.watchdog.halts) == []
    log = (tmp_path / "gateway.log").read_text()
    assert "motion lease ended: robot halted" in log and "the caller's session ended" in log
