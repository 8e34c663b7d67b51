"""H1/H2/H3: what Claude Code waits for on every tool call and every session.

* H1 — the ``PreToolUse`` hook, run as Claude Code runs it (``auraison hook pre-tool-use``, the
  hook JSON on stdin), for an allowed call, an approval-gated one and one resolving a place;
* H2 — ``auraison --help``;
* H3 — the stdio gateway: spawn → ``initialize`` → ``tools/list`` answered.

The baseline, in the same run, is the floor no Python hook can beat: the same interpreter
starting and exiting (``python -c pass``). Figures are p50/p90 over ``--runs`` spawns, taken in
rounds so load spikes on a shared machine spread over every case.

    python -m auraison.bench.hook_h1 [--runs 30]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from ._common import machine, pct, report

CASES = {
    "allowed (robot_get_state)": {"tool_name": "mcp__auraison__robot_get_state", "tool_input": {}},
    "approval-gated (robot_drive)": {
        "tool_name": "mcp__auraison__robot_drive",
        "tool_input": {"linear": 0.1, "angular": 0.0, "duration": 1.0},
    },
    "place resolved (navigate_to kitchen)": {
        "tool_name": "mcp__auraison__robot_navigate_to",
        "tool_input": {"place": "kitchen"},
    },
}


def timed(args: list[str], env: dict[str, str], stdin: str = "") -> float:
    t0 = time.perf_counter()
    subprocess.run(args, input=stdin, capture_output=True, text=True, env=env, check=True)
    return time.perf_counter() - t0


async def gateway_ready(env: dict[str, str]) -> float:
    from fastmcp import Client
    from fastmcp.client.transports import StdioTransport

    t0 = time.perf_counter()
    transport = StdioTransport(sys.executable, ["-m", "auraison", "gateway", "--transport", "stdio"], env=env)
    async with Client(transport, timeout=60) as c:
        await c.list_tools()
        return time.perf_counter() - t0


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--runs", type=int, default=30)
    ap.add_argument("--gateway-runs", type=int, default=5)
    a = ap.parse_args()
    auraison = str(Path(sys.executable).with_name("auraison"))
    with tempfile.TemporaryDirectory() as home:
        # Timed as a user's machine runs them: with bytecode caches (pip compiles them at install,
        # `make install` too). PYTHONDONTWRITEBYTECODE (set in some sandboxes) would make every spawn
        # compile ~800 modules from source and time the compiler instead; one warm-up spawn of each
        # command writes any cache that is missing.
        env = {k: v for k, v in os.environ.items() if not k.startswith("AURAISON_")}
        env.pop("PYTHONDONTWRITEBYTECODE", None)
        env |= {"AURAISON_HOME": home, "AURAISON_LOG_LEVEL": "warning"}
        timed([auraison, "--help"], env)
        for payload in CASES.values():
            timed([auraison, "hook", "pre-tool-use"], env, json.dumps(payload))
        asyncio.run(gateway_ready(env))
        times: dict[str, list[float]] = {"python -c pass": [], "auraison --help": []}
        times |= {name: [] for name in CASES}
        for _ in range(a.runs):
            times["python -c pass"].append(timed([sys.executable, "-c", "pass"], env))
            times["auraison --help"].append(timed([auraison, "--help"], env))
            for name, payload in CASES.items():
                times[name].append(timed([auraison, "hook", "pre-tool-use"], env, json.dumps(payload)))
        ready = [asyncio.run(gateway_ready(env)) for _ in range(a.gateway_runs)]
    print(f"H1/H2/H3 on {machine()}; {a.runs} runs each (p50 / p90)")
    floor = pct(times["python -c pass"], 50)
    for name, values in times.items():
        p50, p90 = pct(values, 50), pct(values, 90)
        target = "≤ 300 ms" if name != "python -c pass" else ""
        ratio = f"{p50 / floor:.1f}× interpreter start" if name != "python -c pass" else ""
        label = name if name in ("python -c pass", "auraison --help") else f"H1 hook, {name}"
        report(label, f"p50 {p50 * 1000:.0f} ms, p90 {p90 * 1000:.0f} ms", target, ratio)
    report(
        "H3 gateway spawn → tools/list",
        f"p50 {pct(ready, 50) * 1000:.0f} ms, max {max(ready) * 1000:.0f} ms",
        "≤ 1 s",
    )


if __name__ == "__main__":
    main()
