"""Signed webhook callbacks, retried with exponential backoff.

The body is JSON; ``X-Auraison-Signature: t=<unix>,v1=<hex>`` where ``v1`` is the HMAC-SHA256
of ``"<t>.<body>"`` with the shared secret (the Stripe scheme: the timestamp inside the MAC
stops replays of old deliveries). A receiver checks it with ``verify``.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
import time
from typing import Any

import httpx
import structlog

log = structlog.get_logger(__name__)
HEADER = "X-Auraison-Signature"


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
    url: str, payload: dict[str, Any], secret: str, attempts: int = 5, base_delay_s: float = 0.5
) -> bool:
    """POST until a 2xx (``True``) or ``attempts`` failures (``False``); 4xx other than 408/429
    is final (the receiver refused it, retrying will not help)."""
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
