"""Probes and shared fixtures against the machine's real PostgreSQL, Redis and NATS."""

from __future__ import annotations

import asyncio
import uuid

import nats
import psycopg
import redis

from auraison.services import probes
from tests.conftest import free_port


def test_postgres_probe_and_fresh_database(pg_dsn: str) -> None:
    assert probes.probe_postgres(pg_dsn).ok
    with psycopg.connect(pg_dsn) as conn:
        conn.execute("create table t (x int)")
        conn.execute("insert into t values (1)")
        assert conn.execute("select count(*) from t").fetchone() == (1,)


def test_redis_probe_and_isolated_prefix(redis_prefix: str) -> None:
    assert probes.probe_redis("redis://127.0.0.1:6379/0").ok
    r = redis.Redis()
    try:
        r.set(redis_prefix + "k", "v")
        assert r.keys(redis_prefix + "*") == [(redis_prefix + "k").encode()]
    finally:
        r.delete(redis_prefix + "k")
        r.close()


def test_nats_probe_and_jetstream_roundtrip() -> None:
    assert probes.probe_nats("nats://127.0.0.1:4222").ok

    async def roundtrip() -> bytes:
        nc = await nats.connect("nats://127.0.0.1:4222")
        js = nc.jetstream()
        stream = f"T{uuid.uuid4().hex[:8]}"
        await js.add_stream(name=stream, subjects=[f"{stream}.>"])
        try:
            await js.publish(f"{stream}.a", b"hello")
            sub = await js.pull_subscribe(f"{stream}.a", durable="d")
            (msg,) = await sub.fetch(1, timeout=5)
            await msg.ack()
            return msg.data
        finally:
            await js.delete_stream(stream)
            await nc.close()

    assert asyncio.run(roundtrip()) == b"hello"


def test_probes_of_stopped_services_name_the_fix() -> None:
    port = free_port()  # nothing listens here
    for probe, needle in (
        (probes.probe_postgres(f"postgresql://postgres@127.0.0.1:{port}/test"), "pg_ctlcluster"),
        (probes.probe_redis(f"redis://127.0.0.1:{port}/0"), "redis-server"),
        (probes.probe_nats(f"nats://127.0.0.1:{port}"), "nats-server"),
        (probes.probe_s3(f"127.0.0.1:{port}", "a", "b", False), "auraison services up"),
        (probes.probe_ray_dashboard(f"http://127.0.0.1:{port}"), "auraison services up"),
    ):
        assert not probe.ok and needle in probe.fix and probe.detail
