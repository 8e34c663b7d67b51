"""A rosbridge v2 server (JSON over WebSocket) in front of the simulation.

Rules from the spec (``shared/specs/rosbridge-sim.md``) this file keeps:
R1 state is global, a disconnect drops only that connection's subscriptions; R2 publish and
unadvertise need no advertise; R3 a subscribe gets the latest sample at once; R4 no frame is
sent unasked, one ``service_response`` per ``call_service``, in order; R5 sends to a closed
socket are swallowed, goals outlive their connection, cancels match ids across connections;
R6 the ``type`` of ``call_service`` is not validated. Bad input is logged and, where rosbridge
would answer (service calls, action goals), answered with ``result: false`` — never a crash.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import json
import logging
import math
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from websockets.asyncio.server import Server, ServerConnection, serve
from websockets.exceptions import ConnectionClosed

from auraison.geometry.pose import yaw_of

from . import interfaces, rosapi
from .engine import ACTION, ESTOP_TOPIC, LEASE_TOPIC, TOPICS, Simulation
from .navigator import Goal

log = logging.getLogger("auraison.sim.bridge")

MAX_FRAME = 16 * 1024 * 1024
WALL_TICK = 0.01  # s between simulation advances
FEEDBACK_MIN_PERIOD = 0.1  # s of wall time between action_feedback frames to one client


@dataclass
class Subscription:
    topic: str
    sub_id: str | None
    throttle_s: float = 0.0
    last_sent: float = -math.inf


@dataclass(eq=False)
class Connection:
    ws: ServerConnection
    cid: int
    subs: dict[str, list[Subscription]] = field(default_factory=dict)
    advertised: dict[str, str] = field(default_factory=dict)
    closed: bool = False

    async def send_text(self, text: str) -> None:
        if self.closed:
            return
        try:
            await self.ws.send(text)
        except ConnectionClosed:
            self.closed = True
        except Exception as exc:
            log.debug("send to connection %s failed: %s", self.cid, exc)
            self.closed = True


def dumps(frame: dict[str, Any]) -> str:
    """JSON as rosbridge sends it: NaN/Inf become null."""
    try:
        return json.dumps(frame, allow_nan=False, separators=(",", ":"))
    except ValueError:
        return json.dumps(_nan_to_null(frame), separators=(",", ":"))


def _nan_to_null(obj: Any) -> Any:
    if isinstance(obj, float) and not math.isfinite(obj):
        return None
    if isinstance(obj, dict):
        return {k: _nan_to_null(v) for k, v in obj.items()}
    if isinstance(obj, list):
        return [_nan_to_null(v) for v in obj]
    return obj


class RosbridgeServer:
    """Serves one ``Simulation`` to any number of rosbridge v2 clients."""

    def __init__(
        self,
        sim: Simulation,
        host: str = "127.0.0.1",
        port: int = 9090,
        speed: float = 1.0,
        strict: bool = False,
    ) -> None:
        self.sim = sim
        self.host, self.port = host, port
        self.speed = speed
        self.strict = strict  # friendly mode: answer bad subscribe/publish with a status frame
        self.connections: set[Connection] = set()
        self.dynamic_topics: dict[str, str] = {}
        self._ids = itertools.count(1)
        self._last_publish: dict[str, float] = {}
        self._server: Server | None = None
        self._loop_task: asyncio.Task[None] | None = None
        self._pending: set[asyncio.Task[Any]] = set()
        self.frames_in = 0
        self.errors = 0
        sim.events.publish = self._on_event

    # ------------------------------------------------------------------ lifecycle
    async def start(self) -> None:
        self._server = await serve(
            self._handle,
            self.host,
            self.port,
            max_size=MAX_FRAME,
            ping_interval=None,
            open_timeout=10,
            close_timeout=1,
            compression=None,
        )
        self.port = self._server.sockets[0].getsockname()[1] if self.port == 0 else self.port
        self._loop_task = asyncio.create_task(self._run_clock())

    async def stop(self) -> None:
        if self._loop_task:
            self._loop_task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._loop_task
        if self._server:
            self._server.close()
            await self._server.wait_closed()
        for task in list(self._pending):
            task.cancel()

    @property
    def url(self) -> str:
        return f"ws://{self.host}:{self.port}"

    async def serve_forever(self) -> None:
        await self.start()
        try:
            await asyncio.Future()
        finally:
            await self.stop()

    # ---------------------------------------------------------------- sim clock
    async def _run_clock(self) -> None:
        last = time.monotonic()
        while True:
            await asyncio.sleep(WALL_TICK)
            now = time.monotonic()
            dt = min(now - last, 0.25)  # a stalled loop must not teleport the robot
            last = now
            try:
                self.sim.step(dt * self.speed)
                await self._publish_periodic(now)
            except Exception:
                log.exception("simulation step failed")

    async def _publish_periodic(self, now: float) -> None:
        for topic, info in TOPICS.items():
            if info.rate_hz <= 0 or not self.subscribed(topic):
                continue
            if now - self._last_publish.get(topic, -math.inf) < 1.0 / info.rate_hz:
                continue
            self._last_publish[topic] = now
            if topic == "/camera/image_raw/compressed":
                msg = await asyncio.to_thread(self.sim.sample, topic)
            else:
                msg = self.sim.sample(topic)
            if msg is not None:
                await self._deliver(topic, msg)

    def _on_event(self, topic: str, msg: dict[str, Any]) -> None:
        """Engine events (status, feedback, collisions, rosout) go to their subscribers."""
        if self.subscribed(topic):
            self._spawn(self._deliver(topic, msg))

    def _spawn(self, coro: Awaitable[Any]) -> None:
        task = asyncio.ensure_future(coro)
        self._pending.add(task)
        task.add_done_callback(self._pending.discard)

    # ------------------------------------------------------------------ delivery
    def subscribed(self, topic: str) -> bool:
        return any(topic in c.subs for c in self.connections)

    def advertisers(self, topic: str) -> list[Connection]:
        return [c for c in self.connections if topic in c.advertised]

    async def _deliver(self, topic: str, msg: dict[str, Any]) -> None:
        text: str | None = None
        now = time.monotonic()
        for conn in list(self.connections):
            for sub in conn.subs.get(topic, ()):
                if now - sub.last_sent < sub.throttle_s:
                    continue
                sub.last_sent = now
                text = text or dumps({"op": "publish", "topic": topic, "msg": msg})
                await conn.send_text(text)
                break  # one frame per connection per message, like rosbridge

    # ----------------------------------------------------------------- protocol
    async def _handle(self, ws: ServerConnection) -> None:
        conn = Connection(ws, next(self._ids))
        self.connections.add(conn)
        try:
            async for raw in ws:
                self.frames_in += 1
                await self._dispatch(conn, raw)
        except ConnectionClosed:
            pass
        except Exception:
            log.exception("connection %s failed", conn.cid)
        finally:
            conn.closed = True
            self.connections.discard(conn)  # R1: only this connection's subscriptions go

    async def _dispatch(self, conn: Connection, raw: str | bytes) -> None:
        try:
            frame = json.loads(raw)
        except (ValueError, UnicodeDecodeError) as exc:
            return self._bad(conn, None, f"Unable to deserialize message: {exc}")
        if not isinstance(frame, dict):
            return self._bad(conn, None, "a rosbridge frame must be a JSON object")
        op = frame.get("op")
        handler: Callable[[Connection, dict[str, Any]], Awaitable[None]] | None = (
            {
                "call_service": self._call_service,
                "subscribe": self._subscribe,
                "unsubscribe": self._unsubscribe,
                "advertise": self._advertise,
                "unadvertise": self._unadvertise,
                "publish": self._publish,
                "send_action_goal": self._send_action_goal,
                "cancel_action_goal": self._cancel_action_goal,
            }.get(op)
            if isinstance(op, str)
            else None
        )
        if handler is None:
            if op in ("set_level", "fragment", "png", "cbor", "auth", "status"):
                return None  # optional ops (R7): accepted, nothing to say
            return self._bad(conn, frame, f"Unknown operation: {op!r}")
        try:
            await handler(conn, frame)
        except Exception as exc:
            log.exception("op %s failed", op)
            self._bad(conn, frame, f"{op}: {type(exc).__name__}: {exc}")

    def _bad(self, conn: Connection, frame: dict[str, Any] | None, msg: str) -> None:
        """rosbridge logs these; ROS 2 rosbridge sends no status frame unless asked (strict)."""
        self.errors += 1
        log.warning("connection %s: %s", conn.cid, msg)
        if self.strict and frame is not None:
            status = {"op": "status", "level": "error", "msg": msg}
            if "id" in frame:
                status["id"] = frame["id"]
            self._spawn(conn.send_text(dumps(status)))

    # -- services
    async def _call_service(self, conn: Connection, frame: dict[str, Any]) -> None:
        name = frame.get("service")
        reply: dict[str, Any] = {"op": "service_response", "service": name}
        if "id" in frame:
            reply["id"] = frame["id"]
        args = frame.get("args") or {}  # an empty list is rosbridge's other way to say "no args"
        handler = rosapi.HANDLERS.get(name) if isinstance(name, str) else None
        if handler is None:
            reply |= {"values": f"Service {name} does not exist", "result": False}
        elif not isinstance(args, dict):
            reply |= {"values": "args must be an object of request fields", "result": False}
        else:
            try:
                reply |= {"values": handler(self, args), "result": True}
            except rosapi.ServiceFailure as exc:
                reply |= {"values": str(exc), "result": False}
        await conn.send_text(dumps(reply))

    # -- topics
    async def _subscribe(self, conn: Connection, frame: dict[str, Any]) -> None:
        topic = frame.get("topic")
        if not isinstance(topic, str) or not topic:
            return self._bad(conn, frame, "subscribe: 'topic' must be a non-empty string")
        known = topic in TOPICS or topic in self.dynamic_topics
        if not known and not frame.get("type"):
            return self._bad(conn, frame, f"subscribe: Cannot infer topic type for topic {topic}")
        throttle = frame.get("throttle_rate", 0)
        throttle_s = throttle / 1000 if isinstance(throttle, int | float) and throttle > 0 else 0.0
        sub_id = frame.get("id") if isinstance(frame.get("id"), str) else None
        subs = conn.subs.setdefault(topic, [])
        subs[:] = [s for s in subs if s.sub_id != sub_id]
        sub = Subscription(topic, sub_id, throttle_s)
        subs.append(sub)
        info = TOPICS.get(topic)
        if info is not None and (info.rate_hz > 0 or info.latched):
            # R3: push the latest sample now; clients give up after 0.5 s.
            if topic == "/camera/image_raw/compressed":
                msg = await asyncio.to_thread(self.sim.sample, topic)
            else:
                msg = self.sim.sample(topic)
            if msg is not None:
                sub.last_sent = time.monotonic()
                await conn.send_text(dumps({"op": "publish", "topic": topic, "msg": msg}))

    async def _unsubscribe(self, conn: Connection, frame: dict[str, Any]) -> None:
        topic = frame.get("topic")
        if topic not in conn.subs:
            return None
        sub_id = frame.get("id")
        if sub_id is None:
            del conn.subs[topic]
        else:
            conn.subs[topic] = [s for s in conn.subs[topic] if s.sub_id != sub_id]
            if not conn.subs[topic]:
                del conn.subs[topic]
        return None

    async def _advertise(self, conn: Connection, frame: dict[str, Any]) -> None:
        topic, type_ = frame.get("topic"), frame.get("type")
        if not isinstance(topic, str) or not isinstance(type_, str) or not topic:
            return self._bad(conn, frame, "advertise: 'topic' and 'type' must be strings")
        known = TOPICS.get(topic)
        want = interfaces.normalize(type_)
        stamped_cmd = topic == "/cmd_vel" and want == "geometry_msgs/TwistStamped"
        if known and want != interfaces.normalize(known.type) and not stamped_cmd:
            return self._bad(conn, frame, f"advertise: {topic} already has type {known.type}")
        conn.advertised[topic] = type_
        if not known:
            self.dynamic_topics.setdefault(topic, type_)
        return None

    async def _unadvertise(self, conn: Connection, frame: dict[str, Any]) -> None:
        conn.advertised.pop(frame.get("topic"), None)  # R2: legal without advertise

    async def _publish(self, conn: Connection, frame: dict[str, Any]) -> None:
        topic, msg = frame.get("topic"), frame.get("msg", {})
        if not isinstance(topic, str):
            return self._bad(conn, frame, "publish: 'topic' must be a string")
        type_ = conn.advertised.get(topic) or (TOPICS[topic].type if topic in TOPICS else None)
        type_ = type_ or self.dynamic_topics.get(topic)
        if type_ is None:  # R2: ROS 2 rosbridge drops it and logs
            return self._bad(conn, frame, f"publish: Cannot infer topic type for topic {topic}")
        if topic == "/cmd_vel":
            return self._cmd_vel(conn, frame, msg)
        if topic == LEASE_TOPIC:
            return self._lease(conn, frame, msg)
        if topic == ESTOP_TOPIC:
            parsed = self._parse(conn, frame, "std_msgs/String", msg)
            if parsed is not None:
                self.sim.estop(str(parsed["data"])[:200])
                if self.subscribed(ESTOP_TOPIC):  # an external watchdog hears it too
                    await self._deliver(ESTOP_TOPIC, parsed)
            return None
        if topic == "/goal_pose":
            goal = self._parse(conn, frame, "geometry_msgs/PoseStamped", msg)
            if goal is not None:
                p = goal["pose"]
                self.sim.navigate(
                    f"goal_pose_{time.monotonic_ns()}",
                    p["position"]["x"],
                    p["position"]["y"],
                    yaw_of(p["orientation"]),
                )
            return None
        if interfaces.definition(type_) is not None:
            msg = self._parse(conn, frame, type_, msg)
            if msg is None:
                return None
        if self.subscribed(topic):
            await self._deliver(topic, msg)
        return None

    def _parse(self, conn: Connection, frame: dict[str, Any], type_: str, msg: Any) -> dict[str, Any] | None:
        try:
            return interfaces.from_json(type_, msg)
        except (interfaces.NonexistentFieldError, interfaces.FieldTypeError) as exc:
            kind = (
                "NonexistentFieldException"
                if isinstance(exc, interfaces.NonexistentFieldError)
                else "FieldTypeMismatchException"
            )
            self._bad(conn, frame, f"publish: {kind}: {exc}")
            return None

    def _cmd_vel(self, conn: Connection, frame: dict[str, Any], msg: Any) -> None:
        # Accept both Twist and TwistStamped shapes (Humble vs Jazzy TB3).
        stamped = isinstance(msg, dict) and ("twist" in msg or "header" in msg)
        twist = self._parse(
            conn, frame, "geometry_msgs/TwistStamped" if stamped else "geometry_msgs/Twist", msg
        )
        if twist is None:
            return
        if stamped:
            twist = twist["twist"]
        if not self.sim.command_velocity(twist["linear"]["x"], twist["angular"]["z"]):
            self._bad(conn, frame, "publish: /cmd_vel with non-finite velocity dropped")

    def _lease(self, conn: Connection, frame: dict[str, Any], msg: Any) -> None:
        """A motion-lease heartbeat: JSON ``{"holder", "state": "held"|"released", "ttl_s"}`` in a
        String. The TTL is wall time; the simulation's watchdog counts sim time, hence ``speed``."""
        parsed = self._parse(conn, frame, "std_msgs/String", msg)
        if parsed is None:
            return
        try:
            body = json.loads(parsed["data"])
            holder, state, ttl = str(body.get("holder", "")), str(body["state"]), float(body.get("ttl_s", 0))
        except (ValueError, KeyError, TypeError, AttributeError) as exc:
            return self._bad(conn, frame, f"publish: {LEASE_TOPIC}: bad lease message: {exc}")
        self.sim.lease_message(holder, state, ttl * self.speed)
        if self.subscribed(LEASE_TOPIC):
            self._spawn(self._deliver(LEASE_TOPIC, parsed))

    # -- actions
    async def _send_action_goal(self, conn: Connection, frame: dict[str, Any]) -> None:
        goal_id, action = frame.get("id"), frame.get("action")
        if not isinstance(goal_id, str) or not goal_id:
            goal_id = f"send_action_goal:{action}:{time.monotonic_ns()}"
        base = {"op": "action_result", "id": goal_id, "action": action}
        if action != ACTION:
            await conn.send_text(
                dumps(base | {"values": f"Action {action} does not exist", "status": 0, "result": False})
            )
            return
        try:
            args = interfaces.from_json("nav2_msgs/NavigateToPose_Goal", frame.get("args") or {})
        except (interfaces.NonexistentFieldError, interfaces.FieldTypeError) as exc:
            await conn.send_text(
                dumps(base | {"values": f"Goal rejected: {exc}", "status": 0, "result": False})
            )
            return
        frame_id = args["pose"]["header"]["frame_id"]
        if frame_id not in ("", "map", "odom"):
            await conn.send_text(
                dumps(
                    base
                    | {
                        "values": f"Goal rejected: unknown frame {frame_id!r}",
                        "status": 0,
                        "result": False,
                    }
                )
            )
            return
        pose = args["pose"]["pose"]
        want_feedback = frame.get("feedback") is True
        last_fb = [-math.inf]

        def on_feedback(goal: Goal, values: dict[str, Any]) -> None:
            now = time.monotonic()
            if want_feedback and now - last_fb[0] >= FEEDBACK_MIN_PERIOD:
                last_fb[0] = now
                self._spawn(
                    conn.send_text(
                        dumps(
                            {
                                "op": "action_feedback",
                                "id": goal.goal_id,
                                "action": ACTION,
                                "values": values,
                            }
                        )
                    )
                )

        def on_result(goal: Goal) -> None:
            self._spawn(
                conn.send_text(
                    dumps(
                        base
                        | {
                            "id": goal.goal_id,
                            "values": goal.result(),
                            "status": int(goal.status),
                            "result": True,
                        }
                    )
                )
            )

        self.sim.navigate(
            goal_id,
            pose["position"]["x"],
            pose["position"]["y"],
            yaw_of(pose["orientation"]),
            on_feedback,
            on_result,
        )

    async def _cancel_action_goal(self, conn: Connection, frame: dict[str, Any]) -> None:
        goal_id = frame.get("id")
        if not isinstance(goal_id, str) or self.sim.cancel(goal_id) is None:
            self._bad(conn, frame, f"cancel_action_goal: no goal with id {goal_id!r}")
