"""An ASGI app served by a real uvicorn on loopback, in a thread, for a test.

It binds port 0 unless told a port (a restart at the same address) and reads the port back, so
no test races another process for a "free" port; a server that cannot bind fails the test at
once instead of leaving it waiting for a readiness flag that never comes."""

from __future__ import annotations

import threading
from typing import Any

import uvicorn


class Served:
    def __init__(self, app: Any, port: int = 0, **config: Any) -> None:
        self.server = uvicorn.Server(
            uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", **config)
        )
        self.thread = threading.Thread(target=self.server.run, daemon=True)
        self.thread.start()
        for _ in range(6000):  # uvicorn's own readiness flag, for at most 60 s
            if self.server.started or not self.thread.is_alive():
                break
            self.thread.join(0.01)
        if not self.server.started:
            self.stop()
            raise RuntimeError(f"uvicorn did not start on 127.0.0.1:{port}")
        self.port: int = self.server.servers[0].sockets[0].getsockname()[1]
        self.url = f"http://127.0.0.1:{self.port}"

    def stop(self, timeout: float = 10) -> None:
        self.server.should_exit = True
        self.thread.join(timeout)
