"""Run a real rosbridge simulator on a free loopback port in a background thread."""

from __future__ import annotations

import asyncio
import concurrent.futures
import threading
from collections.abc import Callable
from typing import Any, TypeVar

from auraison.geometry.worldfile import load_world
from auraison.sim.bridge import RosbridgeServer
from auraison.sim.engine import SimConfig, Simulation

T = TypeVar("T")


class SimThread:
    def __init__(self, world: str = "maze_small", speed: float = 1.0, port: int = 0, **config: Any) -> None:
        self.sim = Simulation(load_world(world), SimConfig(**config))
        self.speed = speed
        self.requested_port = port
        self.loop = asyncio.new_event_loop()
        self.server: RosbridgeServer | None = None
        self._ready = threading.Event()
        self._thread = threading.Thread(target=self._run, name="sim", daemon=True)

    def _run(self) -> None:
        asyncio.set_event_loop(self.loop)
        self.server = RosbridgeServer(self.sim, "127.0.0.1", self.requested_port, self.speed)
        self.loop.run_until_complete(self.server.start())
        self._ready.set()
        self.loop.run_forever()
        self.loop.run_until_complete(self.server.stop())
        self.loop.close()

    def __enter__(self) -> SimThread:
        self._thread.start()
        if not self._ready.wait(10):
            raise RuntimeError("simulator did not start")
        return self

    def __exit__(self, *exc: object) -> None:
        self.loop.call_soon_threadsafe(self.loop.stop)
        self._thread.join(10)

    @property
    def port(self) -> int:
        assert self.server is not None
        return self.server.port

    @property
    def url(self) -> str:
        return f"ws://127.0.0.1:{self.port}"

    def call(self, fn: Callable[[], T], timeout: float = 5) -> T:
        """Run ``fn`` on the simulator's loop (the only safe place to mutate it)."""

        async def wrapper() -> T:
            return fn()

        fut: concurrent.futures.Future[T] = asyncio.run_coroutine_threadsafe(wrapper(), self.loop)
        return fut.result(timeout)


def nav_goal(x: float, y: float) -> dict[str, Any]:
    """A NavigateToPose goal in the map frame, as clients send it."""
    return {
        "pose": {
            "header": {"frame_id": "map"},
            "pose": {"position": {"x": x, "y": y}, "orientation": {"w": 1.0}},
        }
    }
