"""P6 — quota reservations against PostgreSQL, 16 concurrent clients, zero overspend.

Each client is its own process (its own connection, no shared GIL) and loops
reserve → commit (a random actual ≤ the amount). Phase 1 gives the tenant a limit far above
what the run can use — the throughput figure, every reservation through the same conditional
UPDATE. Phase 2 sets a limit that runs out part-way, so the clients race for the last units
and the late ones are refused; the benchmark then checks the books of both tenants
(``used + reserved ≤ limit``, ``used`` = the sum of usage events, nothing left reserved).

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
    from auraison.identity import Identity
    from auraison.mcp_servers.billing.ledger import QuotaExhausted
    from auraison.mcp_servers.billing.service import Billing
    from auraison.mcp_servers.billing.store import Store

    billing = Billing(Store(url, pool_size=1))
    who = Identity(tenant=tenant, role="agent")
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
        from sqlalchemy import text

        def books(tenant: str, limit: int) -> bool:
            line = billing.quota_get(ADMIN, tenant)[4]
            with store.transaction() as conn:
                counted = conn.execute(
                    text(
                        "SELECT coalesce(sum(quantity), 0) FROM usage_events "
                        "WHERE dimension = 'gpu_seconds' AND tenant_id = :t"
                    ),
                    {"t": tenant},
                ).scalar_one()
            overspent = line.used + line.reserved - Decimal(limit)
            ok = overspent <= 0 and line.used == counted and line.reserved == 0
            report(
                f"books of {tenant}",
                f"limit {limit:,}, used {line.used:,.0f}, reserved {line.reserved:,.0f}, "
                f"events {counted:,.0f}",
                ratio=f"overspend {max(overspent, 0):,.0f}: {'OK' if ok else 'VIOLATED'}",
            )
            return ok

        # Phase 1: a limit far above what the run can use — every reservation is granted and
        # committed, through the same conditional UPDATE. This is the throughput figure.
        billing.tenant_create(ADMIN, "open", plan="pro")
        billing.quota_set(ADMIN, "open", "gpu_seconds", 10**9)
        granted, refused, took = fan_out(ledger_client, (url, "open", args.seconds), args.clients)
        report(
            "reserve+commit, all granted",
            f"{granted / took:,.0f} reservations/s ({granted:,} granted, {refused:,} refused)",
            "≥ 2k/s",
            f"{granted / took / bare_rate:.2f}× the bare UPDATE",
        )
        ok = books("open", 10**9)
        used_open = int(billing.quota_get(ADMIN, "open")[4].used)
        # Phase 2: a limit that runs out part-way — 16 clients race for the last units; the
        # late ones are refused (in one round trip). The invariant is the figure here.
        billing.tenant_create(ADMIN, "tight", plan="pro")
        limit = args.limit or max(used_open // 2, 100)  # about half of what phase 1 used
        billing.quota_set(ADMIN, "tight", "gpu_seconds", limit)
        granted, refused, took = fan_out(ledger_client, (url, "tight", args.seconds), args.clients)
        report(
            "reserve (+commit) at the limit",
            f"{(granted + refused) / took:,.0f} attempts/s ({granted:,} granted, {refused:,} refused)",
            "zero overspend",
        )
        ok = books("tight", limit) and ok
        store.close()
        if not ok:
            raise SystemExit("invariant violated")
    finally:
        with psycopg.connect(DSN, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{db}" WITH (FORCE)')


if __name__ == "__main__":
    main()
