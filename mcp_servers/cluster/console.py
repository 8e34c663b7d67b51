"""The operator console's side of the control API: the routes its pages read and act through,
and the pages themselves (``console/``'s static Next.js export, served at ``/console``).

One process serves both (``auraison control serve``). Every route here is decided by the one
AgentOps engine as the MCP tool it stands for (``x-auraison-tool``), exactly like the rest of
the control API: the e-stop is ``robot_stop``, an approval decision is ``approvals_decide``
(people only: a person's API key proves a human; ``check_decider`` refuses anyone else), reads
are the plane's read tools and act on the caller's tenant only. The robot's live stream is
decided once, when it opens, as ``robot_get_state``; after that it only reads.

Without Node.js the export is missing: ``/console`` then answers a page that says how to build
it, and the API works as before.

No ``from __future__ import annotations``: FastAPI resolves these route signatures at run time.
"""

import asyncio
import itertools
import json
import math
import os
import time
from collections import deque
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, Literal

import structlog
from fastapi import FastAPI, Query, Request
from fastapi import Path as PathParam
from fastapi.responses import FileResponse, HTMLResponse, RedirectResponse, StreamingResponse
from fastapi.staticfiles import StaticFiles
from pydantic import BaseModel, Field

from auraison.errors import AuraisonError, NotFound
from auraison.geometry.grid import UNKNOWN, WALL
from auraison.identity import Identity, Role

if TYPE_CHECKING:
    from auraison.mcp_servers.robot.service import RobotService
    from auraison.runtime import Runtime

log = structlog.get_logger("auraison.console")

REPO = Path(__file__).resolve().parents[2]
EXPORT = Path(os.environ.get("AURAISON_CONSOLE_DIR") or REPO / "console" / "out")
"""The built console (``npm run build`` in ``console/``); ``AURAISON_CONSOLE_DIR`` moves it."""
TOOL = "x-auraison-tool"
TRACE_ID = r"^[0-9a-f]{32}$"
EXP_ID = r"^exp_[0-9a-f]{12}$"
ACTION, ACTION_TYPE = "/navigate_to_pose", "nav2_msgs/action/NavigateToPose"
GOAL_STATES = {1: "navigating", 2: "navigating", 3: "canceled", 4: "succeeded", 5: "canceled", 6: "aborted"}
"""action_msgs/GoalStatus codes as the robot plane's navigation states (accepted counts as going)."""
PERIOD_S = 0.2
"""How often the robot stream sends a snapshot (5 Hz: a map, not a control loop)."""
STREAM_LIMIT_S = 600.0
"""A stream ends after this long (the page reconnects): no response outlives its use."""

Execute = Callable[[Request, Identity, dict[str, Any], Callable[[], Awaitable[Any]]], Awaitable[Any]]

NOT_BUILT = """<!doctype html><html lang="en"><head><meta charset="utf-8">
<title>Auraison console: not built</title></head>
<body style="font-family: system-ui, sans-serif; max-width: 44rem; margin: 3rem auto; line-height: 1.5">
<h1>The Auraison console is not built</h1>
<p>The control API works (see <a href="/docs">/docs</a>); the console's pages are a static
Next.js export that needs Node.js 20 or newer to build, once:</p>
<pre>make console        # = cd console &amp;&amp; npm ci &amp;&amp; npm run build</pre>
<p>No Node.js here? On Debian or Ubuntu: <code>apt-get install -y nodejs npm</code>; or use
<a href="https://nodejs.org/">nodejs.org</a>. Then restart <code>auraison control serve</code>.</p>
<p>Looked for: <code>{where}</code></p>
</body></html>"""


class Decide(BaseModel):
    approve: bool
    reason: str = Field("", max_length=500, description="kept with the decision")


def tool(name: str) -> dict[str, Any]:
    return {"openapi_extra": {TOOL: name}, "tags": ["console"]}


# ---------------------------------------------------------------------------------- robot
class RobotTrack:
    """What the map shows beyond the current pose, fed by the robot's own topics: the driven
    trail (``/odom``), Nav2's planned path (``/plan``) and the collisions (``/collision``).
    Whoever drives — an agent in this process, Claude Code through another gateway, a person —
    the map shows it, because it listens to the robot, not to the caller."""

    TRAIL = 5000
    STEP_M = 0.02

    def __init__(self, robot: "RobotService") -> None:
        self.robot = robot
        self.trail: deque[tuple[float, float]] = deque(maxlen=self.TRAIL)
        self.appended = 0
        """Points ever appended (a stream sends the ones its client has not seen)."""
        self.path: list[tuple[float, float]] = []
        self.path_length_m = 0.0
        self.collisions: list[dict[str, float]] = []
        self.goal: dict[str, Any] | None = None
        """The robot's latest Nav2 goal as the robot reports it (whoever sent it): ``state``
        and ``distance_remaining_m``."""
        self._pose: tuple[float, float] | None = None
        self._started: asyncio.Task[None] | None = None

    async def start(self) -> None:
        if self._started is None:
            self._started = asyncio.ensure_future(self._listen())
        await asyncio.shield(self._started)

    async def _listen(self) -> None:
        client = self.robot.client
        topics = (
            ("/odom", "nav_msgs/msg/Odometry", self._on_odom),
            ("/plan", "nav_msgs/msg/Path", self._on_plan),
            ("/collision", "std_msgs/msg/Bool", self._on_collision),
            (f"{ACTION}/_action/status", "action_msgs/msg/GoalStatusArray", self._on_status),
            (f"{ACTION}/_action/feedback", f"{ACTION_TYPE}_FeedbackMessage", self._on_feedback),
        )
        try:
            for topic, type_, handler in topics:
                await client.listen(topic, type_, handler)
        except BaseException:
            self._started = None  # try again on the next stream
            raise

    def _on_odom(self, msg: dict[str, Any]) -> None:
        p = msg["pose"]["pose"]["position"]
        xy = (round(float(p["x"]), 3), round(float(p["y"]), 3))
        self._pose = xy
        if not self.trail or math.dist(self.trail[-1], xy) >= self.STEP_M:
            self.trail.append(xy)
            self.appended += 1

    def _on_plan(self, msg: dict[str, Any]) -> None:
        pts = [(float(s["pose"]["position"]["x"]), float(s["pose"]["position"]["y"])) for s in msg["poses"]]
        self.path = [(round(x, 3), round(y, 3)) for x, y in pts]
        self.path_length_m = sum(math.dist(a, b) for a, b in itertools.pairwise(pts))

    def _on_collision(self, msg: dict[str, Any]) -> None:
        if msg.get("data") and self._pose is not None:
            self.collisions.append({"x": self._pose[0], "y": self._pose[1], "t": time.time()})

    def _on_status(self, msg: dict[str, Any]) -> None:
        goals = msg.get("status_list") or []
        if goals:
            latest = goals[-1]
            uuid = latest["goal_info"]["goal_id"]["uuid"]
            kept = self.goal if self.goal and self.goal["uuid"] == uuid else {"distance_remaining_m": None}
            self.goal = {**kept, "uuid": uuid, "state": GOAL_STATES.get(int(latest["status"]), "unknown")}

    def _on_feedback(self, msg: dict[str, Any]) -> None:
        if self.goal and self.goal["uuid"] == msg["goal_id"]["uuid"]:
            self.goal["distance_remaining_m"] = round(float(msg["feedback"]["distance_remaining"]), 2)

    def since(self, seen: int) -> tuple[list[tuple[float, float]], bool]:
        """The trail points after the first ``seen`` ever appended, and whether the client must
        start over (it missed points the bounded trail no longer holds)."""
        new = self.appended - seen
        if new > len(self.trail) or seen == 0:
            return list(self.trail), True
        return list(self.trail)[len(self.trail) - new :] if new else [], False


async def map_json(robot: "RobotService") -> dict[str, Any]:
    """The occupancy map for a canvas: one character per cell, row 0 at the map's origin (its
    bottom edge); ``#`` wall, ``?`` unknown, ``.`` free."""
    world = await robot.world()
    chars = {WALL: "#", UNKNOWN: "?"}
    rows = ["".join(chars.get(int(v), ".") for v in row) for row in world.grid]
    return {
        "width": world.width,
        "height": world.height,
        "resolution": world.resolution,
        "origin": list(world.origin),
        "rows": rows,
        "places": [
            {"name": n, "x": x, "y": y, "yaw": yaw} for n, (x, y, yaw) in sorted(robot.places.items())
        ],
    }


async def snapshot(robot: "RobotService", track: RobotTrack, seen: int) -> tuple[dict[str, Any], int]:
    state = await robot.state()
    points, reset = track.since(seen)
    nav = state.navigation.model_dump(mode="json")
    if nav["state"] != "navigating" and track.goal is not None and track.goal["state"] != nav["state"]:
        # A goal this process did not send (a CLI run, a Claude Code gateway): the robot's word.
        goal = {"x": track.path[-1][0], "y": track.path[-1][1], "yaw": 0.0} if track.path else None
        nav = {
            "state": track.goal["state"],
            "goal": goal,
            "goal_id": None,
            "distance_remaining_m": track.goal["distance_remaining_m"],
            "message": "a goal sent by another process (its stop, not this e-stop, cancels it)",
        }
    progress = None
    remaining = nav["distance_remaining_m"]
    if nav["state"] == "navigating" and remaining is not None and track.path_length_m > 0:
        progress = max(0.0, min(1.0, 1 - remaining / track.path_length_m))
    elif nav["state"] == "succeeded":
        progress = 1.0
    body = {
        "t": time.time(),
        **state.model_dump(mode="json"),
        "navigation": nav,
        "progress": progress,
        "path": track.path,
        "path_length_m": round(track.path_length_m, 2),
        "trail": points,
        "trail_reset": reset,
        "collisions": track.collisions[-200:],
    }
    return body, track.appended


SPAN_COLUMNS = {
    "trace_id": "VARCHAR",
    "span_id": "VARCHAR",
    "parent_id": "VARCHAR",
    "name": "VARCHAR",
    "kind": "VARCHAR",
    "start_ns": "BIGINT",
    "end_ns": "BIGINT",
    "status": "VARCHAR",
    "tenant": "VARCHAR",
    "agent": "VARCHAR",
    "tool": "VARCHAR",
    "decision": "VARCHAR",
    "input_tokens": "BIGINT",
    "output_tokens": "BIGINT",
    "cost": "DOUBLE",
}


def query_trace_file(settings: Any, sql: str, tenant: str, limit: int) -> dict[str, Any]:
    """``sql`` over the tenant's rows of the JSONL trace file, as a table named ``spans`` with
    the lake's columns: where spans are kept when ``agentops.lake_sink`` is off (the JSONL file
    is written by every process in any case)."""
    import duckdb

    from auraison.agentops.factory import trace_file

    path = trace_file(settings)
    con = duckdb.connect()
    try:
        cols = ", ".join(f"{k} {v}" for k, v in SPAN_COLUMNS.items())
        con.execute(f"CREATE TABLE spans ({cols})")
        if path.is_file() and path.stat().st_size:
            spec = "{" + ", ".join(f"'{k}': '{v}'" for k, v in SPAN_COLUMNS.items()) + "}"
            con.execute(
                f"INSERT INTO spans SELECT * FROM read_json(?, format = 'newline_delimited', "
                f"columns = {spec}, ignore_errors = true) WHERE tenant = ?",
                [str(path), tenant],
            )
        rel = con.execute(sql)
        columns = [d[0] for d in rel.description]
        rows = rel.fetchmany(limit)
    finally:
        con.close()
    return {"columns": columns, "rows": [list(r) for r in rows]}


def sse(event: str, data: Any) -> bytes:
    return f"event: {event}\ndata: {json.dumps(data, default=str)}\n\n".encode()


# ---------------------------------------------------------------------------------- routes
def add_console(app: FastAPI, rt: "Runtime", who_dep: Any, execute: Execute) -> None:
    """The console's routes on the control API's ``app`` (``who_dep``: its bearer identity;
    ``execute``: its one way to run a route under the engine), then the pages at ``/console``."""
    Who = who_dep
    engine = rt.engine
    tracks: dict[int, RobotTrack] = {}

    def track_of(robot: "RobotService") -> RobotTrack:
        return tracks.setdefault(id(robot), RobotTrack(robot))

    async def lake_query(
        request: Request, who: Identity, sql: str, limit: int, spans: bool = False
    ) -> list[dict[str, Any]]:
        """``sql`` over the caller's rows only (the lake's sandbox), decided as ``lake_query``
        with exactly these arguments; rows as objects. ``spans``: a query over the spans table,
        read from the JSONL trace file instead when spans do not go to the lake."""

        def run() -> Awaitable[dict[str, Any]]:
            if spans and not rt.settings.agentops.lake_sink:
                return asyncio.to_thread(query_trace_file, rt.settings, sql, who.tenant, limit)
            from auraison.lakehouse.sandbox import run_query  # the lake's stack loads on first use

            return asyncio.to_thread(run_query, rt.lake, sql, who.tenant, limit)

        result = await execute(request, who, {"sql": sql, "limit": limit}, run)
        return [dict(zip(result["columns"], r, strict=True)) for r in result["rows"]]

    @app.get("/whoami", tags=["console"])
    async def whoami(who: Who) -> dict[str, Any]:
        """Who the bearer token proves: the console's sign-in check (no tool runs)."""
        return {
            "tenant": who.tenant,
            "role": str(who.role),
            "kind": str(who.kind),
            "subject": who.subject,
            "principal": who.principal(),
            "human": who.is_human,
        }

    # ---- robot
    @app.get("/robot/state", **tool("robot_get_state"))
    async def robot_state(request: Request, who: Who) -> dict[str, Any]:
        state = await execute(request, who, {}, rt.robot.state)
        return state.model_dump(mode="json")

    @app.get("/robot/map", **tool("robot_get_map"))
    async def robot_map(request: Request, who: Who) -> dict[str, Any]:
        return await execute(request, who, {}, lambda: map_json(rt.robot))

    @app.post("/robot/stop", **tool("robot_stop"))
    async def robot_stop(request: Request, who: Who) -> dict[str, Any]:
        """The e-stop: zero velocity now, abort any drive, cancel the active goal."""
        state = await execute(request, who, {}, rt.robot.stop)
        return state.model_dump(mode="json")

    # Not in the OpenAPI document: an endless text/event-stream is no JSON operation (a client
    # generated from the document, or a fuzzer, would wait on it forever).
    @app.get("/robot/stream", include_in_schema=False, **tool("robot_get_state"))
    async def robot_stream(request: Request, who: Who) -> StreamingResponse:
        """Server-sent events: ``state`` five times a second (pose, velocity, navigation and
        progress, planned path, new trail points, collisions); ``error`` while the robot is
        unreachable. Decided once, as ``robot_get_state``, when it opens."""
        robot = rt.robot
        track = track_of(robot)

        async def first() -> tuple[dict[str, Any], int]:
            await track.start()
            return await snapshot(robot, track, 0)

        opened = await execute(request, who, {}, first)

        async def events() -> AsyncIterator[bytes]:
            body, seen = opened
            yield sse("state", body)
            until = time.monotonic() + STREAM_LIMIT_S
            while time.monotonic() < until and not await request.is_disconnected():
                await asyncio.sleep(PERIOD_S)
                try:
                    await track.start()
                    body, seen = await snapshot(robot, track, seen)
                except AuraisonError as exc:
                    yield sse("error", {"detail": str(exc)})
                    await asyncio.sleep(1.0)
                    continue
                yield sse("state", body)

        headers = {"Cache-Control": "no-cache", "X-Accel-Buffering": "no"}
        return StreamingResponse(events(), media_type="text/event-stream", headers=headers)

    # ---- approvals
    @app.get("/approvals", **tool("approvals_list"))
    async def approvals_list(
        request: Request,
        who: Who,
        status: Literal["pending", "approved", "denied", "expired", "used", "all"] = "pending",
    ) -> list[dict[str, Any]]:
        """The caller's tenant's approval requests (redacted arguments, who asked, expiry)."""
        args = {"status": status} if "status" in request.query_params else {}

        async def run() -> list[dict[str, Any]]:
            items = [a.effective() for a in await engine.approvals.list(who.tenant)]
            items.sort(key=lambda a: a.created_at, reverse=True)
            return [a.model_dump() for a in items if status in ("all", a.status)]

        return await execute(request, who, args, run)

    @app.post("/approvals/{approval_id}/decide", **tool("approvals_decide"))
    async def approvals_decide(
        request: Request,
        who: Who,
        approval_id: Annotated[str, PathParam(pattern=r"^apr_[0-9a-f]{4,60}$")],
        decision: Decide,
    ) -> dict[str, Any]:
        """Approve or deny (people only: agents never decide, nobody decides their own)."""
        args = {"approval_id": approval_id, "approve": decision.approve, "reason": decision.reason}

        async def run() -> dict[str, Any]:
            current = await engine.approvals.get(approval_id)
            if current is None or (current.tenant != who.tenant and who.role is not Role.admin):
                raise NotFound(f"no approval {approval_id!r} in tenant {who.tenant}", "see GET /approvals")
            approve, reason = decision.approve, decision.reason
            return (await engine.approvals.decide(approval_id, approve, by=who, reason=reason)).model_dump()

        return await execute(request, who, args, run)

    # ---- usage (management plane)
    @app.get("/usage/quotas", **tool("billing_quota_get"))
    async def quotas(request: Request, who: Who) -> list[dict[str, Any]]:
        lines = await execute(
            request, who, {}, lambda: asyncio.to_thread(rt.billing.quota_get, who, who.tenant)
        )
        return [q.model_dump(mode="json") for q in lines]

    @app.get("/usage/invoice", **tool("billing_invoice_preview"))
    async def invoice(request: Request, who: Who) -> dict[str, Any]:
        inv = await execute(
            request, who, {}, lambda: asyncio.to_thread(rt.billing.invoice_preview, who, who.tenant)
        )
        return inv.model_dump(mode="json")

    # ---- traces and experiments (data plane, through the tenant-scoped sandbox)
    @app.get("/traces", **tool("lake_query"))
    async def traces(
        request: Request, who: Who, limit: Annotated[int, Query(ge=1, le=500)] = 50
    ) -> list[dict[str, Any]]:
        """Recent traces (agent runs and single tool calls), newest first, with their usage."""
        sql = (
            "SELECT trace_id, arg_min(name, start_ns) AS root, max(agent) AS agent, "
            "min(start_ns) AS start_ns, max(end_ns) AS end_ns, count(*) AS spans, "
            "sum(coalesce(input_tokens, 0)) AS input_tokens, sum(coalesce(output_tokens, 0)) AS "
            "output_tokens, sum(coalesce(cost, 0)) AS cost, max(CASE WHEN lower(status) = 'error' "
            "THEN 1 ELSE 0 END) AS errors, "
            "max(CASE WHEN name LIKE 'chat %' THEN substr(name, 6) END) AS model "
            "FROM spans GROUP BY trace_id ORDER BY start_ns DESC"
        )
        return await lake_query(request, who, sql, limit, spans=True)

    @app.get("/traces/{trace_id}", **tool("lake_query"))
    async def trace(
        request: Request, who: Who, trace_id: Annotated[str, PathParam(pattern=TRACE_ID)]
    ) -> list[dict[str, Any]]:
        """One trace's spans in start order (the timeline: agent → model → tool → plane)."""
        sql = (
            "SELECT span_id, parent_id, name, kind, start_ns, end_ns, status, agent, tool, decision, "
            f"input_tokens, output_tokens, cost FROM spans WHERE trace_id = '{trace_id}' ORDER BY start_ns"
        )
        return await lake_query(request, who, sql, 2000, spans=True)

    @app.get("/experiments", **tool("lake_query"))
    async def experiments(request: Request, who: Who) -> list[dict[str, Any]]:
        sql = (
            "SELECT e.experiment_id, e.name, e.created_ns, count(r.run_id) AS runs FROM experiments e "
            "LEFT JOIN runs r ON r.experiment_id = e.experiment_id GROUP BY ALL ORDER BY e.created_ns DESC"
        )
        return await lake_query(request, who, sql, 200)

    @app.get(
        "/experiments/{experiment_id}/plot.png",
        response_class=FileResponse,
        responses={200: {"content": {"image/png": {}}, "description": "the plot"}},
        **tool("cluster_runs_compare"),
    )
    async def runs_plot(
        request: Request,
        who: Who,
        experiment_id: Annotated[str, PathParam(pattern=EXP_ID)],
        metric: Annotated[str, Query(pattern=r"^[A-Za-z0-9_./-]{1,100}$")],
    ) -> FileResponse:
        """The runs-compare plot (one metric by step, one line per run) as a PNG."""
        args = {"experiment_id": experiment_id, "metric": metric}
        out = await execute(
            request,
            who,
            args,
            lambda: asyncio.to_thread(rt.control.runs_compare, who, experiment_id, metric, True),
        )
        return FileResponse(out["plot"], media_type="image/png", headers={"Cache-Control": "no-store"})

    mount_pages(app)


def mount_pages(app: FastAPI, export: Path | None = None) -> None:
    """The console's pages at ``/console`` (and ``/`` sends a browser there). Mounted after every
    API route, so the API keeps precedence; without a build, a page that says how to make one."""
    where = export or EXPORT

    @app.get("/", include_in_schema=False)
    async def root() -> RedirectResponse:
        return RedirectResponse("/console/")

    if (where / "index.html").is_file():
        app.mount("/console", StaticFiles(directory=where, html=True), name="console")
        return
    page = NOT_BUILT.replace("{where}", str(where))

    @app.get("/console", include_in_schema=False)
    @app.get("/console/{rest:path}", include_in_schema=False)
    async def not_built(rest: str = "") -> HTMLResponse:
        return HTMLResponse(page, status_code=503)
