"""P1 — AgentOps cost per tool call.

10k no-op calls through an in-memory ``fastmcp.Client`` three ways in one run: the plane
server directly, the gateway with AgentOps switched off (a bare ``mount``), and the gateway
with the full policy (guardrails, limits, tracing to a non-blocking sink); then the same bare
vs full comparison over streamable HTTP on loopback.

Run: ``python -m auraison.bench.agentops_p1 [--calls 10000]``.
"""

from __future__ import annotations

import argparse
import asyncio
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

import uvicorn
from fastmcp import Client, FastMCP
from fastmcp.client.transports import StreamableHttpTransport

from auraison.agentops import AgentOps
from auraison.agentops.policy import parse_policy
from auraison.agentops.tracing import build_provider
from auraison.runtime import Runtime
from auraison.settings import Settings

from ._common import machine, pct, report

POLICY = """\
version: 1
rules:
  - name: bench
    allow: ["bench_*", "approvals_*"]
    constraints:
      bench_noop: {max_args_bytes: 4096}
    limits:
      "bench_*": {concurrency: 64, rate_per_s: 1000000, burst: 1000000, queue: 64}
"""


class NullSink:
    rows = 0

    def write(self, rows: list[dict[str, Any]]) -> None:
        NullSink.rows += len(rows)


def noop_plane() -> FastMCP:
    plane = FastMCP("bench")

    @plane.tool
    def noop() -> str:
        """Does nothing."""
        return "ok"

    return plane


def bare_gateway() -> FastMCP:
    gw = FastMCP("auraison")
    gw.mount(noop_plane(), namespace="bench")
    return gw


def full_gateway(tmp: Path, http: bool = False) -> FastMCP:
    provider = build_provider(sink=NullSink(), spool_dir=tmp / "spool")
    engine = AgentOps(parse_policy(POLICY), tracer_provider=provider)
    tokens = [{"token": "bench-token", "tenant": "bench", "role": "operator"}] if http else []
    settings = Settings(home=tmp, agentops={"approvals": "memory", "tokens": tokens})
    return Runtime(settings, engine=engine).gateway(servers={"bench": noop_plane()}, http=http)


async def timed(client: Client, tool: str, n: int) -> list[float]:
    for _ in range(min(500, n // 10)):  # warm-up
        await client.call_tool(tool, {})
    out = []
    for _ in range(n):
        t0 = time.perf_counter()
        await client.call_tool(tool, {})
        out.append((time.perf_counter() - t0) * 1000)
    return out


def serve(app: Any) -> tuple[uvicorn.Server, threading.Thread, int]:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="error"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    while not server.started:
        thread.join(0.01)
    return server, thread, port


async def main(calls: int, http_calls: int) -> None:
    from auraison.logging import configure_logging

    configure_logging("json", "warning")  # production-like: allows are logged at debug only
    print(f"P1 AgentOps overhead — {machine()}; {calls} calls per variant")
    tmp = Path(tempfile.mkdtemp())
    results: dict[str, list[float]] = {}
    async with Client(noop_plane()) as c:
        results["direct"] = await timed(c, "noop", calls)
    async with Client(bare_gateway()) as c:
        results["bare mount"] = await timed(c, "bench_noop", calls)
    async with Client(full_gateway(tmp)) as c:
        results["full policy"] = await timed(c, "bench_noop", calls)
    base50, base99 = pct(results["bare mount"], 50), pct(results["bare mount"], 99)
    d50 = pct(results["direct"], 50)
    for name, xs in results.items():
        report(
            f"in-memory, {name}",
            f"p50 {pct(xs, 50):.3f} ms, p99 {pct(xs, 99):.3f} ms",
            "full ≤ 1.10× bare at p50" if name == "full policy" else "",
            f"{pct(xs, 50) / base50:.2f}× bare p50, {pct(xs, 99) / base99:.2f}× bare p99, "
            f"{pct(xs, 50) / d50:.2f}× direct p50",
        )
    # streamable HTTP on loopback
    http: dict[str, list[float]] = {}
    for name, app in (
        ("bare mount", bare_gateway().http_app()),
        ("full policy", full_gateway(tmp, http=True).http_app()),
    ):
        server, thread, port = serve(app)
        auth = "bench-token" if name == "full policy" else None
        async with Client(StreamableHttpTransport(f"http://127.0.0.1:{port}/mcp", auth=auth)) as c:
            http[name] = await timed(c, "bench_noop", http_calls)
        server.should_exit = True
        thread.join(5)
    added = pct(http["full policy"], 50) - pct(http["bare mount"], 50)
    for name, xs in http.items():
        report(f"streamable HTTP, {name}", f"p50 {pct(xs, 50):.3f} ms, p99 {pct(xs, 99):.3f} ms")
    report(
        "streamable HTTP, policy adds at p50",
        f"{added:.3f} ms",
        "≤ 1 ms",
        f"{pct(http['full policy'], 50) / pct(http['bare mount'], 50):.2f}× bare p50",
    )
    print(f"spans delivered to the sink: {NullSink.rows}")


if __name__ == "__main__":
    ap = argparse.ArgumentParser()
    ap.add_argument("--calls", type=int, default=10_000)
    ap.add_argument("--http-calls", type=int, default=2_000)
    args = ap.parse_args()
    asyncio.run(main(args.calls, args.http_calls))
