"""R1: the seed's first principle under fault injection.

Placeholder while the suite lands; ``GatewayProcess`` is the stdio gateway the suite and the
motion-lease tests kill.
"""

from __future__ import annotations

import concurrent.futures
import itertools
import json
import os
import signal
import subprocess
import sys
import threading
from pathlib import Path
from typing import Any

Reply = concurrent.futures.Future[dict[str, Any]]


class GatewayProcess:
    """``auraison gateway`` as Claude Code runs it: a child process spoken to over stdio.

    Calls may be left in flight (a navigation) while the process is killed, its stdin closed
    or sent SIGTERM — the three ways a session ends."""

    def __init__(self, env: dict[str, str], log: Path) -> None:
        self.log = log
        self._log = log.open("ab")
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "auraison", "gateway"],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=self._log,
            env=env,
        )
        self._ids = itertools.count(1)
        self._waiting: dict[int, Reply] = {}
        self._lock = threading.Lock()
        threading.Thread(target=self._read, daemon=True, name="gateway-stdout").start()
        client = {"name": "chaos", "version": "1"}
        hello = {"protocolVersion": "2025-06-18", "capabilities": {}, "clientInfo": client}
        self.request("initialize", hello).result(120)
        self._write({"jsonrpc": "2.0", "method": "notifications/initialized"})

    @property
    def pid(self) -> int:
        return self.proc.pid

    def _write(self, msg: dict[str, Any]) -> None:
        assert self.proc.stdin is not None
        self.proc.stdin.write((json.dumps(msg) + "\n").encode())
        self.proc.stdin.flush()

    def _read(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            try:
                msg = json.loads(line)
            except ValueError:
                continue
            with self._lock:
                fut = self._waiting.pop(msg.get("id"), None) if "id" in msg else None
            if fut is not None:
                fut.set_result(msg)
        with self._lock:  # the process is gone: nothing in flight will be answered
            waiting, self._waiting = self._waiting, {}
        for fut in waiting.values():
            fut.set_exception(ConnectionError("the gateway process ended"))

    def request(self, method: str, params: dict[str, Any]) -> Reply:
        fut: Reply = concurrent.futures.Future()
        msg_id = next(self._ids)
        with self._lock:
            self._waiting[msg_id] = fut
        self._write({"jsonrpc": "2.0", "id": msg_id, "method": method, "params": params})
        return fut

    def call(self, tool: str, args: dict[str, Any] | None = None) -> Reply:
        """A ``tools/call``; the future holds the JSON-RPC reply (``result`` or ``error``)."""
        return self.request("tools/call", {"name": tool, "arguments": args or {}})

    def call_ok(self, tool: str, args: dict[str, Any] | None = None, timeout: float = 120) -> dict[str, Any]:
        reply = self.call(tool, args).result(timeout)
        result = reply.get("result") or {}
        if "error" in reply or result.get("isError"):
            raise RuntimeError(f"{tool} failed: {reply}")
        return result.get("structuredContent") or {}

    def kill(self) -> None:
        """SIGKILL: no handler runs, nothing is closed or sent."""
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait(30)

    def close_stdin(self, timeout: float = 60) -> int:
        """The client goes away (Claude Code ends the session): stdin reaches EOF."""
        assert self.proc.stdin is not None
        self.proc.stdin.close()
        return self.proc.wait(timeout)

    def terminate(self, timeout: float = 60) -> int:
        self.proc.send_signal(signal.SIGTERM)
        return self.proc.wait(timeout)

    def close(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(30)
        self._log.close()


def gateway_env(home: Path, **settings: str) -> dict[str, str]:
    """The environment a gateway child gets: this one without AURAISON_*, plus ``settings``."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("AURAISON_")}
    return env | {"AURAISON_HOME": str(home), **settings}
