"""`auraison robot record` and `auraison twin` as a user runs them, against the real simulator."""

from __future__ import annotations

import json
from pathlib import Path

from mcap.reader import make_reader

from tests.integration.test_cli_planes import one_line_exit_2
from tests.simthread import SimThread
from tests.unit.test_cli import run


def test_record_a_robot_then_ask_the_twin(tmp_path: Path) -> None:
    home, bag = tmp_path / "home", tmp_path / "session.mcap"
    with SimThread("maze_small", speed=5.0) as sim:
        sim.call(lambda: sim.sim.command_velocity(0.2, 0.0))  # moving, so odometry changes
        res = run(home, "robot", "record", "--out", str(bag), "--duration", "1.5", "--json",
                  env={"AURAISON_ROBOT__ROSBRIDGE_URL": sim.url})  # fmt: skip
    assert res.returncode == 0, res.stderr
    out = json.loads(res.stdout)
    counts = out["recording"]["messages"]
    assert counts["/odom"] > 5 and counts["/scan"] > 0 and counts["/map"] == 1 and counts["/tf"] > 0
    assert out["recording"]["outcome"] == "recorded" and out["recording"]["places_visited"] == ["dock"]
    with bag.open("rb") as f:
        summary = make_reader(f).get_summary()
    assert summary is not None and sum(summary.statistics.channel_message_counts.values()) == sum(
        counts.values()
    )
    run_id = out["lake"]["run_id"]
    cmp = json.loads(run(home, "twin", "compare", "--run", run_id, "--json").stdout)
    assert cmp["run_id"] == run_id and cmp["world"] == "maze_small"
    assert cmp["observed_points"] > 5 and cmp["predictions"] == []  # a plain recording predicts nothing
    assert "no twin run" in one_line_exit_2(run(home, "twin", "compare", "--run", "nope"))

    # The registration went through the one engine, as the lake plane's tool, at point "cli"...
    sql = (
        "SELECT decision, json_extract_string(attributes, '$.\"auraison.enforcement_point\"') "
        "FROM spans WHERE tool = 'lake_register_recording'"
    )
    spans = json.loads(run(home, "lake", "query", sql, "--json").stdout)["rows"]
    assert spans == [["allow", "cli"]]
    # ...so a policy that does not allow it refuses `twin ingest` before anything is written.
    policy = tmp_path / "policy.yaml"
    policy.write_text('version: 1\nrules:\n  - name: reads\n    allow: ["lake_query"]\n')
    refused = run(home, "twin", "ingest", str(bag), env={"AURAISON_AGENTOPS__POLICY_FILE": str(policy)})
    assert refused.returncode != 0 and "Traceback" not in refused.stderr
    assert refused.stderr.strip().splitlines()[-1].startswith("error: Denied: lake_register_recording")
    again = run(home, "twin", "ingest", str(bag), "--json")  # the default policy: allowed, nothing twice
    assert again.returncode == 0, again.stderr
    assert json.loads(again.stdout)["twin"] == {"maps": 0, "observed": 0, "predicted": 0, "runs": 0}
    assert json.loads(run(home, "twin", "runs", "--json").stdout) != []


def test_an_agents_shell_stays_in_its_tenant(tmp_path: Path) -> None:
    """`--tenant` names another tenant only for a person with the admin role; a shell without a
    terminal (an agent's) gets a one-line refusal, as over MCP where no argument names a tenant."""
    res = run(tmp_path / "home", "lake", "query", "SELECT count(*) FROM spans", "--tenant", "acme")
    assert res.returncode == 1 and "may not act in tenant 'acme'" in res.stderr
    assert "Traceback" not in res.stderr
