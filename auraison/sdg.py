"""The synthetic-data Ray job: episodes fanned out over Ray workers, frames as PNG and labels as
Parquet in storage, then one versioned lake dataset.

Why here, beside the composition root: the job joins the simulator (``sim/episodes.py``), the
world plane (``world_transfer``) and the lake (``lakehouse/sdg.py``), which must not import each
other. Run by ``auraison sdg run`` as a Ray job (``python -m auraison.sdg …``):
the job's driver connects to the cluster it runs on, splits the episodes into one chunk per
worker, and each worker drives its episodes in process (``sdg.run_episode``) and writes its
frames where every worker can reach them (the lake's storage: a local folder, or S3). The driver
alone writes the lake (``lakehouse.sdg.publish``).
"""

from __future__ import annotations

import argparse
import json
import os
import time
import uuid
from typing import Any

from auraison.lakehouse.sdg import publish, storage
from auraison.settings import Settings, load_settings
from auraison.sim.episodes import EpisodeSpec, run_episode

RESULT_PREFIX = "SDG_RESULT "
"""The driver's last log line: this prefix, then the result as JSON (``auraison sdg run`` reads it)."""


def plan(dataset: str, episodes: int, worlds: int, seed: int, cells: int = 3) -> list[EpisodeSpec]:
    """``episodes`` episodes over ``worlds`` generated mazes (world seeds ``seed`` …), in turn."""
    return [EpisodeSpec(dataset, i, seed + i % worlds, cells=cells) for i in range(episodes)]


def run_chunk(specs: list[EpisodeSpec], settings: Settings, run_id: str, transfer: bool) -> dict[str, Any]:
    """One worker's share: drive, write PNG frames, return the label rows (no pixels). The
    settings travel pickled (their secrets too: a JSON dump would mask the S3 keys)."""
    filesystem, base, uri = storage(settings, specs[0].dataset, run_id)
    episodes, frames = [], []
    for spec in specs:
        ep = run_episode(spec)
        folder = f"{base}/frames/{spec.episode_id}"
        filesystem.create_dir(folder, recursive=True)
        pngs = [f["png"] for f in ep.frames]
        backend = ""
        if transfer:
            pngs, backend = _transfer(settings, pngs)
        for f, data in zip(ep.frames, pngs, strict=True):
            name = f"frames/{spec.episode_id}/{f['step']:05d}.png"
            with filesystem.open_output_stream(f"{base}/{name}") as out:
                out.write(data)
            frames.append({
                "dataset": spec.dataset, "run_id": run_id, "episode_id": spec.episode_id,
                "step": f["step"], "t_s": f["t_s"], "x": f["x"], "y": f["y"], "yaw": f["yaw"],
                "v": f["v"], "w": f["w"], "outcome": ep.outcome, "image": f"{uri}/{name}",
                "transfer": backend,
            })  # fmt: skip
        episodes.append({**ep.row(), "run_id": run_id})
    return {"episodes": episodes, "frames": frames}


def _transfer(settings: Settings, pngs: list[bytes]) -> tuple[list[bytes], str]:
    """The frames through the world plane's ``transfer`` (the stand-in passes them through)."""
    import asyncio
    import base64

    from auraison.mcp_servers.world.backend import WorldModel
    from auraison.mcp_servers.world.models import Frame

    model = WorldModel(settings.world)
    frames = [Frame(format="png", data=base64.b64encode(p).decode()) for p in pngs]
    out = asyncio.run(model.transfer(frames))
    backend = "local (stand-in)" if model.backend == "local" else model.backend
    return [base64.b64decode(f.data) for f in out], backend


def generate(
    settings: Settings,
    dataset: str,
    specs: list[EpisodeSpec],
    workers: int,
    run_id: str,
    transfer: bool = False,
) -> tuple[list[dict[str, Any]], list[dict[str, Any]], float]:
    """Episodes on ``workers`` Ray workers (one CPU each); returns rows and the seconds it took
    from the first task submitted to the last result (Ray already initialised)."""
    import ray

    task = ray.remote(num_cpus=1)(run_chunk)
    chunks = [specs[i::workers] for i in range(workers) if specs[i::workers]]
    ref = ray.put(settings)
    t0 = time.perf_counter()
    results = ray.get([task.remote(c, ref, run_id, transfer) for c in chunks])
    elapsed = time.perf_counter() - t0
    episodes = sorted((e for r in results for e in r["episodes"]), key=lambda e: e["episode_id"])
    frames = sorted((f for r in results for f in r["frames"]), key=lambda f: (f["episode_id"], f["step"]))
    return episodes, frames, elapsed


def main(argv: list[str] | None = None) -> dict[str, Any]:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--dataset", required=True)
    p.add_argument("--episodes", type=int, required=True)
    p.add_argument("--worlds", type=int, default=4)
    p.add_argument("--workers", type=int, default=2)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--cells", type=int, default=3)
    p.add_argument("--tenant", default=None)
    p.add_argument("--run-id", default=None)
    p.add_argument("--transfer", action="store_true")
    p.add_argument("--address", default=None, help="a Ray address (default: the job's cluster)")
    args = p.parse_args(argv)
    import ray

    settings = load_settings()
    tenant = args.tenant or settings.agentops.tenant
    run_id = args.run_id or f"sdg_{uuid.uuid4().hex[:12]}"
    specs = plan(args.dataset, args.episodes, args.worlds, args.seed, args.cells)
    if args.address is None and "RAY_ADDRESS" not in os.environ:  # no cluster: a local Ray, which
        os.environ.setdefault("RAY_AUTH_MODE", "disabled")  # must not write ~/.ray/auth_token (see bench/sdg)
    ray.init(address=args.address, log_to_driver=False)
    try:
        episodes, frames, elapsed = generate(
            settings, args.dataset, specs, args.workers, run_id, args.transfer
        )
    finally:
        ray.shutdown()
    lineage = {"episodes": args.episodes, "worlds": args.worlds, "seed": args.seed, "cells": args.cells,
               "workers": args.workers, "transfer": args.transfer}  # fmt: skip
    out = publish(settings, tenant, args.dataset, run_id, episodes, frames, lineage)
    out |= {"dataset": args.dataset, "run_id": run_id, "episodes": len(episodes), "frames": len(frames),
            "outcomes": _count(e["outcome"] for e in episodes), "seconds": round(elapsed, 3),
            "episodes_per_s": round(len(episodes) / elapsed, 2)}  # fmt: skip
    print(RESULT_PREFIX + json.dumps(out), flush=True)
    return out


def _count(values: Any) -> dict[str, int]:
    out: dict[str, int] = {}
    for v in values:
        out[v] = out.get(v, 0) + 1
    return out


if __name__ == "__main__":
    main()
