"""R2 in CI: every tool the whole gateway lists, fuzzed from its input schema (tests/fuzzing.py).

A few deterministic cases per tool (hypothesis ``derandomize``: the same calls every run, so
CI is never flaky; ``python -m auraison.bench.fuzz_r2`` runs 500+ per tool). Every answer is a
result or a typed refusal — an AgentOps decision, a schema validation error, a domain error —
never an internal error; a refused robot/ros call moves nothing; after the runtime closes the
tenant was charged exactly the cost of the calls AgentOps let run, and nothing stays reserved.

Two identities: an agent with role ``operator`` (the default policy's everyday caller) over
every tool, and one with ``admin`` over the tools the operator cannot run without a person
(so the code behind an approval or a deny is fuzzed too). ros-mcp's ``ros_*`` are included
when its venv is built on this machine (``auraison rosmcp install``), left out otherwise.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import pytest

from auraison.rosmcp import executable
from tests.fuzzing import GatewayFuzz, Outcome, clean_env, fuzz_tool, needs_more_than_operator, summary_rows
from tests.simthread import SimThread

CASES = 6
FEWER = {"ros_get_action_status": 2, "lake_add_documents": 3, "robot_drive": 3}
"""Tools whose every call takes a second or more (ros-mcp waits for an action's status; the
lake embeds documents; a drive lasts its duration): fewer cases, so CI stays under a minute."""


@pytest.fixture(scope="module")
def sim() -> Iterator[SimThread]:
    with clean_env(), SimThread("maze_small", speed=20.0) as s:
        yield s


@pytest.fixture(scope="module")
def ros_cache(rosmcp_cache: Path) -> Path | None:
    """The shared ros-mcp venv if this machine has built it: then ``ros_*`` are fuzzed too."""
    return rosmcp_cache if executable(rosmcp_cache) is not None else None


def verdict(fz: GatewayFuzz) -> str:
    rows = "\n".join(
        f"{t:<30} cases={n} allowed={a} internal={i} {k}" for t, n, a, k, i in summary_rows(fz.report)
    )
    problems = "\n".join(f"{p.tool} [{p.mode}] {p.problem}: {p.text[:300]!r}" for p in fz.report.problems)
    return f"{rows}\n{problems}"


@pytest.mark.parametrize("role", ["operator", "admin"])
def test_every_listed_tool_answers_fuzzed_calls_typed(
    role: str, sim: SimThread, ros_cache: Path | None, tmp_path: Path
) -> None:
    with clean_env():
        fz = GatewayFuzz(tmp_path / "home", sim, role=role, tenant=f"fuzz-{role}", ros_cache=ros_cache)
    try:
        tools = sorted(fz.schemas)
        assert any(t.startswith("robot_") for t in tools) and any(t.startswith("lake_") for t in tools)
        assert any(t.startswith("cluster_") for t in tools) and any(t.startswith("billing_") for t in tools)
        assert any(t.startswith("world_") for t in tools) and "approvals_list" in tools
        if ros_cache is not None:
            assert any(t.startswith("ros_") for t in tools)
        if role == "admin":
            tools = [t for t in tools if needs_more_than_operator(fz, t)]
            assert {"robot_drive", "cluster_job_stop", "ros_publish_once"} & set(tools)
        for tool in tools:
            fuzz_tool(fz, tool, FEWER.get(tool, CASES))
    finally:
        fz.close()
    report = fz.report
    assert not report.problems, verdict(fz)
    assert not report.motion_violations, report.motion_violations
    assert report.motion_checked > 0  # refused robot calls were watched
    assert fz.books_check() == []
    assert fz.books.calls > 0 and fz.books.expected > 0
    kinds = {k for c in report.outcomes.values() for k in c}
    assert set(report.outcomes) == set(tools)  # every tool was called
    # The fuzz reached every layer: results, AgentOps decisions, the schemas, the planes' refusals.
    assert {"allowed", "validation", "domain", "decision:deny"} <= kinds, kinds
    if role == "operator":
        assert "decision:needs_approval" in kinds, kinds


def test_regressions_found_by_the_fuzz_answer_typed(sim: SimThread, tmp_path: Path) -> None:
    """Calls the fuzz found crashing or stalling the gateway, answered now with a typed refusal
    or a result: a comparison of an experiment with no runs yet (its plot's folder did not
    exist: FileNotFoundError), world_predict along a 700 km path or at 1e-300 m/s (a
    rollout of billions of points on the event loop: the gateway stalled, memory ran out), and
    a dataset location with a NUL byte (a ValueError from the path handling)."""
    with clean_env():
        fz = GatewayFuzz(tmp_path / "home", sim, role="operator", tenant="fuzz-regress", call_timeout_s=20)
    try:
        created = fz.call("cluster_experiment_create", "valid", {"name": "e"})
        assert created.kind == "allowed", created
        exp_id = re.search(r"exp_[0-9a-f]{12}", created.text).group(0)  # type: ignore[union-attr]
        compared = fz.call("cluster_runs_compare", "valid", {"experiment_id": exp_id, "metric": "loss"})
        assert compared.kind == "allowed", compared
        far = [[-1000.0, -1000.0], [1000.0, 1000.0]] * 250
        long_path = fz.call("world_predict", "valid", {"path": far})
        assert long_path.kind == "domain" and "at most 200 m" in long_path.text, long_path
        crawl = fz.call("world_predict", "valid", {"path": [[0.5, 0.5], [1.5, 0.5]], "speed_mps": 1e-300})
        assert crawl.kind == "validation", crawl
        assert fz.call("world_predict", "valid", {"path": [[0.5, 0.5], [1.5, 0.5]]}).kind == "allowed"
        # a NUL in a dataset location was a ValueError deep in the path handling
        nul = fz.call("lake_register_dataset", "valid", {"spec": {"name": "d", "location": "/tmp/a\x00b"}})
        assert nul.kind == "validation", nul
    finally:
        fz.close()
    assert not fz.report.problems, [(p.tool, p.problem) for p in fz.report.problems]


def test_the_judge_catches_what_fastmcp_masks() -> None:
    """The classifier could fail: a crash FastMCP wrapped, a refusal with no decision payload
    and a traceback are internal errors; a plane's deliberate ToolError is a domain refusal."""
    from fastmcp.exceptions import ToolError

    from tests.fuzzing import judge

    try:
        raise ToolError("Error calling tool 'x': boom") from KeyError("k")
    except ToolError as exc:
        crashed = exc
    assert judge("t", "valid", True, str(crashed), ("raised", crashed)).kind == "internal"
    assert judge("t", "valid", True, "denied", None).kind == "internal"
    assert judge("t", "valid", True, "Traceback (most recent call last):\n ...", None).kind == "internal"
    meant = ToolError("no such run")
    assert judge("t", "valid", True, "no such run", ("raised", meant)) == Outcome(
        "t", "valid", "domain", "no such run"
    )
    text = 'Denied: x\n{"decision": {"kind": "deny", "reason": "r"}}'
    assert judge("t", "valid", True, text, None).kind == "decision:deny"
