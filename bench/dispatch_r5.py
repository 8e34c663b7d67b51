"""R5 — at-least-once dispatch, exactly-once completion: consumers are killed (SIGKILL) in the
middle of jobs, over and over; every job must be reclaimed and complete exactly once.

Each job's effect is recorded idempotently by job id (``SADD done <job id>`` — the same rule
Ray applies to a ``submission_id``), and every execution attempt is counted, so the run shows
how many deliveries the kills cost and that none of them doubled a completion or lost a job.

Run: ``python -m auraison.bench.dispatch_r5 [--jobs 300 --kills 10 --backend redis|nats]``.
"""

from __future__ import annotations

import argparse
import asyncio
import multiprocessing as mp
import os
import random
import signal
import time
import uuid

import redis

from ._common import machine, report
from .dispatch_p3 import _cleanup, _prepare, make_queue


def worker(backend: str, name: str, marks: str) -> None:
    r = redis.Redis()

    async def run() -> None:
        q = make_queue(backend, name, prefetch=1)
        while True:
            d = await q.lease(f"w{os.getpid()}", timeout_s=1.0)
            if d is None:
                continue
            r.hincrby(f"{marks}:attempts", d.item.job_id, 1)
            await asyncio.sleep(0.02)  # the job's work: a kill lands here most of the time
            new = r.sadd(f"{marks}:done", d.item.job_id)  # the effect, idempotent by job id
            r.hincrby(f"{marks}:effects", "applied" if new else "deduped", 1)
            await q.ack(d)

    asyncio.run(run())


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--jobs", type=int, default=300)
    ap.add_argument("--kills", type=int, default=10)
    ap.add_argument("--backend", choices=["redis", "nats"], default="redis")
    args = ap.parse_args()
    from auraison.mcp_servers.cluster.queue import QueueItem

    # Reclaim after 1 s (the bench queues' default is 60 s) so the run is short; set before the
    # queue (and NATS's durable consumer, whose ack_wait it fixes) is created.
    os.environ["AURAISON_BENCH_VISIBILITY"] = "1"
    name = f"r5{uuid.uuid4().hex[:6]}"
    marks = f"bench:r5:{name}"
    r = redis.Redis()
    asyncio.run(_prepare(args.backend, name))

    async def produce() -> None:
        q = make_queue(args.backend, name)
        await q.enqueue_many([QueueItem(job_id=f"job-{i}") for i in range(args.jobs)])
        await q.close()

    asyncio.run(produce())
    print(f"R5 at-least-once dispatch — {machine()}; {args.jobs} jobs, {args.kills} SIGKILLs, {args.backend}")
    procs = [mp.Process(target=worker, args=(args.backend, name, marks)) for _ in range(2)]
    for p in procs:
        p.start()
    t0 = time.perf_counter()
    kills = 0
    rng = random.Random(5)
    while r.scard(f"{marks}:done") < args.jobs and time.perf_counter() - t0 < 600:
        time.sleep(0.3)  # the pace of the chaos, not a synchronisation
        if kills < args.kills:
            i = rng.randrange(len(procs))
            os.kill(procs[i].pid, signal.SIGKILL)
            procs[i].join()
            procs[i] = mp.Process(target=worker, args=(args.backend, name, marks))
            procs[i].start()
            kills += 1
    took = time.perf_counter() - t0
    for p in procs:
        p.kill()
        p.join()
    done = r.scard(f"{marks}:done")
    attempts = {k.decode(): int(v) for k, v in r.hgetall(f"{marks}:attempts").items()}
    redelivered = sum(1 for v in attempts.values() if v > 1)
    effects = {k.decode(): int(v) for k, v in r.hgetall(f"{marks}:effects").items()}
    report("jobs completed exactly once", f"{done}/{args.jobs} in {took:.1f} s", "all, exactly once")
    report("kills / redelivered jobs", f"{kills} SIGKILLs, {redelivered} jobs ran again after a kill")
    report(
        "effects applied / deduplicated",
        f"{effects.get('applied', 0)} applied, {effects.get('deduped', 0)} repeats absorbed by the job id, "
        f"{args.jobs - done} lost",
    )
    r.delete(f"{marks}:done", f"{marks}:attempts", f"{marks}:effects")
    asyncio.run(_cleanup(args.backend, name))
    if done != args.jobs or effects.get("applied", 0) != args.jobs:
        raise SystemExit("a job was lost or applied twice")


if __name__ == "__main__":
    main()
