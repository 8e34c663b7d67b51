"""Signed webhook callbacks, retried with exponential backoff, to destinations that are allowed.

The body is JSON; ``X-Auraison-Signature: t=<unix>,v1=<hex>`` where ``v1`` is the HMAC-SHA256
of ``"<t>.<body>"`` with the shared secret (the Stripe scheme: the timestamp inside the MAC
stops replays of old deliveries). A receiver checks it with ``verify``.

A ``callback_url`` is chosen by whoever submits a job, and the control plane POSTs to it from
inside the installation: left open, that is a server-side request forgery into loopback, the
private network and the cloud metadata service (169.254.169.254). ``check_callback`` refuses
every destination that is not a public address — an IP literal, or every address a hostname
resolves to — unless ``control.webhook_allow`` names it.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import ipaddress
import json
import socket
import time
from collections.abc import Sequence
from typing import Any
from urllib.parse import urlsplit

import httpx
import structlog

from auraison.errors import UserError

log = structlog.get_logger(__name__)
HEADER = "X-Auraison-Signature"
IP = ipaddress.IPv4Address | ipaddress.IPv6Address
ALLOW_HINT = "use a public https URL, or add it to control.webhook_allow (AURAISON_CONTROL__WEBHOOK_ALLOW)"


class CallbackRefused(UserError):
    """A ``callback_url`` points where the control plane must not send requests (loopback,
    private, link-local or otherwise non-public addresses) and no allow-list entry names it."""

    status_code = 422

    def __init__(self, url: str, why: str) -> None:
        super().__init__(f"callback_url {url} refused: {why}", ALLOW_HINT)
        self.url, self.why = url, why


def _kind(ip: IP) -> str | None:
    """What makes ``ip`` an internal destination, or None for a public one."""
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped  # ::ffff:127.0.0.1 is 127.0.0.1
    if ip.is_loopback:
        return "loopback address"
    if ip.is_link_local:
        return "link-local address (cloud metadata services live there)"
    if ip.is_unspecified:
        return "unspecified address (it reaches this host)"
    if ip.is_private:
        return "private address"
    if ip.is_multicast or ip.is_reserved or not ip.is_global:
        return "non-public address"
    return None


def allowed(url: str, allow: Sequence[str], addresses: Sequence[IP] = ()) -> bool:
    """Whether an allow-list entry names ``url``. Entries are URL prefixes
    (``http://10.0.0.5:9000/hooks/`` — same scheme, host and port, the path a prefix), host names
    or IP literals (any port), or networks in CIDR form (``10.20.0.0/16``, matched against the
    addresses the host resolved to)."""
    u = urlsplit(url)
    host = (u.hostname or "").lower()
    for entry in allow:
        entry = entry.strip()
        if "://" in entry:
            e = urlsplit(entry)
            try:
                same = (e.scheme.lower(), (e.hostname or "").lower(), e.port) == (
                    u.scheme.lower(),
                    host,
                    u.port,
                )
            except ValueError:  # a port out of range: names nothing
                continue
            if same and u.path.startswith(e.path or "/"):
                return True
        elif "/" in entry:
            try:
                net = ipaddress.ip_network(entry, strict=False)
            except ValueError:
                continue
            if addresses and all(a in net for a in addresses):
                return True
        elif entry.lower().strip("[]") == host:
            return True
    return False


def resolve(host: str, port: int) -> list[IP]:
    """Every address ``host`` resolves to now (an IP literal is its own answer). Blocking."""
    try:
        return [ipaddress.ip_address(host)]
    except ValueError:
        pass
    infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    return list(dict.fromkeys(ipaddress.ip_address(i[4][0].split("%", 1)[0]) for i in infos))


def check_callback(url: str, allow: Sequence[str] = ()) -> None:
    """Raise ``CallbackRefused`` unless ``url`` goes to public addresses only, or ``allow``
    names it. A hostname counts by every address it resolves to, so a public-looking name that
    points into the private network is refused too. Blocking (DNS): domain code calls it from
    its worker thread, async code through ``asyncio.to_thread``."""
    u = urlsplit(url)
    try:
        port = u.port or (443 if u.scheme.lower() == "https" else 80)
    except ValueError:
        raise CallbackRefused(url, "its port is out of range") from None
    if u.scheme.lower() not in ("http", "https") or not u.hostname:
        raise CallbackRefused(url, "only http and https URLs with a host can be called back")
    host = u.hostname.strip("[]")
    if allowed(url, allow):
        return
    try:
        addresses = resolve(host, port)
    except (OSError, UnicodeError) as exc:
        raise CallbackRefused(url, f"host {host} does not resolve ({exc})") from None
    if allowed(url, allow, addresses):
        return
    for ip in addresses:
        if (kind := _kind(ip)) is not None:
            where = f"{host} is" if host == str(ip) else f"{host} resolves to {ip},"
            raise CallbackRefused(url, f"{where} a {kind}")


def sign(secret: str, body: bytes, ts: int | None = None) -> str:
    ts = int(time.time()) if ts is None else ts
    mac = hmac.new(secret.encode(), f"{ts}.".encode() + body, hashlib.sha256).hexdigest()
    return f"t={ts},v1={mac}"


def verify(secret: str, body: bytes, header: str, tolerance_s: int = 300) -> bool:
    try:
        parts = dict(p.split("=", 1) for p in header.split(","))
        ts = int(parts["t"])
    except (KeyError, ValueError):
        return False
    if abs(time.time() - ts) > tolerance_s:
        return False
    return hmac.compare_digest(sign(secret, body, ts), header)


async def deliver(
    url: str,
    payload: dict[str, Any],
    secret: str,
    attempts: int = 5,
    base_delay_s: float = 0.5,
    allow: Sequence[str] | None = None,
) -> bool:
    """POST until a 2xx (``True``) or ``attempts`` failures (``False``); 4xx other than 408/429
    is final (the receiver refused it, retrying will not help). With ``allow`` (the settings'
    ``control.webhook_allow``) the destination is checked again first, so a hostname that now
    resolves into the private network (DNS rebinding) is refused: ``False``, never sent."""
    if allow is not None:
        try:
            await asyncio.to_thread(check_callback, url, allow)
        except CallbackRefused as exc:
            log.warning("webhook refused before sending", url=url, why=exc.why)
            return False
    body = json.dumps(payload, default=str, separators=(",", ":")).encode()
    async with httpx.AsyncClient(timeout=10) as client:
        for attempt in range(attempts):
            headers = {"Content-Type": "application/json", HEADER: sign(secret, body)}
            try:
                resp = await client.post(url, content=body, headers=headers)
                if resp.is_success:
                    return True
                final = 400 <= resp.status_code < 500 and resp.status_code not in (408, 429)
                log.warning("webhook refused", url=url, status=resp.status_code, attempt=attempt + 1)
                if final:
                    return False
            except httpx.HTTPError as exc:
                log.warning("webhook failed", url=url, error=str(exc), attempt=attempt + 1)
            if attempt + 1 < attempts:
                await asyncio.sleep(base_delay_s * 2**attempt)  # backoff between real attempts
    return False
