"""R2 — every MCP tool of the gateway fuzzed from its input schema.

The whole gateway (``Runtime.gateway``: robot and world against the rosbridge simulator, the
embedded lake, billing on the embedded management store, the cluster plane with an unreachable
Ray dashboard, and ros-mcp's ``ros_*`` when its venv is built) is called through one in-memory
MCP session, ``--cases`` hypothesis-generated calls per listed tool (schema-valid arguments and
malformed ones: wrong types, NaN/inf, huge strings, extra keys, missing required), once per
identity (an agent with role ``operator`` under the default policy, and one with ``admin``).

Per tool it prints the cases, how many ran, how many were refused and how (an AgentOps decision,
a schema validation error, a domain error, a proxied server's error), and the internal errors,
which must be 0; then the no-motion check of refused robot/ros calls and the quota books.
The harness is tests/fuzzing.py (shared with tests/integration/test_fuzz_tools.py).

Run from the repository root: ``python -m auraison.bench.fuzz_r2 [--cases 500 --roles operator,admin]``.
"""

from __future__ import annotations

import argparse
import fnmatch
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
if str(REPO) not in sys.path:  # the harness lives with the tests
    sys.path.insert(0, str(REPO))


def fuzz_role(role: str, cases: int, sim, ros_cache: Path | None, timeout_s: float, only: str) -> bool:
    from tests.fuzzing import GatewayFuzz, fuzz_tool, needs_more_than_operator, summary_rows

    home = Path(tempfile.mkdtemp(prefix=f"fuzz-r2-{role}-"))
    fz = GatewayFuzz(
        home, sim, role=role, tenant=f"fuzz-{role}", ros_cache=ros_cache, call_timeout_s=timeout_s
    )
    print(f"\n== identity: agent, role {role}, default policy; {len(fz.schemas)} tools listed", flush=True)
    walls: dict[str, float] = {}
    t_all = time.perf_counter()

    tools = sorted(t for t in fz.schemas if fnmatch.fnmatchcase(t, only))
    if role != "operator":
        # The same plane code runs for every role; what another role changes is what the policy
        # lets through. So it fuzzes the tools the operator cannot run without a person.
        tools = [t for t in tools if needs_more_than_operator(fz, t)]
    for tool in tools:
        t0 = time.perf_counter()
        fuzz_tool(fz, tool, cases, explicit=False)
        walls[tool] = time.perf_counter() - t0
        row = next(r for r in summary_rows(fz.report) if r[0] == tool) if tool in fz.report.outcomes else None
        if row is not None:
            print(
                f"  {row[0]:<32} cases={row[1]:<5} allowed={row[2]:<5} internal={row[4]}  {row[3]}"
                f"  [{walls[tool]:.1f}s]",
                flush=True,
            )
    fz.close()
    books = fz.books_check()
    rows = summary_rows(fz.report)
    total = sum(r[1] for r in rows)
    internal = sum(r[4] for r in rows)
    print(
        f"-- {role}: {len(rows)} tools, {total} cases in {time.perf_counter() - t_all:.0f}s; "
        f"min cases/tool {min(r[1] for r in rows)}; internal errors {internal}"
    )
    print(f"   skipped as unsafe: {dict(fz.report.skipped_unsafe)}")
    print(
        f"   refused robot/ros calls checked for motion: {fz.report.motion_checked} "
        f"(robot already moving, not attributable: {fz.report.motion_unchecked}); "
        f"moved: {len(fz.report.motion_violations)}"
    )
    print(
        f"   books: {fz.books.calls} calls ran, expected charge {fz.books.expected}; "
        f"{'balanced' if not books else 'UNBALANCED: ' + '; '.join(books)}"
    )
    for p in fz.report.problems[:40]:
        print(f"   INTERNAL {p.tool} [{p.mode}]: {p.problem} | {p.text[:300]!r}")
    for u in fz.report.upstream:
        print(f"   ros-mcp's own failure {u.tool} [{u.mode}]: {u.text[:200]!r}")
    for v in fz.report.motion_violations[:10]:
        print(f"   MOTION {v}")
    return not (internal or books or fz.report.motion_violations)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--cases", type=int, default=500, help="hypothesis examples per tool and identity")
    ap.add_argument(
        "--roles", default="operator,admin", help="roles other than operator fuzz only what it cannot run"
    )
    ap.add_argument("--timeout-s", type=float, default=60.0, help="per call; slower counts as a timeout")
    ap.add_argument("--tools", default="*", help="only the tools matching this glob")
    ap.add_argument("--no-ros", action="store_true", help="leave ros-mcp's ros_* out even if it is built")
    args = ap.parse_args(argv)

    from auraison.logging import configure_logging
    from auraison.rosmcp import executable
    from tests.fuzzing import clean_env
    from tests.simthread import SimThread

    from ._common import machine

    configure_logging("console", "error")  # the refusals are the point: don't log each one
    cache = (REPO / ".cache").resolve()
    ros_cache = None if args.no_ros or executable(cache) is None else cache
    print(
        f"R2 fuzz: {args.cases} cases per tool and identity; ros-mcp {'on' if ros_cache else 'off'}; "
        f"{machine()}"
    )
    ok = True
    with clean_env(), SimThread("maze_small", speed=20.0) as sim:
        roles = [r.strip() for r in args.roles.split(",")]
        for role in roles:
            ok &= fuzz_role(role, args.cases, sim, ros_cache, args.timeout_s, args.tools)
    print("R2:", "PASS" if ok else "FAIL")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
