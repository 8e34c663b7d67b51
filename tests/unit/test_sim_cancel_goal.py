"""The simulator's Nav2 ``cancel_goal`` service (ROS 2's CancelGoal rules) and its switch for
running without its own motion watchdog — what the external watchdog node relies on."""

from __future__ import annotations

from auraison.geometry.worldfile import load_world
from auraison.sim.engine import SimConfig, Simulation
from auraison.sim.navigator import GoalStatus

SMALL = load_world("maze_small")
ZERO = bytes(16)


def fresh(**cfg: object) -> Simulation:
    return Simulation(SMALL, SimConfig(seed=1, epoch=0, **cfg))


def test_a_zero_id_and_stamp_cancel_every_goal_and_nothing_to_cancel_is_rejected() -> None:
    sim = fresh()
    goal = sim.navigate("g1", 5.75, 5.75, 0.0)
    sim.step(0.5)
    assert sim.cancel_request(ZERO, 0.0) == (0, [goal])
    assert goal.status is GoalStatus.CANCELED and sim.nav.active is None
    assert sim.cancel_request(ZERO, 0.0) == (1, [])  # ERROR_REJECTED: nothing running


def test_a_goal_id_cancels_that_goal_an_unknown_or_finished_one_says_so() -> None:
    sim = fresh()
    goal = sim.navigate("g1", 5.75, 5.75, 0.0)
    assert sim.cancel_request(b"\x01" * 16, 0.0) == (2, [])  # ERROR_UNKNOWN_GOAL_ID
    assert sim.cancel_request(goal.uuid, 0.0) == (0, [goal])
    assert sim.cancel_request(goal.uuid, 0.0) == (3, [])  # ERROR_GOAL_TERMINATED


def test_a_stamp_cancels_goals_accepted_at_or_before_it() -> None:
    sim = fresh()
    sim.step(1.0)
    goal = sim.navigate("g1", 5.75, 5.75, 0.0)  # accepted at t = 1 s (epoch 0)
    assert sim.cancel_request(ZERO, 0.5) == (1, [])
    assert sim.cancel_request(ZERO, 1.5) == (0, [goal])


def test_without_its_watchdog_the_sim_ignores_leases_and_estops() -> None:
    """``--no-watchdog``: a silent lease and an e-stop leave the goal running; only an external
    watchdog (``auraison robot watchdog``) can halt it."""
    sim = fresh(watchdog=False)
    goal = sim.navigate("g1", 5.75, 5.75, 0.0)
    sim.lease_message("gateway", "held", 0.5)
    sim.estop("console")
    sim.step(2.0)
    assert goal.status is GoalStatus.EXECUTING and sim.watchdog.leases == {} and sim.watchdog.halts == []
    on = fresh()
    goal = on.navigate("g1", 5.75, 5.75, 0.0)
    on.lease_message("gateway", "held", 0.5)
    on.step(2.0)
    assert goal.status is GoalStatus.CANCELED and [h.holder for h in on.watchdog.halts] == ["gateway"]
