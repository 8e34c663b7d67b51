"""Cheap, bounded reachability checks for every service a profile may use.

Each probe returns a ``Probe`` (ok, detail, fix) and never raises: the doctor and
``services status`` show the result, with the exact command that fixes a missing service.
"""

from __future__ import annotations

import asyncio
import socket
from dataclasses import dataclass
from urllib.parse import urlparse

PG_START = "pg_ctlcluster --skip-systemctl-redirect $(ls /etc/postgresql) main start"
REDIS_START = (
    'redis-server --daemonize yes --bind 127.0.0.1 -::1 --port 6379 --save "" '
    "--appendonly no --dir /var/lib/redis --logfile /var/log/redis/ci.log"
)
NATS_START = (
    "start-stop-daemon --start --oknodo --background --exec /usr/sbin/nats-server -- "
    "-a 127.0.0.1 -p 4222 -js -sd /var/lib/nats-server -l /var/log/nats-server.log"
)


@dataclass(frozen=True)
class Probe:
    ok: bool
    detail: str
    fix: str = ""


def tcp_open(host: str, port: int, timeout_s: float = 0.5) -> bool:
    try:
        with socket.create_connection((host, port), timeout=timeout_s):
            return True
    except OSError:
        return False


def host_port(url: str, default_port: int) -> tuple[str, int]:
    if "://" not in url:
        url = "tcp://" + url
    parsed = urlparse(url)
    return parsed.hostname or "127.0.0.1", parsed.port or default_port


def probe_postgres(dsn: str) -> Probe:
    import psycopg

    try:
        with psycopg.connect(dsn, connect_timeout=2) as conn:
            version = conn.execute("show server_version").fetchone()
    except Exception as exc:
        return Probe(False, _first_line(exc), PG_START)
    return Probe(True, f"PostgreSQL {version[0] if version else '?'} at {_redact(dsn)}")


def probe_redis(url: str) -> Probe:
    import redis

    try:
        client = redis.Redis.from_url(url, socket_timeout=1, socket_connect_timeout=1)
        info = client.info("server")
        client.close()
    except Exception as exc:
        return Probe(False, _first_line(exc), REDIS_START)
    return Probe(True, f"Redis {info.get('redis_version', '?')} at {url}")


def probe_nats(url: str) -> Probe:
    async def check() -> str:
        import nats

        nc = await nats.connect(url, connect_timeout=1, max_reconnect_attempts=0, allow_reconnect=False)
        try:
            info = await nc.jetstream().account_info()
            v = nc.connected_server_version
            return f"NATS {v.major}.{v.minor}.{v.patch} with JetStream ({info.streams} streams)"
        finally:
            await nc.close()

    try:
        detail = asyncio.run(asyncio.wait_for(check(), timeout=3))
    except Exception as exc:
        return Probe(False, _first_line(exc) or type(exc).__name__, NATS_START)
    return Probe(True, f"{detail} at {url}")


def probe_s3(endpoint: str, access_key: str | None, secret_key: str | None, secure: bool) -> Probe:
    fix = "auraison services up  (starts SeaweedFS S3 with generated keys)"
    if not access_key or not secret_key:
        return Probe(False, "no S3 credentials configured", fix)
    host, port = host_port(endpoint, 8333)
    if not tcp_open(host, port):
        return Probe(False, f"nothing listens on {host}:{port}", fix)
    from minio import Minio

    try:
        client = Minio(endpoint, access_key=access_key, secret_key=secret_key, secure=secure)
        buckets = client.list_buckets()
    except Exception as exc:
        return Probe(False, _first_line(exc), fix)
    return Probe(True, f"S3 at {endpoint} ({len(buckets)} buckets)")


def probe_ray_dashboard(url: str) -> Probe:
    import json
    import urllib.request

    fix = "auraison services up  (starts a Ray head with the dashboard)"
    try:
        with urllib.request.urlopen(f"{url.rstrip('/')}/api/version", timeout=2) as resp:
            data = json.loads(resp.read())
        # Up means usable: the head node has registered (the dashboard answers before it has).
        with urllib.request.urlopen(f"{url.rstrip('/')}/api/v0/nodes?limit=1&detail=0", timeout=5) as resp:
            nodes = json.loads(resp.read())["data"]["result"]["result"]
    except Exception as exc:
        return Probe(False, f"Ray dashboard at {url}: {_first_line(exc)}", fix)
    if not any(n.get("state") == "ALIVE" for n in nodes):
        return Probe(False, f"Ray dashboard at {url} answers, but no node has registered yet", fix)
    return Probe(True, f"Ray {data.get('ray_version', '?')} head, Jobs API at {url}")


def probe_tcp(name: str, url: str, default_port: int, fix: str) -> Probe:
    host, port = host_port(url, default_port)
    if tcp_open(host, port):
        return Probe(True, f"{name} listening at {url}")
    return Probe(False, f"nothing listens on {host}:{port}", fix)


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip() or type(exc).__name__
    return text.splitlines()[0][:200]


def _redact(dsn: str) -> str:
    from auraison.settings import mask_dsn

    return mask_dsn(dsn)
