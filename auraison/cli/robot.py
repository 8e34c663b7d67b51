"""``auraison robot …``: the robot for people, through the in-process gateway so people get
AgentOps (policy, approvals, traces) exactly as agents do."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer

from auraison.errors import UserError

from .output import JsonOpt, console, err_console, print_json, show
from .state import get_settings

robot_app = typer.Typer(
    help="The robot, for people (through the gateway and AgentOps).", no_args_is_help=True
)


def _robot_call(tool: str, args: dict | None = None, progress: bool = False) -> Any:
    """Call a robot tool through the in-process gateway, so people get AgentOps too."""
    import asyncio
    import logging

    from fastmcp import Client

    from auraison.runtime import Runtime

    logging.getLogger("fastmcp").setLevel(logging.CRITICAL)  # a refused call is reported below, once

    async def run() -> Any:
        async with Runtime(get_settings()) as rt, Client(rt.gateway()) as c:
            if progress:
                with console().status("navigating…") as status:

                    async def on_progress(done: float, total: float | None, msg: str | None) -> None:
                        status.update(f"navigating… {msg or ''}")

                    res = await c.call_tool(
                        tool, args or {}, raise_on_error=False, progress_handler=on_progress
                    )
            else:
                res = await c.call_tool(tool, args or {}, raise_on_error=False)
        if res.is_error:
            raise UserError(res.content[0].text.splitlines()[0])
        data = res.structured_content or {}
        return data.get("result", data) if set(data) == {"result"} else data

    return asyncio.run(run())


@robot_app.command("state")
def robot_state(as_json: JsonOpt = False) -> None:
    """Pose, speed, navigation and connection."""
    import math

    s = _robot_call("robot_get_state")
    if as_json:
        print_json(s)
        return
    p = s["pose"]
    console().print(
        f"pose ({p['x']:.2f}, {p['y']:.2f}) heading {math.degrees(p['yaw']):.0f}°, "
        f"speed {s['linear_mps']:.2f} m/s, navigation {s['navigation']['state']}, "
        f"{'connected to' if s['connected'] else 'NOT connected to'} {s['rosbridge_url']}"
    )


@robot_app.command("places")
def robot_places(as_json: JsonOpt = False) -> None:
    """Named places and their distance from the robot."""
    places = _robot_call("robot_list_places")
    rows = [
        {
            "place": p["name"],
            "x": f"{p['x']:g}",
            "y": f"{p['y']:g}",
            "distance": "-" if p["distance_m"] is None else f"{p['distance_m']:.1f} m",
        }
        for p in places
    ]
    if as_json:
        print_json(places)
    else:
        show(rows, ["place", "x", "y", "distance"], False, "places")


@robot_app.command("goto")
def robot_goto(
    place: Annotated[str, typer.Argument(help="a named place (see `robot places`)")],
    safely: Annotated[bool, typer.Option(help="predict → reason before driving")] = True,
    map_out: Annotated[
        Path | None, typer.Option("--map", help="write the map with the robot to a PNG")
    ] = None,
) -> None:
    """Navigate to a named place and report the outcome."""
    out = _robot_call(
        "robot_navigate_safely" if safely else "robot_navigate_to", {"place": place}, progress=True
    )
    nav = out.get("navigation", out) if safely else out
    if safely:
        for step in out["steps"]:
            mark = "[green]✓[/]" if step["ok"] else "[yellow]✗[/]"
            console().print(f" {mark} {step['candidate']}: {step['stage']} — {step['detail']}")
    if nav:
        console().print(
            f"{nav['status']}: {nav['distance_travelled_m']} m in {nav['duration_s']} s, "
            f"now at ({nav['final_pose']['x']:.2f}, {nav['final_pose']['y']:.2f})"
            + (f" — {nav['message']}" if nav.get("message") else "")
        )
    else:
        console().print(f"{out['status']}")
    if map_out is not None:
        import asyncio
        import base64

        from fastmcp import Client

        from auraison.runtime import Runtime

        async def fetch() -> bytes:
            async with Runtime(get_settings()) as rt, Client(rt.gateway()) as c:
                res = await c.call_tool("robot_get_map", {})
                return base64.b64decode(res.content[1].data)

        map_out.write_bytes(asyncio.run(fetch()))
        console().print(f"map: {map_out}")
    if (nav or out)["status"] != "succeeded":
        raise typer.Exit(1)


@robot_app.command("record")
def robot_record(
    out: Annotated[Path, typer.Option("--out", help="the bag to write (.mcap)")],
    duration: Annotated[
        float | None, typer.Option(min=0.1, max=86_400, help="seconds to record (default: until Ctrl-C)")
    ] = None,
    register: Annotated[bool, typer.Option(help="register it in the lake (dataset + twin)")] = True,
    as_json: JsonOpt = False,
) -> None:
    """Record the robot (sim or real, over rosbridge) as a ROS 2 bag in MCAP: odom, scan, camera,
    cmd_vel, tf, map, plan, Nav2 feedback, collisions. Read-only: it subscribes, never publishes."""
    import asyncio
    import contextlib

    from auraison.mcp_servers.robot.places import places_for
    from auraison.mcp_servers.robot.recording import BagRecorder

    settings = get_settings()

    async def record() -> Any:
        s = settings.robot
        rec = BagRecorder(s.rosbridge_url, out, world=s.world, places=places_for(settings))
        try:
            await rec.start()
            err_console().print(
                f"recording {s.rosbridge_url} to {out}" + ("" if duration else " (Ctrl-C stops)")
            )
            with contextlib.suppress(asyncio.CancelledError):
                await asyncio.sleep(duration if duration else 10**9)
        finally:
            summary = await rec.stop(outcome="recorded")
        return summary

    try:
        summary = asyncio.run(record())
    except KeyboardInterrupt:  # the bag was closed by the recorder's finally
        summary = None
    if summary is None:
        from auraison.lakehouse.twin import read_bag

        summary_data = {"path": str(out.resolve()), **read_bag(out)["meta"]}
    else:
        summary_data = summary.model_dump(mode="json")
    result: dict[str, Any] = {"recording": summary_data}
    if register:
        from .twin import register as register_recording

        result["lake"] = register_recording(out)
    if as_json:
        print_json(result)
        return
    counts = summary_data.get("messages")
    console().print(f"wrote {summary_data['path']}: {counts}", highlight=False, markup=False)
    if "lake" in result:
        console().print(
            f"dataset {result['lake']['dataset_id']}, twin run {result['lake']['run_id']}", markup=False
        )


@robot_app.command("watchdog")
def robot_watchdog(
    rosbridge: Annotated[
        str | None, typer.Option("--rosbridge", help="rosbridge URL (default: robot.rosbridge_url)")
    ] = None,
    json_log: Annotated[bool, typer.Option("--json-log", help="log one JSON object per line")] = False,
) -> None:
    """Run the motion watchdog ON the robot, next to rosbridge and Nav2, until Ctrl-C: when a
    motion lease's heartbeats stop, or on an e-stop, cancel Nav2's goals and zero /cmd_vel. It
    is the robot's own safety system, not an agent: it acts without AgentOps, and only to stop."""
    import asyncio
    import signal

    from auraison.logging import configure_logging
    from auraison.mcp_servers.robot.watchdog import serve

    settings = get_settings()
    url = rosbridge or settings.robot.rosbridge_url
    if not url.startswith(("ws://", "wss://")):
        raise UserError(f"--rosbridge must be a ws:// or wss:// URL, got {url!r}")
    if json_log:
        configure_logging("json", settings.log_level)

    async def main() -> None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, stop.set)
        await serve(url, stop)

    asyncio.run(main())
