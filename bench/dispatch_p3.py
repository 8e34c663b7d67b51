"""P3 — job dispatch throughput: enqueue → lease → ack, 1 producer and 2 consumers (separate
processes), over Redis Streams and over NATS JetStream; and Ray job submit → RUNNING latency.

Baselines, same run: ``redis-benchmark`` XADD (the server's own ceiling for the append alone),
and for NATS a bare JetStream publish of the same number of messages through nats-py.

Run: ``python -m auraison.bench.dispatch_p3 [--jobs 20000] [--ray-jobs 5]``.
"""

from __future__ import annotations

import argparse
import asyncio
import multiprocessing as mp
import os
import re
import statistics
import subprocess
import time
import uuid

from ._common import machine, report

PREFETCH = {"n": 32}
ACK_BATCH = {"n": 16}


def make_queue(backend: str, name: str, prefetch: int | None = None):
    from auraison.mcp_servers.cluster.queue import NatsQueue, QueueConfig, RedisStreamQueue

    visibility = float(os.environ.get("AURAISON_BENCH_VISIBILITY", "60"))
    cfg = QueueConfig(
        name=name, max_length=10_000_000, visibility_s=visibility, prefetch=prefetch or PREFETCH["n"]
    )
    if backend == "redis":
        return RedisStreamQueue("redis://127.0.0.1:6379/0", "bench:", cfg)
    return NatsQueue("nats://127.0.0.1:4222", "bench_", cfg)


def consumer(backend: str, name: str, prefetch: int, ack_batch: int, out: mp.Queue) -> None:
    ACK_BATCH["n"] = ack_batch

    async def run() -> tuple[int, float]:
        q = make_queue(backend, name, prefetch)
        n, last = 0, 0.0
        done = []
        while (d := await q.lease(f"c{mp.current_process().pid}", timeout_s=2.0)) is not None:
            done.append(d)  # the job's work would run here
            n += 1
            if len(done) >= ACK_BATCH["n"]:
                await q.ack_many(done)
                done = []
                last = time.perf_counter()
        if done:
            await q.ack_many(done)
            last = time.perf_counter()
        await q.close()
        return n, last

    out.put(("consumer", *asyncio.run(run())))


def producer(backend: str, name: str, jobs: int, out: mp.Queue) -> None:
    from auraison.mcp_servers.cluster.queue import QueueItem

    async def run() -> float:
        q = make_queue(backend, name)
        await q.depth()  # connected: the clock starts with the first job, not with imports
        started = time.perf_counter()
        for start in range(0, jobs, 100):  # batch submission: one round trip per 100 jobs
            await q.enqueue_many(
                [
                    QueueItem(job_id=f"{name}-{i}", payload={"i": i})
                    for i in range(start, min(start + 100, jobs))
                ]
            )
        await q.close()
        return started

    out.put(("producer", 0, asyncio.run(run())))


def dispatch(backend: str, jobs: int) -> tuple[float, int]:
    name = f"p3{uuid.uuid4().hex[:6]}"
    asyncio.run(_prepare(backend, name))
    out: mp.Queue = mp.Queue()
    procs = [mp.Process(target=producer, args=(backend, name, jobs, out))]
    procs += [
        mp.Process(target=consumer, args=(backend, name, PREFETCH["n"], ACK_BATCH["n"], out))
        for _ in range(2)
    ]
    for p in procs:
        p.start()
    results = [out.get(timeout=900) for _ in procs]
    for p in procs:
        p.join()
    consumed = sum(n for kind, n, _ in results if kind == "consumer")
    # CLOCK_MONOTONIC is system-wide: from the producer's first job to the last ack anywhere
    # (process start-up and imports are outside the window; consumers start alongside).
    started = next(t for kind, _, t in results if kind == "producer")
    elapsed = max(t for kind, _, t in results if kind == "consumer") - started
    asyncio.run(_cleanup(backend, name))
    return elapsed, consumed


async def _prepare(backend: str, name: str) -> None:
    q = make_queue(backend, name)
    if backend == "redis":
        await q._group()
    else:
        await q._connect()
    await q.close()


async def _cleanup(backend: str, name: str) -> None:
    q = make_queue(backend, name)
    if backend == "redis":
        await q.redis.delete(q.stream, q.dead_stream)
        async for key in q.redis.scan_iter(match=q.ids + "*"):
            await q.redis.delete(key)
    else:
        await q.destroy()
    await q.close()


def redis_benchmark(n: int, pipeline: int = 1) -> float:
    out = subprocess.run(
        [
            "redis-benchmark",
            "-q",
            "-n",
            str(n),
            "-c",
            "2",
            "-P",
            str(pipeline),
            "XADD",
            "bench:p3:raw",
            "*",
            "f",
            "v",
        ],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    subprocess.run(["redis-cli", "DEL", "bench:p3:raw"], capture_output=True)
    return float(re.findall(r"([\d.]+) requests per second", out)[-1])


async def nats_raw(n: int) -> float:
    import nats
    from nats.js.api import StreamConfig

    nc = await nats.connect("nats://127.0.0.1:4222")
    js = nc.jetstream()
    name = f"P3RAW{uuid.uuid4().hex[:6].upper()}"
    await js.add_stream(StreamConfig(name=name, subjects=[f"p3raw.{name}"]))
    t0 = time.perf_counter()
    for i in range(n):
        await js.publish(f"p3raw.{name}", b'{"i": %d}' % i)
    took = time.perf_counter() - t0
    await js.delete_stream(name)
    await nc.close()
    return n / took


def ray_latency(jobs: int) -> list[float]:
    import tempfile
    from pathlib import Path

    from auraison.mcp_servers.cluster.events import EventLog
    from auraison.mcp_servers.cluster.jobs import JobService
    from auraison.mcp_servers.cluster.models import JobRequest
    from auraison.mcp_servers.cluster.state import ControlState
    from auraison.services.local import LocalServices, _free_port
    from auraison.settings import Settings

    home = Path(tempfile.mkdtemp(prefix="p3"))
    port = _free_port()
    settings = Settings(home=home, ray={"head_port": _free_port(), "dashboard_port": port,
                                        "dashboard_url": f"http://127.0.0.1:{port}"})  # fmt: skip
    svc = LocalServices(settings)
    svc.up(("ray",))
    try:
        service = JobService(settings, ControlState.from_settings(settings), EventLog(settings))
        service.submit("bench", JobRequest(entrypoint="true", submission_id="warmup"))  # job agent up
        out = []
        for i in range(jobs):
            t0 = time.perf_counter()
            service.submit(
                "bench",
                JobRequest(entrypoint="python -c 'import time; time.sleep(2)'", submission_id=f"lat-{i}"),
            )
            while service.status("bench", f"lat-{i}").status not in ("RUNNING", "SUCCEEDED", "FAILED"):
                time.sleep(0.02)  # polling the Jobs API: the latency includes one poll interval at most
            out.append(time.perf_counter() - t0)
        return out
    finally:
        svc.down(("ray",))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--jobs", type=int, default=20_000)
    ap.add_argument("--ray-jobs", type=int, default=5)
    ap.add_argument("--prefetch", type=int, default=32, help="deliveries each consumer reads ahead")
    ap.add_argument("--ack-batch", type=int, default=16, help="acks sent together (1: ack each job)")
    args = ap.parse_args()
    PREFETCH["n"] = args.prefetch
    ACK_BATCH["n"] = args.ack_batch
    print(
        f"P3 job dispatch — {machine()}; {args.jobs:,} jobs, 1 producer + 2 consumers (processes), "
        f"prefetch {args.prefetch}, ack batch {args.ack_batch}"
    )
    raw = redis_benchmark(args.jobs)
    report("redis-benchmark XADD (baseline)", f"{raw:,.0f} XADD/s")
    piped = redis_benchmark(args.jobs, pipeline=16)
    report("redis-benchmark XADD -P 16 (pipelined)", f"{piped:,.0f} XADD/s")
    took, consumed = dispatch("redis", args.jobs)
    assert consumed == args.jobs, consumed
    report(
        "Redis Streams enqueue→lease→ack",
        f"{consumed / took:,.0f} jobs/s ({took:.1f} s)",
        "≥ 0.5× redis-benchmark",
        f"{consumed / took / raw:.2f}× redis-benchmark XADD, {consumed / took / piped:.2f}× pipelined",
    )
    raw_nats = asyncio.run(nats_raw(args.jobs))
    report("bare JetStream publish (baseline)", f"{raw_nats:,.0f} msg/s")
    took, consumed = dispatch("nats", args.jobs)
    assert consumed == args.jobs, consumed
    report("NATS JetStream enqueue→lease→ack", f"{consumed / took:,.0f} jobs/s ({took:.1f} s)",
           ratio=f"{consumed / took / raw_nats:.2f}× bare publish")  # fmt: skip
    if args.ray_jobs:
        lat = ray_latency(args.ray_jobs)
        report("Ray job submit → RUNNING (local head)", f"median {statistics.median(lat) * 1000:.0f} ms, "
               f"max {max(lat) * 1000:.0f} ms over {len(lat)} jobs")  # fmt: skip


if __name__ == "__main__":
    main()
