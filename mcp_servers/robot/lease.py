"""The dead-man lease on motion: the robot moves only while its caller is alive.

Every goal and drive of the robot plane runs inside ``MotionLease.hold``. The lease has two
halves, because the process that holds it may be the one that dies:

* **The holder (this module, in the robot plane's process).** While a motion runs it publishes a
  heartbeat on ``/auraison/motion_lease`` (``std_msgs/String``, JSON ``{"holder", "state",
  "ttl_s", "seq"}``) every ``ttl_s / 4``; the first one goes out *before* the goal or the first
  velocity, on the same rosbridge connection, so no motion ever starts unleased. The session
  of a caller is the process that serves it (one stdio gateway per Claude Code session, or the
  agent's own process): when that session ends cleanly — stdin closed, SIGTERM, the runtime
  closed — ``close`` halts the robot at once and records why. When the session is alive but
  stops renewing (``renewer`` says no), the holder halts it itself.
* **The watchdog (on the robot).** The robot stops when heartbeats stop for ``ttl_s``: a
  SIGKILLed or frozen gateway, a cut network between gateway and robot. Nothing of the dead
  process is needed for that. The simulator carries the watchdog (``sim/engine.py``
  ``MotionWatchdog``: cancels the active Nav2 goal, zeroes ``/cmd_vel``, logs to ``/rosout``);
  a real robot runs the same few lines as a node next to Nav2 (``watchdog.py``,
  ``auraison robot watchdog``).

What the lease does not cover: a caller on the gateway's HTTP transport whose network to the
gateway is cut while the gateway itself stays up — the gateway keeps renewing for it. Anyone who
can publish on the topic can also renew or release a lease: through the gateway that is ros-mcp's
``ros_publish``, which the default policy holds for a person's approval.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import json
import os
import socket
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Literal

import structlog
from pydantic import BaseModel, Field

from .rosbridge import RobotUnavailable

log = structlog.get_logger("auraison.robot.lease")

TOPIC = "/auraison/motion_lease"
TYPE = "std_msgs/msg/String"

Publish = Callable[[str, str, dict[str, str]], Awaitable[None]]
Halt = Callable[[str], Awaitable[None]]


class LeaseStatus(BaseModel):
    """The motion lease as ``robot_get_state`` shows it: who holds it, and how the last one ended."""

    holder: str = Field(description="this robot plane's lease holder (host:pid:id)")
    ttl_s: float = Field(description="the robot stops this long after the heartbeats stop")
    state: Literal["idle", "held", "released", "expired"] = "idle"
    motion: str | None = Field(None, description="the motion running under the lease")
    ended_reason: str = Field("", description="why the last lease ended (a halt says what halted it)")
    ended_at: float | None = Field(None, description="unix time the last lease ended")
    halts: int = Field(0, description="motions this process halted because a lease ended early")


def holder_name() -> str:
    return f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:6]}"


class MotionLease:
    """One robot plane's lease on motion (one per ``RobotService``)."""

    def __init__(
        self,
        publish: Publish,
        halt: Halt,
        ttl_s: float = 1.0,
        *,
        holder: str | None = None,
        renewer: Callable[[], bool] | None = None,
    ) -> None:
        self._publish, self._halt = publish, halt
        self.ttl_s = ttl_s
        self.renewer = renewer  # None: the process is the session, alive while it runs
        self.status = LeaseStatus(holder=holder or holder_name(), ttl_s=ttl_s)
        self._depth = 0
        self._gen = 0  # bumped when a lease ends, so a hold that outlived its lease ends nothing
        self._seq = itertools.count(1)
        self._beats: asyncio.Task[None] | None = None
        self._current: asyncio.Task[object] | None = None

    @property
    def held(self) -> bool:
        return self._depth > 0

    async def _send(self, state: str) -> None:
        body = {"holder": self.status.holder, "state": state, "ttl_s": self.ttl_s, "seq": next(self._seq)}
        await self._publish(TOPIC, TYPE, {"data": json.dumps(body)})

    @contextlib.asynccontextmanager
    async def hold(self, motion: str) -> AsyncIterator[None]:
        """Run one motion under the lease. Nested holds (a route of several goals) share it."""
        if self._depth == 0:
            await self._send("held")  # before any motion command, on the same connection
            self.status = self.status.model_copy(
                update={"state": "held", "motion": motion, "ended_reason": "", "ended_at": None}
            )
            self._beats = asyncio.create_task(self._heartbeats(), name="motion-lease")
        self._depth += 1
        gen, self._current = self._gen, asyncio.current_task()
        try:
            yield
        finally:
            if gen == self._gen:
                self._depth -= 1
                if self._depth == 0:
                    await self._end("released", "motion ended", halt=False)

    async def _heartbeats(self) -> None:
        period = self.ttl_s / 4
        while True:
            await asyncio.sleep(period)
            if self.renewer is not None and not self.renewer():
                await self._expire("the caller's session stopped renewing the lease")
                return
            try:
                await self._send("held")
            except RobotUnavailable as exc:  # the robot is gone: its own watchdog has the motion
                log.warning("motion lease heartbeat not delivered", holder=self.status.holder, error=str(exc))

    async def _expire(self, reason: str) -> None:
        current = self._current
        await self._end("expired", reason, halt=True)
        if current is not None and not current.done():
            current.cancel()  # the motion's own cancel path sends the goal cancel too

    async def close(self, reason: str = "the caller's session ended") -> None:
        """The session is over: a motion still under the lease is halted now, and recorded."""
        if self.held:
            await self._end("released", reason, halt=True)

    async def _end(self, state: Literal["released", "expired"], reason: str, *, halt: bool) -> None:
        beats, self._beats = self._beats, None
        if beats is not None and beats is not asyncio.current_task():
            beats.cancel()
        self._depth, self._gen, self._current = 0, self._gen + 1, None
        halts = self.status.halts + (1 if halt else 0)
        self.status = self.status.model_copy(
            update={"state": state, "ended_reason": reason, "ended_at": time.time(), "halts": halts}
        )
        if halt:
            log.warning(
                "motion lease ended: robot halted",
                holder=self.status.holder,
                motion=self.status.motion,
                reason=reason,
            )
            with contextlib.suppress(RobotUnavailable):
                await self._halt(reason)
        with contextlib.suppress(RobotUnavailable):
            await self._send("released")
