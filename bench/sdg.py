"""SDG — synthetic-data throughput: episodes per second on 1 and 2 Ray workers.

Run: ``python -m auraison.bench.sdg [--episodes 24 --runs 3 --cells 3]``. A local Ray (2 CPUs) is
started in process; both workers are warmed (started, modules imported) by one episode each,
then each run generates the same episodes with 1 worker and with 2 (``auraison.sdg.generate``,
the job's own fan-out: frames written as PNG, labels returned), interleaved so that machine
load falls on both alike. The figure is the 2-worker/1-worker ratio per run, with its spread;
the baseline is the 1-worker rate measured in the same run.
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import tempfile
import uuid
from pathlib import Path

from auraison.sdg import generate, plan
from auraison.settings import Settings

from ._common import machine, report


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--episodes", type=int, default=24)
    p.add_argument("--runs", type=int, default=3)
    p.add_argument("--cells", type=int, default=3)
    args = p.parse_args()
    import ray

    # A new local Ray would otherwise write ~/.ray/auth_token, after which every `ray start`
    # on this machine turns token auth on (and Auraison's readiness probe no longer gets in).
    os.environ.setdefault("RAY_AUTH_MODE", "disabled")
    home = Path(tempfile.mkdtemp(prefix="bench-sdg-"))
    settings = Settings(home=home)
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
    try:
        generate(settings, "warm", plan("warm", 2, 2, 0, args.cells), 2, "warm")
        specs = plan("bench", args.episodes, 4, 0, args.cells)
        one, two = [], []
        for _ in range(args.runs):
            for workers, out in ((1, one), (2, two)):
                episodes, frames, seconds = generate(settings, "bench", specs, workers, uuid.uuid4().hex[:8])
                out.append(len(episodes) / seconds)
        frames_per_episode = len(frames) / len(episodes)
    finally:
        ray.shutdown()
        shutil.rmtree(home, ignore_errors=True)
    ratios = [b / a for a, b in zip(one, two, strict=True)]
    print(f"# {machine()}; {args.episodes} episodes of {args.cells}×{args.cells} mazes, "
          f"{frames_per_episode:.0f} frames each; {args.runs} runs")  # fmt: skip
    report("SDG 1 worker", f"{statistics.median(one):.2f} episodes/s (runs {_spread(one)})")
    report(
        "SDG 2 workers",
        f"{statistics.median(two):.2f} episodes/s (runs {_spread(two)})",
        ratio=f"{statistics.median(ratios):.2f}× 1 worker, runs {_spread(ratios)}",
    )


def _spread(values: list[float]) -> str:
    return f"{min(values):.2f}–{max(values):.2f}"


if __name__ == "__main__":
    main()
