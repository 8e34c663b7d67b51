"""The robot's motion watchdog: the robot half of the dead-man lease, as a process on the robot.

``auraison robot watchdog`` runs ON the robot, next to rosbridge and Nav2. The robot plane
(``lease.py``) publishes a heartbeat on ``/auraison/motion_lease`` while a goal or a drive it
commanded runs; this process tracks each holder's deadline on its own clock and, when a
holder's heartbeats stop for its ``ttl_s`` (a SIGKILLed or frozen gateway, a cut network
between gateway and robot), halts the robot: it cancels every ``navigate_to_pose`` goal, zeroes
``/cmd_vel`` a few times, and says why (a structlog line, a JSON ``std_msgs/String`` on
``/auraison/lease_halt`` and a ``/rosout`` line). An e-stop on ``/auraison/estop`` halts the
robot the same way, whoever sent it; a ``"released"`` heartbeat drops its holder.

**Authority.** It acts on the robot on its own authority, as the robot's safety system (like an
e-stop button wired to the motors), not as an agent: it calls no tool, goes through no AgentOps
engine and asks nobody, because the only thing it ever does is stop the robot, and a stop that
waits for a policy or a person is no dead-man switch. It never starts a motion.

**How it cancels.** Through Nav2's own ``/navigate_to_pose/_action/cancel_goal`` service
(``action_msgs/srv/CancelGoal``) with a zero goal id and a zero stamp, which in ROS 2 means
"every goal": it reaches goals that other rosbridge connections sent (the dead gateway's),
which rosbridge's ``cancel_action_goal`` op does not (a rosbridge connection can cancel only its
own goals). The simulator serves that service too, so one code path works on both.

**What it cannot do.** While its rosbridge connection is down it cannot halt anything: it says
so in the log, reconnects with bounded backoff, and halts at once on reconnect for every lease
that ran out meanwhile (it missed those heartbeats, so it assumes the worst). It cannot stop a
robot whose rosbridge or Nav2 is itself hung, and a zero ``/cmd_vel`` loses to a controller
that keeps publishing; it stops only motions that run under the lease (or an e-stop).

**Why its own bookkeeping.** The simulator carries the same few lines (``sim/engine.py``
``MotionWatchdog``), but the two cannot share a module: ``sim/`` imports nothing of Auraison but
``geometry/`` and the robot plane must not import the simulator (``tests/unit/test_geometry.py``),
and holder deadlines are not geometry. The sim counts sim seconds, this node a monotonic clock.
"""

from __future__ import annotations

import asyncio
import contextlib
import math
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Literal

import structlog
from pydantic import BaseModel, Field, ValidationError

from .lease import TOPIC as LEASE_TOPIC
from .lease import TYPE as STRING_TYPE
from .rosbridge import RobotUnavailable, RosbridgeClient, ServiceFailed

log = structlog.get_logger("auraison.robot.watchdog")

ESTOP_TOPIC = "/auraison/estop"
HALT_TOPIC = "/auraison/lease_halt"
NODE_NAME = "auraison_motion_watchdog"
CANCEL_SERVICE = "/navigate_to_pose/_action/cancel_goal"
CANCEL_TYPE = "action_msgs/srv/CancelGoal"
# ROS 2: a zero goal id and a zero stamp cancel every goal of the action server.
CANCEL_ALL = {"goal_info": {"goal_id": {"uuid": [0] * 16}, "stamp": {"sec": 0, "nanosec": 0}}}
ZERO_TWIST = {"linear": {"x": 0.0, "y": 0.0, "z": 0.0}, "angular": {"x": 0.0, "y": 0.0, "z": 0.0}}


class Heartbeat(BaseModel):
    """One message on ``/auraison/motion_lease`` (written by ``MotionLease._send``). A message
    that does not validate is ignored, so a holder's lease still runs out: it fails safe."""

    holder: str = Field(min_length=1, max_length=200)
    state: Literal["held", "released"]
    ttl_s: float = Field(gt=0, le=3600, allow_inf_nan=False)
    seq: int = 0


@dataclass
class Lease:
    renewed_at: float  # the node's monotonic clock
    deadline: float
    ttl_s: float
    seq: int


class LeaseBook:
    """Each holder's deadline on one monotonic clock; several holders (gateways) at once."""

    def __init__(self) -> None:
        self.leases: dict[str, Lease] = {}

    def renew(self, beat: Heartbeat, now: float) -> bool:
        """Record a heartbeat; True when the holder is new (not merely renewing)."""
        new = beat.holder not in self.leases
        self.leases[beat.holder] = Lease(now, now + beat.ttl_s, beat.ttl_s, beat.seq)
        return new

    def release(self, holder: str) -> bool:
        return self.leases.pop(holder, None) is not None

    def pop_expired(self, now: float) -> list[tuple[str, Lease]]:
        """Holders whose deadline has come, removed: each is halted once."""
        out = [(h, lease) for h, lease in self.leases.items() if now >= lease.deadline]
        for holder, _ in out:
            del self.leases[holder]
        return out

    def next_deadline(self) -> float | None:
        return min((lease.deadline for lease in self.leases.values()), default=None)


class Halt(BaseModel):
    """One halt, as logged and published on ``/auraison/lease_halt``."""

    reason: Literal["lease_expired", "estop"]
    detail: str = Field(description="why, in words")
    holder: str | None = Field(None, description="the holder whose lease ran out")
    silent_s: float | None = Field(None, description="seconds from its last heartbeat to the halt")
    at: float = Field(description="unix time of the halt")
    goals_canceled: int | None = Field(None, description="Nav2 goals canceled; None: the cancel failed")
    cancel_error: str = ""
    zero_twists: int = Field(0, description="zero /cmd_vel messages delivered")

    @property
    def delivered(self) -> bool:
        return self.goals_canceled is not None or self.zero_twists > 0


class MotionWatchdogNode:
    """Watches the lease and e-stop topics over one rosbridge connection and halts the robot."""

    def __init__(
        self,
        client: RosbridgeClient,
        *,
        clock: Callable[[], float] = time.monotonic,
        zero_repeats: int = 3,
        zero_period_s: float = 0.05,
        cancel_timeout_s: float = 2.0,
        min_backoff_s: float = 0.2,
        max_backoff_s: float = 5.0,
    ) -> None:
        self.client = client
        self.clock = clock
        self.zero_repeats, self.zero_period_s = zero_repeats, zero_period_s
        self.cancel_timeout_s = cancel_timeout_s
        self.min_backoff_s, self.max_backoff_s = min_backoff_s, max_backoff_s
        self.book = LeaseBook()
        self.halts: deque[Halt] = deque(maxlen=1000)
        self.connected = asyncio.Event()
        self._changed = asyncio.Event()
        self._owed: list[Halt] = []  # halts that could not reach the robot: retried on reconnect
        self._tasks: set[asyncio.Task[Any]] = set()

    # -------------------------------------------------------------------- inputs
    def _on_lease(self, msg: dict[str, Any]) -> None:
        data = msg.get("data") if isinstance(msg, dict) else None
        try:
            beat = Heartbeat.model_validate_json(data if isinstance(data, str) else "")
        except ValidationError as exc:
            log.warning(
                "bad motion lease message ignored", error=exc.errors()[0]["msg"], data=str(data)[:200]
            )
            return
        if beat.state == "released":
            if self.book.release(beat.holder):
                log.info("motion lease released", holder=beat.holder)
        elif self.book.renew(beat, self.clock()):
            log.info("motion lease held", holder=beat.holder, ttl_s=beat.ttl_s)
        self._changed.set()

    def _on_estop(self, msg: dict[str, Any]) -> None:
        by = str(msg.get("data", "") if isinstance(msg, dict) else "")[:200] or "a client"
        self._spawn(self.halt("estop", f"e-stop by {by}"))

    def _spawn(self, coro: Any) -> None:
        task = asyncio.create_task(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    # --------------------------------------------------------------------- halts
    async def halt(
        self,
        reason: Literal["lease_expired", "estop"],
        detail: str,
        holder: str | None = None,
        silent_s: float | None = None,
    ) -> Halt:
        """Cancel every Nav2 goal and zero the velocity (both at once), then say why."""
        zeros = asyncio.create_task(self._zero())
        goals: int | None = None
        error = ""
        try:
            values = await self.client.call_service(
                CANCEL_SERVICE, CANCEL_ALL, timeout_s=self.cancel_timeout_s
            )
            goals = len(values.get("goals_canceling") or [])  # none running: ERROR_REJECTED, no goals
        except (RobotUnavailable, ServiceFailed) as exc:
            error = str(exc)
        record = Halt(
            reason=reason,
            detail=detail,
            holder=holder,
            silent_s=None if silent_s is None else round(silent_s, 3),
            at=time.time(),
            goals_canceled=goals,
            cancel_error=error,
            zero_twists=await zeros,
        )
        self.halts.append(record)
        fields = record.model_dump(exclude={"at", "detail"}, exclude_defaults=True)
        if not record.delivered:
            self._owed.append(record)
            log.error("robot NOT halted: rosbridge unreachable; halting on reconnect", why=detail, **fields)
            return record
        log.warning("robot halted by the motion watchdog", why=detail, **fields)
        with contextlib.suppress(RobotUnavailable):
            await self.client.publish(HALT_TOPIC, STRING_TYPE, {"data": record.model_dump_json()})
            await self.client.publish("/rosout", "rcl_interfaces/msg/Log", _rosout(f"{detail}: robot halted"))
        return record

    async def _zero(self) -> int:
        sent = 0
        for i in range(self.zero_repeats):
            if i:
                await asyncio.sleep(self.zero_period_s)  # pacing: outlast one controller cycle
            try:
                await self.client.publish("/cmd_vel", "geometry_msgs/msg/Twist", ZERO_TWIST)
                sent += 1
            except RobotUnavailable:
                break
        return sent

    async def _watch(self) -> None:
        """Halt each holder whose deadline comes; sleep until the next deadline or message."""
        while True:
            self._changed.clear()
            now = self.clock()
            for holder, lease in self.book.pop_expired(now):
                silent = now - lease.renewed_at
                await self.halt(
                    "lease_expired",
                    f"motion lease of {holder} expired "
                    f"({silent:.2f} s without a heartbeat, ttl {lease.ttl_s:g} s)",
                    holder,
                    silent,
                )
            deadline = self.book.next_deadline()
            timeout = None if deadline is None else max(0.0, deadline - self.clock())
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._changed.wait(), timeout)

    # ---------------------------------------------------------------- connection
    async def _stay_connected(self) -> None:
        for topic, fn in ((LEASE_TOPIC, self._on_lease), (ESTOP_TOPIC, self._on_estop)):
            with contextlib.suppress(RobotUnavailable):  # registered even so: sent on connect
                await self.client.listen(topic, STRING_TYPE, fn)
        backoff = self.min_backoff_s
        while True:
            try:
                await self.client.ensure()
            except RobotUnavailable as exc:
                log.error(
                    "cannot reach rosbridge: the watchdog cannot halt the robot",
                    error=str(exc),
                    retry_s=backoff,
                )
                await asyncio.sleep(backoff)
                backoff = min(backoff * 2, self.max_backoff_s)
                continue
            backoff = self.min_backoff_s
            self.connected.set()
            log.info("motion watchdog watching", url=self.client.url, topics=[LEASE_TOPIC, ESTOP_TOPIC])
            owed, self._owed = self._owed, []
            for record in owed:
                await self.halt(
                    record.reason, f"{record.detail} (while disconnected)", record.holder, record.silent_s
                )
            await self.client.wait_closed()
            self.connected.clear()
            log.error(
                "rosbridge connection lost: the watchdog cannot halt the robot until it reconnects",
                url=self.client.url,
                holders=sorted(self.book.leases),
            )

    async def run(self, stop: asyncio.Event | None = None) -> None:
        """Watch until ``stop`` is set (forever if None), then disconnect."""
        tasks = [asyncio.create_task(self._stay_connected()), asyncio.create_task(self._watch())]
        stopping = asyncio.create_task((stop or asyncio.Event()).wait())
        try:
            await asyncio.wait([*tasks, stopping], return_when=asyncio.FIRST_COMPLETED)
            for task in tasks:  # they run forever: one that ended failed, and nothing watches now
                if task.done():
                    log.critical(
                        "motion watchdog failed: the robot is unwatched", error=repr(task.exception())
                    )
                    raise RuntimeError("the motion watchdog stopped watching") from task.exception()
        finally:
            stopping.cancel()
            for task in [*tasks, *self._tasks]:
                task.cancel()
            await asyncio.gather(*tasks, *self._tasks, return_exceptions=True)
            await self.client.close()


def _rosout(text: str) -> dict[str, Any]:
    now = time.time()
    sec = math.floor(now)
    return {
        "stamp": {"sec": sec, "nanosec": int((now - sec) * 1e9)},
        "level": 30,  # WARN, as the simulator's watchdog logs its halts
        "name": NODE_NAME,
        "msg": text,
        "file": "",
        "function": "",
        "line": 0,
    }


async def serve(url: str, stop: asyncio.Event | None = None) -> None:
    """The ``auraison robot watchdog`` process: one node on one rosbridge, until ``stop``."""
    node = MotionWatchdogNode(RosbridgeClient(url))
    log.info("motion watchdog starting", url=url)
    await node.run(stop)
