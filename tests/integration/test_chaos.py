"""R1 in CI: two rows of the chaos suite (``bench/chaos.py``), each fault injected mid-goal into
the real workload — a stdio gateway process driving the simulator, quotas on PostgreSQL, spans
into the lake on a PostgreSQL catalog, limits and approvals in Redis, every dependency behind
a TCP proxy — and the seed's columns checked: the robot halts when its link is cut; a database
outage refuses new deployments with the reason while the running agent and its robot go on;
no span or usage event is lost or doubled; everything recovers without a person. (The Ray job
stream and the other rows run in the bench only: `python -m auraison.bench.chaos`.)"""

from __future__ import annotations

from pathlib import Path

from auraison.bench.chaos import run, table

LEASE_S = 1.0  # the default: a loaded CI machine must not stall a gateway into a halt


def test_the_seed_table_holds_for_a_cut_robot_link_and_a_database_outage(tmp_path: Path) -> None:
    rows = run(["rosbridge", "postgres"], speed=16.0, lease_s=LEASE_S, work=tmp_path, jobs=False)
    shown = table(rows, LEASE_S)
    assert [r.failures(LEASE_S) for r in rows] == [[], []], shown
    link, database = rows
    assert link.halted_s is not None and link.deployment == "accepted", shown
    assert database.robot_kept_going and database.agents_continued, shown
    assert database.deployment.startswith("refused: ") and "unavailable" in database.deployment, shown
    for r in rows:  # the accounts were really checked: calls were made, none went missing
        assert r.spans_expected > 0 and r.usage_expected > 0, shown
        assert (r.spans_lost, r.spans_doubled, r.usage_lost, r.usage_doubled) == (0, 0, 0, 0), shown
        assert r.recover_s is not None, shown
