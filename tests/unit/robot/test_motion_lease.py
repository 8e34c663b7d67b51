"""The dead-man lease on motion: the holder's half (in-memory fakes of its two ports) and the
robot's half (the simulator's watchdog, stepped in sim time)."""

from __future__ import annotations

import asyncio
import json

import pytest
from structlog.testing import capture_logs

from auraison.geometry.worldfile import load_world
from auraison.mcp_servers.robot.lease import TOPIC, MotionLease
from auraison.sim.engine import SimConfig, Simulation


class FakeRobot:
    """Records what the lease publishes and every halt it asks for."""

    def __init__(self) -> None:
        self.sent: list[dict] = []
        self.halts: list[str] = []
        self.six_beats = asyncio.Event()

    async def publish(self, topic: str, type_: str, msg: dict[str, str]) -> None:
        assert topic == TOPIC and type_ == "std_msgs/msg/String"
        self.sent.append(json.loads(msg["data"]))
        if sum(m["state"] == "held" for m in self.sent) >= 6:
            self.six_beats.set()

    async def halt(self, reason: str) -> None:
        self.halts.append(reason)


async def test_the_first_heartbeat_goes_out_before_the_motion_and_a_release_after() -> None:
    """No motion starts unleased, and a motion that ends releases the robot's watchdog."""
    robot = FakeRobot()
    lease = MotionLease(robot.publish, robot.halt, ttl_s=0.2, holder="h")
    async with lease.hold("drive"):
        assert [m["state"] for m in robot.sent] == ["held"] and lease.status.state == "held"
    assert robot.sent[-1]["state"] == "released" and robot.halts == []
    assert lease.status.state == "released" and lease.status.ended_reason == "motion ended"


async def test_renewal_keeps_a_motion_longer_than_the_ttl_going() -> None:
    """Heartbeats come every quarter TTL while the session renews; nothing is halted."""
    robot = FakeRobot()
    lease = MotionLease(robot.publish, robot.halt, ttl_s=0.08)
    async with lease.hold("navigate"):
        await robot.six_beats.wait()  # 1.5 TTLs of heartbeats
    assert robot.halts == [] and lease.status.halts == 0
    seqs = [m["seq"] for m in robot.sent]
    assert seqs == sorted(seqs) and len(set(seqs)) == len(seqs)


async def test_a_session_that_stops_renewing_halts_the_motion_and_says_why() -> None:
    """The holder's own check: the motion is cancelled, the robot halted, the reason recorded."""
    robot = FakeRobot()
    alive = [True]
    lease = MotionLease(robot.publish, robot.halt, ttl_s=0.08, renewer=lambda: alive[0])

    async def motion() -> None:
        async with lease.hold("navigate"):
            alive[0] = False
            await asyncio.Event().wait()  # a goal that would run for ever

    with capture_logs() as logs, pytest.raises(asyncio.CancelledError):
        await motion()
    assert robot.halts == ["the caller's session stopped renewing the lease"]
    assert lease.status.state == "expired" and lease.status.halts == 1
    assert lease.status.ended_reason.startswith("the caller's session stopped")
    assert any(e["event"] == "motion lease ended: robot halted" for e in logs)
    assert robot.sent[-1]["state"] == "released"


async def test_closing_the_session_mid_motion_halts_and_a_closed_idle_session_does_not() -> None:
    """Session end is a halt only when a motion is still under the lease."""
    robot = FakeRobot()
    lease = MotionLease(robot.publish, robot.halt, ttl_s=1.0)
    await lease.close()
    assert robot.halts == [] and lease.status.state == "idle"
    async with lease.hold("drive"):
        await lease.close("stdin closed")
        assert robot.halts == ["stdin closed"] and lease.status.state == "released"
    assert robot.halts == ["stdin closed"]  # the hold that outlived its lease ends nothing more


def _moving_sim(ttl: float) -> Simulation:
    sim = Simulation(load_world("maze_small"), SimConfig(seed=1, epoch=0.0))
    sim.lease_message("gw:1", "held", ttl)
    sim.navigate("g1", *sim.world.places["kitchen"])
    return sim


def test_the_robot_halts_one_ttl_after_the_last_heartbeat() -> None:
    """Sim time from the last renewal to the halt is the TTL, to one physics tick."""
    sim = _moving_sim(ttl=0.5)
    sim.step(0.3)
    assert sim.nav.active is not None and sim.robot.v > 0.05
    sim.lease_message("gw:1", "held", 0.5)  # last heartbeat: the holder dies now
    last = sim.t
    while not sim.watchdog.halts:
        sim.step(0.01)
    halt = sim.watchdog.halts[0]
    assert halt.holder == "gw:1" and halt.goal_canceled and halt.was_moving
    assert halt.renewed_at == pytest.approx(last)
    assert 0.5 < halt.halted_at - last <= 0.5 + 1 / sim.cfg.physics_hz + 1e-9
    assert sim.nav.goals["g1"].status.name == "CANCELED"
    sim.step(1.0)  # the burger decelerates to a stand-still and stays there
    assert sim.robot.v == 0.0 and sim.robot.w == 0.0


def test_heartbeats_keep_a_goal_going_and_a_release_disarms_the_watchdog() -> None:
    """A renewed lease never halts; a released one is not watched any more."""
    sim = _moving_sim(ttl=0.5)
    for _ in range(20):  # 4 s of sim time, renewed every 0.2 s
        sim.step(0.2)
        sim.lease_message("gw:1", "held", 0.5)
    assert sim.watchdog.halts == [] and sim.robot.distance > 0.5
    sim.lease_message("gw:1", "released", 0.0)
    sim.step(2.0)
    assert sim.watchdog.halts == [] and sim.watchdog.leases == {}


def test_each_holder_is_watched_on_its_own() -> None:
    """One gateway releasing does not disarm another's lease."""
    sim = _moving_sim(ttl=0.5)
    sim.lease_message("gw:2", "held", 0.5)
    sim.lease_message("gw:2", "released", 0.0)
    sim.step(1.0)
    assert [h.holder for h in sim.watchdog.halts] == ["gw:1"]
