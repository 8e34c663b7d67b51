"""R4 — overload: 10× the sustainable rate against the gateway.

A tool that holds a slot for ``--work-ms`` behind a bulkhead of ``--concurrency`` sustains
``concurrency / work`` calls per second. We measure admitted latency unloaded (one caller),
then offer 10× the sustainable rate open-loop for ``--seconds``: admitted calls must keep p99
within 2× of unloaded, the rest must be shed with a retry-after, and memory must stay bounded.

Run: ``python -m auraison.bench.agentops_r4``.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import resource
import tempfile
import time
import tracemalloc
from pathlib import Path

from fastmcp import Client, FastMCP

from auraison.agentops import AgentOps
from auraison.agentops.policy import parse_policy
from auraison.runtime import Runtime
from auraison.settings import Settings

from ._common import machine, pct, report


def plane(work_s: float) -> FastMCP:
    p = FastMCP("bench")

    @p.tool
    async def work() -> str:
        """Holds its slot for a fixed time (stands in for real tool work)."""
        await asyncio.sleep(work_s)
        return "done"

    return p


async def main(concurrency: int, work_ms: float, seconds: float, factor: float) -> None:
    from auraison.logging import configure_logging

    configure_logging("json", "error")
    sustainable = concurrency / (work_ms / 1000)
    policy = parse_policy(
        "version: 1\nrules:\n  - name: r\n    allow: ['bench_*']\n"
        f"    limits: {{bench_work: {{concurrency: {concurrency}, queue: {concurrency}, "
        f"max_wait_s: {work_ms / 2000:.4f}}}}}\n"  # wait at most half a call: bounds admitted p99
    )
    tmp = Path(tempfile.mkdtemp())
    rt = Runtime(Settings(home=tmp, agentops={"approvals": "memory"}), engine=AgentOps(policy))
    gw = rt.gateway(servers={"bench": plane(work_ms / 1000)})
    print(
        f"R4 overload — {machine()}; sustainable ≈ {sustainable:.0f} calls/s "
        f"(concurrency {concurrency} × {work_ms:g} ms), offered {factor:g}× for {seconds:g} s"
    )
    async with Client(gw) as c:
        unloaded = []
        for _ in range(300):
            t0 = time.perf_counter()
            await c.call_tool("bench_work", {})
            unloaded.append((time.perf_counter() - t0) * 1000)
        admitted: list[float] = []
        shed_retry: list[float] = []
        errors = 0

        async def one() -> None:
            nonlocal errors
            t0 = time.perf_counter()
            res = await c.call_tool("bench_work", {}, raise_on_error=False)
            if not res.is_error:
                admitted.append((time.perf_counter() - t0) * 1000)
                return
            try:
                d = json.loads(res.content[0].text.splitlines()[1])["decision"]
                shed_retry.append(d["retry_after_s"])
            except (IndexError, KeyError, ValueError):
                errors += 1

        tracemalloc.start()
        rate = sustainable * factor
        tasks = []
        start = time.perf_counter()
        n = int(rate * seconds)
        for i in range(n):  # open loop: arrivals do not wait for completions
            delay = start + i / rate - time.perf_counter()
            if delay > 0:
                await asyncio.sleep(delay)
            tasks.append(asyncio.create_task(one()))
        await asyncio.gather(*tasks)
        elapsed = time.perf_counter() - start
        _, peak = tracemalloc.get_traced_memory()
        tracemalloc.stop()
    offered = n / elapsed
    report("unloaded admitted latency", f"p50 {pct(unloaded, 50):.2f} ms, p99 {pct(unloaded, 99):.2f} ms")
    report(
        "overloaded admitted latency",
        f"p50 {pct(admitted, 50):.2f} ms, p99 {pct(admitted, 99):.2f} ms",
        "p99 ≤ 2× unloaded",
        f"{pct(admitted, 99) / pct(unloaded, 99):.2f}× unloaded p99",
    )
    report(
        "offered / admitted / shed",
        f"{offered:.0f}/s offered; {len(admitted)} admitted "
        f"({len(admitted) / elapsed:.0f}/s); {len(shed_retry)} shed; {errors} other errors",
        "shed with retry-after",
    )
    if shed_retry:
        report("retry-after on shed calls", f"min {min(shed_retry):.3f} s, p50 {pct(shed_retry, 50):.3f} s")
    report(
        "memory during the overload",
        f"peak traced {peak / 2**20:.1f} MiB; "
        f"max RSS {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:.0f} MiB",
        "bounded",
    )


if __name__ == "__main__":
    ap = argparse.ArgumentParser()
    ap.add_argument("--concurrency", type=int, default=4)
    ap.add_argument("--work-ms", type=float, default=200.0)
    ap.add_argument("--seconds", type=float, default=3.0)
    ap.add_argument("--factor", type=float, default=10.0)
    a = ap.parse_args()
    asyncio.run(main(a.concurrency, a.work_ms, a.seconds, a.factor))
