"""An asyncio rosbridge v2 client: one persistent WebSocket, reconnecting, shared by all tools.

Requests (``call_service``) are matched to replies by id; topic samples are cached per topic
(the latest one) and can be awaited; actions deliver feedback to a callback and the result to
a future. When the connection drops, pending requests fail at once with ``RobotUnavailable``
(never a hang), subscriptions are re-sent after the reconnect, and goals are not resent.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import json
import time
from collections.abc import Callable
from typing import Any

import structlog
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed

from auraison.errors import Conflict, Unavailable

log = structlog.get_logger("auraison.robot.rosbridge")


class RobotUnavailable(Unavailable):
    """The rosbridge server cannot be reached (or dropped the connection)."""

    def __str__(self) -> str:
        return f"robot unavailable: {super().__str__()}"


class ServiceFailed(Conflict):
    """A ROS service answered ``result: false``."""

    def __str__(self) -> str:
        return f"the robot refused: {super().__str__()}"


class RosbridgeClient:
    def __init__(self, url: str, connect_timeout_s: float = 3.0, max_backoff_s: float = 5.0) -> None:
        self.url = url
        self.connect_timeout_s = connect_timeout_s
        self.max_backoff_s = max_backoff_s
        self._ws: ClientConnection | None = None
        self._ids = itertools.count(1)
        self._pending: dict[str, asyncio.Future[Any]] = {}
        self._latest: dict[str, dict[str, Any]] = {}
        self._stamp: dict[str, float] = {}
        self._waiters: dict[str, list[asyncio.Future[dict[str, Any]]]] = {}
        self._subs: dict[str, str] = {}  # topic -> type
        self._listeners: dict[str, list[Callable[[dict[str, Any]], None]]] = {}
        self._advertised: set[str] = set()
        self._goals: dict[str, tuple[Callable[[dict[str, Any]], None] | None, asyncio.Future[Any]]] = {}
        self._reader: asyncio.Task[None] | None = None
        self._lock = asyncio.Lock()
        self.connected_at: float | None = None
        self.reconnects = 0

    # ---------------------------------------------------------------- connection
    @property
    def connected(self) -> bool:
        return self._ws is not None

    async def ensure(self) -> ClientConnection:
        """The live connection, (re)connecting if needed; raises ``RobotUnavailable``."""
        if self._ws is not None:
            return self._ws
        async with self._lock:
            if self._ws is not None:
                return self._ws
            try:
                ws = await asyncio.wait_for(
                    connect(self.url, max_size=None, ping_interval=None), self.connect_timeout_s
                )
            except (OSError, TimeoutError) as exc:
                raise RobotUnavailable(
                    f"cannot reach rosbridge at {self.url} ({exc.__class__.__name__}: {exc}); "
                    "start the simulator with `auraison sim run` or set AURAISON_ROBOT__ROSBRIDGE_URL"
                ) from None
            self._ws = ws
            if self.connected_at is not None:
                self.reconnects += 1
            self.connected_at = time.time()
            self._reader = asyncio.create_task(self._read(ws))
            for topic, type_ in self._subs.items():  # restore subscriptions
                await ws.send(json.dumps({"op": "subscribe", "topic": topic, "type": type_}))
            self._advertised.clear()
            log.info("rosbridge connected", url=self.url, reconnects=self.reconnects)
            return ws

    async def wait_closed(self) -> None:
        """Return when the live connection drops (at once if there is none): a long-lived client
        that must know it lost the robot (the motion watchdog) learns it now, not on its next send."""
        reader = self._reader
        if self._ws is None or reader is None or reader.done():
            return
        await asyncio.wait({reader})

    async def close(self) -> None:
        ws, self._ws = self._ws, None
        if self._reader:
            self._reader.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._reader
        if ws is not None:
            await ws.close()
        self._fail_pending("client closed")

    def _fail_pending(self, why: str) -> None:
        err = RobotUnavailable(f"rosbridge connection to {self.url} lost ({why})")
        for fut in self._pending.values():
            if not fut.done():
                fut.set_exception(err)
        self._pending.clear()
        for waiters in self._waiters.values():
            for fut in waiters:
                if not fut.done():
                    fut.set_exception(err)
        self._waiters.clear()
        for _, fut in self._goals.values():
            if not fut.done():
                fut.set_exception(err)
        self._goals.clear()

    async def _read(self, ws: ClientConnection) -> None:
        try:
            async for raw in ws:
                try:
                    self._dispatch(json.loads(raw))
                except (ValueError, KeyError, TypeError) as exc:
                    log.warning("bad frame from rosbridge", error=str(exc))
        except ConnectionClosed:
            pass
        except asyncio.CancelledError:  # our own shutdown, not a lost robot
            if self._ws is ws:
                self._ws = None
                self._fail_pending("client shut down")
            raise
        if self._ws is ws:
            self._ws = None
            self._fail_pending("closed by the server")
            log.warning("rosbridge disconnected", url=self.url)

    def _dispatch(self, frame: dict[str, Any]) -> None:
        op = frame.get("op")
        if op == "service_response":
            fut = self._pending.pop(str(frame.get("id")), None)
            if fut is not None and not fut.done():
                if frame.get("result") is False:
                    fut.set_exception(ServiceFailed(str(frame.get("values"))))
                else:
                    fut.set_result(frame.get("values") or {})
        elif op == "publish":
            topic = frame["topic"]
            self._latest[topic] = frame["msg"]
            self._stamp[topic] = time.monotonic()
            for fn in self._listeners.get(topic, ()):
                try:
                    fn(frame["msg"])
                except (ValueError, KeyError, TypeError) as exc:
                    log.warning("listener refused a message", topic=topic, error=str(exc))
            for fut in self._waiters.pop(topic, []):
                if not fut.done():
                    fut.set_result(frame["msg"])
        elif op == "action_feedback":
            entry = self._goals.get(str(frame.get("id")))
            if entry and entry[0] is not None:
                entry[0](frame.get("values") or {})
        elif op == "action_result":
            entry = self._goals.pop(str(frame.get("id")), None)
            if entry and not entry[1].done():
                entry[1].set_result(frame)

    async def _send(self, frame: dict[str, Any]) -> None:
        ws = await self.ensure()
        try:
            await ws.send(json.dumps(frame))
        except ConnectionClosed:
            self._ws = None
            raise RobotUnavailable(f"rosbridge connection to {self.url} lost while sending") from None

    # ------------------------------------------------------------------ services
    async def call_service(
        self, service: str, args: dict[str, Any] | None = None, timeout_s: float = 5.0
    ) -> dict[str, Any]:
        rid = f"call_service:{service}:{next(self._ids)}"
        fut: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        self._pending[rid] = fut
        try:
            await self._send({"op": "call_service", "id": rid, "service": service, "args": args or {}})
            return await asyncio.wait_for(fut, timeout_s)
        except TimeoutError:
            raise RobotUnavailable(f"{service} did not answer within {timeout_s:g}s") from None
        finally:
            self._pending.pop(rid, None)

    # -------------------------------------------------------------------- topics
    async def sample(
        self, topic: str, type_: str, max_age_s: float = 1.0, timeout_s: float = 3.0
    ) -> dict[str, Any]:
        """The latest message on ``topic`` (subscribing on first use), at most ``max_age_s`` old."""
        if topic not in self._subs:
            self._subs[topic] = type_
            await self._send({"op": "subscribe", "topic": topic, "type": type_})
        else:
            await self.ensure()
        fresh = time.monotonic() - self._stamp.get(topic, -1e9) <= max_age_s
        if topic in self._latest and fresh:
            return self._latest[topic]
        fut: asyncio.Future[dict[str, Any]] = asyncio.get_running_loop().create_future()
        self._waiters.setdefault(topic, []).append(fut)
        try:
            return await asyncio.wait_for(fut, timeout_s)
        except TimeoutError:
            raise RobotUnavailable(f"no message on {topic} within {timeout_s:g}s") from None

    async def listen(self, topic: str, type_: str, fn: Callable[[dict[str, Any]], None]) -> None:
        """Call ``fn`` with every message on ``topic`` from now on (subscribing if needed);
        listeners survive reconnects, as subscriptions do."""
        self._listeners.setdefault(topic, []).append(fn)
        if topic not in self._subs:
            self._subs[topic] = type_
            await self._send({"op": "subscribe", "topic": topic, "type": type_})
        else:
            await self.ensure()

    async def publish(self, topic: str, type_: str, msg: dict[str, Any]) -> None:
        if topic not in self._advertised:
            await self._send({"op": "advertise", "topic": topic, "type": type_})
            self._advertised.add(topic)
        await self._send({"op": "publish", "topic": topic, "msg": msg})

    # ------------------------------------------------------------------- actions
    async def send_goal(
        self,
        action: str,
        action_type: str,
        args: dict[str, Any],
        on_feedback: Callable[[dict[str, Any]], None] | None = None,
    ) -> tuple[str, asyncio.Future[Any]]:
        gid = f"auraison-goal-{int(time.time() * 1000)}-{next(self._ids)}"
        fut: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        self._goals[gid] = (on_feedback, fut)
        await self._send(
            {
                "op": "send_action_goal",
                "id": gid,
                "action": action,
                "action_type": action_type,
                "args": args,
                "feedback": True,
            }
        )
        return gid, fut

    async def cancel_goal(self, action: str, goal_id: str) -> None:
        await self._send({"op": "cancel_action_goal", "id": goal_id, "action": action})
