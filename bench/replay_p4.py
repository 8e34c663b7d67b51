"""P4 — replay speed: a recorded run of ≥ 200 tool calls, replayed in full mode.

Records the navigator patrolling four places of the small maze (real Nav2 goals through the
gateway, rosbridge and the simulator) with state polls after each arrival, ``--calls`` tool calls
in all; then replays the recording in full mode (model and tools from the file) and compares
the wall times measured in the same run.

Run: ``python -m auraison.bench.replay_p4 [--calls 204 --speed 1]``
(the recording takes about 4 minutes at real time).
"""

from __future__ import annotations

import argparse
import asyncio
import tempfile
import time
from pathlib import Path

from auraison.agents import run
from auraison.agents.recording import Recording
from auraison.geometry.worldfile import load_world
from auraison.logging import configure_logging
from auraison.settings import Settings
from auraison.sim.bridge import RosbridgeServer
from auraison.sim.engine import SimConfig, Simulation

from ._common import machine, report


async def main(calls: int, speed: float) -> None:
    configure_logging("json", "warning")
    home = Path(tempfile.mkdtemp())
    sim = Simulation(load_world("maze_small"), SimConfig(seed=0))
    server = RosbridgeServer(sim, "127.0.0.1", 0, speed)
    await server.start()
    policy = home / "policy.yaml"  # the default policy's robot rate limit would (rightly) shed 50 polls/s
    policy.write_text("version: 1\nrules:\n  - name: bench\n    allow: ['robot_*', 'world_*']\n")
    settings = Settings(
        home=home,
        robot={"rosbridge_url": server.url},
        agentops={"approvals": "memory", "policy_file": str(policy)},
    )
    path = home / "watch.json"
    try:
        watch = max(0, calls // 4 - 1)  # four legs, each followed by `watch` state polls
        prompt = f"Patrol lab kitchen office dock and watch {watch} times at each."
        recorded = await run("navigator", prompt, settings=settings, record=path)
    finally:
        await server.stop()
    rec = Recording.load(path)
    t0 = time.perf_counter()
    replayed = await run(rec.agent, rec.prompt, settings=settings, replay=rec, mode="full")
    replay_s = time.perf_counter() - t0
    assert replayed.output == recorded.output and len(replayed.tool_calls) == len(rec.tool_calls)
    assert len(rec.tool_calls) >= calls, recorded.output
    print(f"P4 replay speed — {machine()}")
    report(
        "recorded navigation run",
        f"{len(rec.tool_calls)} tool calls in {rec.wall_time_s:.2f} s at sim "
        f"speed {speed:g}× ({path.stat().st_size / 1024:.0f} KiB recording)",
    )
    report(
        "full replay",
        f"{replay_s:.3f} s",
        "< 1 s and ≥ 100× faster",
        f"{rec.wall_time_s / replay_s:.0f}× faster than recorded",
    )


if __name__ == "__main__":
    ap = argparse.ArgumentParser()
    ap.add_argument("--calls", type=int, default=204)
    ap.add_argument("--speed", type=float, default=1.0, help="sim seconds per second while recording")
    a = ap.parse_args()
    asyncio.run(main(a.calls, a.speed))
