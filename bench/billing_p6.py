"""P6 — quota reservations against PostgreSQL, 16 concurrent clients, zero overspend.

Each client is its own process (its own connection pool, no shared GIL) and loops
reserve → commit (a random actual ≤ the amount) against one tenant whose limit is set so
that it runs out part-way: the late reservations are refused, and at the end the benchmark
checks the books (``used + reserved ≤ limit``, ``used`` = the sum of usage events).

Baseline, same run: the bare conditional ``UPDATE … WHERE used + reserved + n <= limit``
in its own transaction, through psycopg with the same 16 processes: the cost of the atomic
step alone, without leases, usage events and the audit log.

Run: ``python -m auraison.bench.billing_p6 [--clients 16 --seconds 10]``.
"""

from __future__ import annotations

import argparse
import multiprocessing as mp
import random
import time
import uuid

import psycopg

from ._common import machine, report

DSN = "postgresql://postgres@127.0.0.1:5432/postgres"


def ledger_client(url: str, tenant: str, seconds: float, out: mp.Queue) -> None:
    from auraison.mcp_servers.billing.ledger import QuotaExhausted
    from auraison.mcp_servers.billing.models import Principal
    from auraison.mcp_servers.billing.service import Billing
    from auraison.mcp_servers.billing.store import Store

    billing = Billing(Store(url, pool_size=1))
    who = Principal(tenant=tenant, role="agent")
    granted = refused = 0
    rng = random.Random()
    deadline = time.perf_counter() + seconds
    while time.perf_counter() < deadline:
        amount = rng.randint(1, 5)
        try:
            lease = billing.reserve(who, tenant, "gpu_seconds", amount)
        except QuotaExhausted:
            refused += 1
            continue
        billing.commit(who, tenant, lease.id, rng.randint(0, amount))
        granted += 1
    out.put((granted, refused))


def bare_client(dsn: str, seconds: float, out: mp.Queue) -> None:
    n = 0
    deadline = time.perf_counter() + seconds
    with psycopg.connect(dsn) as conn:
        while time.perf_counter() < deadline:
            with conn.transaction():
                conn.execute(
                    "UPDATE bench_counter SET reserved = reserved + 1"
                    " WHERE id = 1 AND used + reserved + 1 <= 1e12"
                )
            n += 1
    out.put((n, 0))


def fan_out(target, args: tuple, clients: int) -> tuple[int, int, float]:
    out: mp.Queue = mp.Queue()
    procs = [mp.Process(target=target, args=(*args, out)) for _ in range(clients)]
    t0 = time.perf_counter()
    for p in procs:
        p.start()
    results = [out.get(timeout=600) for _ in procs]
    for p in procs:
        p.join()
    return sum(r[0] for r in results), sum(r[1] for r in results), time.perf_counter() - t0


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--clients", type=int, default=16)
    ap.add_argument("--seconds", type=float, default=10.0)
    ap.add_argument("--limit", type=int, default=0, help="gpu_seconds limit (default: runs out mid-way)")
    args = ap.parse_args()

    from decimal import Decimal

    from auraison.mcp_servers.billing.service import ADMIN, Billing
    from auraison.mcp_servers.billing.store import Store

    db = f"bench_p6_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(DSN, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{db}"')
    dsn = DSN.rsplit("/", 1)[0] + "/" + db
    url = dsn.replace("postgresql://", "postgresql+psycopg://", 1)
    try:
        print(f"P6 quota reservations on PostgreSQL — {machine()}, {args.clients} client processes")
        with psycopg.connect(dsn, autocommit=True) as conn:
            conn.execute("CREATE TABLE bench_counter (id int primary key, used numeric, reserved numeric)")
            conn.execute("INSERT INTO bench_counter VALUES (1, 0, 0)")
        n_bare, _, t_bare = fan_out(bare_client, (dsn, args.seconds), args.clients)
        bare_rate = n_bare / t_bare
        report("bare conditional UPDATE (baseline)", f"{bare_rate:,.0f} txn/s")

        store = Store(url)
        store.migrate()
        billing = Billing(store)
        billing.tenant_create(ADMIN, "bench", plan="pro")
        # Enough for about 60% of what the clients will ask (a reservation averages 3 units).
        limit = args.limit or int(bare_rate * args.seconds * 0.05 * 3 * 0.6) + 10
        billing.quota_set(ADMIN, "bench", "gpu_seconds", limit)
        granted, refused, took = fan_out(ledger_client, (url, "bench", args.seconds), args.clients)
        line = billing.quota_get(ADMIN, "bench")[4]
        report(
            "reserve+commit (full ledger)",
            f"{(granted + refused) / took:,.0f} reservations/s ({granted:,} granted, {refused:,} refused)",
            "≥ 2k/s, zero overspend",
            f"{(granted + refused) / took / bare_rate:.2f}× the bare UPDATE",
        )
        from sqlalchemy import text

        with store.transaction() as conn:
            counted = conn.execute(
                text("SELECT coalesce(sum(quantity), 0) FROM usage_events WHERE dimension = 'gpu_seconds'")
            ).scalar_one()
        overspent = line.used + line.reserved - Decimal(limit)
        ok = overspent <= 0 and line.used == counted and line.reserved == 0
        report(
            "books at the end",
            f"limit {limit:,}, used {line.used:,.0f}, reserved {line.reserved:,.0f}, events {counted:,.0f}",
            ratio=f"overspend {max(overspent, 0):,.0f}: {'OK' if ok else 'VIOLATED'}",
        )
        store.close()
        if not ok:
            raise SystemExit("invariant violated")
    finally:
        with psycopg.connect(DSN, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{db}" WITH (FORCE)')


if __name__ == "__main__":
    main()
