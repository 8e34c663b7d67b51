"""An ASGI app served by a real uvicorn on loopback, in a thread, for a test; and a webhook
receiver, the endpoint a job's callback_url names.

It binds port 0 unless told a port (a restart at the same address) and reads the port back, so
no test races another process for a "free" port; a server that cannot bind fails the test at
once instead of leaving it waiting for a readiness flag that never comes."""

from __future__ import annotations

import threading
from http.client import HTTPMessage
from http.server import BaseHTTPRequestHandler, HTTPServer
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


class Receiver:
    """A loopback HTTP endpoint that keeps each POST (body, headers) and answers 204: where a
    webhook's callback_url points in a test. ``arrived`` is set by the first POST."""

    def __init__(self) -> None:
        self.posts: list[tuple[bytes, HTTPMessage]] = []
        self.arrived = threading.Event()
        outer = self

        class Hook(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                outer.posts.append((self.rfile.read(int(self.headers["Content-Length"])), self.headers))
                self.send_response(204)
                self.end_headers()
                outer.arrived.set()

            def log_message(self, *args: Any) -> None:
                pass  # no access log in the test output

        self.server = HTTPServer(("127.0.0.1", 0), Hook)
        self.port: int = self.server.server_address[1]
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()
