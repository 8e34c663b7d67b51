"""Physics and planner properties, checked with hypothesis on the deterministic stepper."""

from __future__ import annotations

import math

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from auraison.geometry.worldfile import load_world
from auraison.sim.engine import SimConfig, Simulation
from auraison.sim.navigator import GoalStatus
from auraison.sim.physics import MAX_ANGULAR, MAX_LINEAR

SMALL = load_world("maze_small")
finite = st.floats(-50, 50, allow_nan=False)
anything = st.floats(allow_nan=True, allow_infinity=True)


def fresh(world=SMALL, **cfg) -> Simulation:
    return Simulation(world, SimConfig(seed=1, epoch=0, **cfg))


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(st.tuples(anything, anything, st.floats(0.05, 1.5)), min_size=1, max_size=12))
def test_robot_never_inside_a_wall_and_never_over_limits(
    commands: list[tuple[float, float, float]],
) -> None:
    """Whatever is published on /cmd_vel, the robot never overlaps a wall or exceeds limits."""
    sim = fresh(cmd_vel_timeout=0.0)
    for v, w, dur in commands:
        sim.command_velocity(v, w)
        for _ in range(int(dur / 0.05)):
            sim.step(0.05)
            r = sim.robot
            assert not sim.body.collides(r.x, r.y)
            assert abs(r.v) <= MAX_LINEAR + 1e-9 and abs(r.w) <= MAX_ANGULAR + 1e-9
            assert math.isfinite(r.x) and math.isfinite(r.y)


def test_driving_into_a_wall_stops_and_reports() -> None:
    sim = fresh(cmd_vel_timeout=0.0)
    seen: list[str] = []
    sim.events.publish = lambda topic, msg: seen.append(topic)
    sim.robot.yaw = -math.pi / 2  # face the bottom wall, 0.5 m away
    sim.command_velocity(0.22, 0.0)
    sim.step(5.0)
    r = sim.robot
    assert r.collisions == 1 and r.v == 0.0
    assert "/collision" in seen and "/rosout" in seen
    assert r.y - 0.25 >= sim.body.radius - 1e-9  # stopped at the wall, not in it


def test_watchdog_stops_a_stale_command() -> None:
    sim = fresh(cmd_vel_timeout=0.5)
    sim.command_velocity(0.1, 0.0)
    sim.step(3.0)
    assert sim.robot.v == 0.0
    assert 0.04 < sim.robot.distance < 0.07  # ~0.5 s of motion incl. acceleration


def test_same_seed_same_trajectory() -> None:
    runs = []
    for _ in range(2):
        sim = fresh(odom_noise=0.01)
        sim.navigate("g", *SMALL.places["lab"])
        for _ in range(200):
            sim.step(0.1)
        runs.append((sim.robot.x, sim.robot.y, sim.sample("/odom")["pose"]["pose"]["position"]["x"]))
    assert runs[0] == runs[1]


free_cells = [(ix, iy) for iy in range(SMALL.height) for ix in range(SMALL.width)]


@settings(max_examples=25, deadline=None)
@given(st.sampled_from(free_cells))
def test_every_goal_is_reached_or_refused_without_motion(cell: tuple[int, int]) -> None:
    """Reachable goals end SUCCEEDED near the goal; the rest end ABORTED with zero motion."""
    sim = fresh()
    x, y = SMALL.cell_center(*cell)
    reachable = sim.planner.reachable(SMALL.start[:2], (x, y))
    goal = sim.navigate("g", x, y, 0.0)
    if not reachable:
        assert goal.status is GoalStatus.ABORTED and goal.error_code != 0
        assert sim.robot.distance == 0.0
        return
    while sim.nav.active is not None and sim.t < 600:
        sim.step(0.2)
    assert goal.status is GoalStatus.SUCCEEDED, goal.error_msg
    assert math.dist((sim.robot.x, sim.robot.y), (x, y)) <= 0.15


@pytest.mark.parametrize(("x", "y", "code"), [(50, 50, 204), (0.1, 0.1, 206), (-1, 2, 204)])
def test_invalid_goals_refused_with_nav2_codes(x: float, y: float, code: int) -> None:
    sim = fresh()
    goal = sim.navigate("g", x, y, 0.0)
    assert (goal.status, goal.error_code) == (GoalStatus.ABORTED, code)
    assert goal.error_msg


def test_new_goal_preempts_and_cancel_stops() -> None:
    sim = fresh()
    first = sim.navigate("a", *SMALL.places["kitchen"])
    sim.step(1.0)
    second = sim.navigate("b", *SMALL.places["lab"])
    assert first.status is GoalStatus.ABORTED and "preempted" in first.error_msg
    sim.step(1.0)
    sim.cancel("b")
    assert second.status is GoalStatus.CANCELED and sim.nav.active is None
    sim.step(1.0)
    assert sim.robot.v == 0.0


def test_feedback_carries_nav2_fields_and_shrinks() -> None:
    sim = fresh()
    fbs: list[dict] = []
    sim.navigate("g", *SMALL.places["lab"], on_feedback=lambda g, v: fbs.append(v))
    for _ in range(100):
        sim.step(0.1)
    assert len(fbs) >= 40  # >= 4 Hz of sim time
    assert fbs[-1]["distance_remaining"] < fbs[0]["distance_remaining"]
    assert set(fbs[0]) == {
        "current_pose",
        "navigation_time",
        "estimated_time_remaining",
        "number_of_recoveries",
        "distance_remaining",
    }


def test_planner_keeps_clear_of_walls() -> None:
    sim = fresh(world=load_world("maze_large"))
    w = sim.world
    plan = sim.planner.plan(w.start[:2], w.places["kitchen"][:2])
    assert plan.ok and plan.length > 20
    assert min(sim.costmap.clearance_at(x, y) for x, y in plan.path) >= sim.costmap.cfg.lethal_radius
