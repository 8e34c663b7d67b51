"""``auraison sim …``: run the rosbridge simulator, or draw a world."""

from __future__ import annotations

import asyncio
import json
import logging
import signal
import sys
from pathlib import Path
from typing import Annotated

import typer

BUILTIN = ("maze_small", "maze_medium", "maze_large")  # = geometry.worldfile.BUILTIN, without numpy

app = typer.Typer(help="The TurtleBot3 maze simulator (rosbridge v2 on a WebSocket).", no_args_is_help=True)

WorldOpt = Annotated[str, typer.Option("--world", "-w", help=f"{', '.join(BUILTIN)} or a YAML file")]


def _world(name: str):
    from auraison.geometry.worldfile import WorldError, load_world

    try:
        return load_world(name)
    except WorldError as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(2) from None


@app.command()
def run(
    world: WorldOpt = "maze_small",
    host: Annotated[str, typer.Option(help="interface to bind (keep loopback unless needed)")] = "127.0.0.1",
    port: Annotated[int, typer.Option(min=0, max=65535, help="WebSocket port (0: any free one)")] = 9090,
    speed: Annotated[float, typer.Option(min=0.01, max=100.0, help="sim seconds per second")] = 1.0,
    seed: Annotated[int | None, typer.Option(help="seed for sensor/odometry noise")] = None,
    odom_noise: Annotated[float, typer.Option(min=0.0, max=1.0, help="odometry σ in m")] = 0.0,
    scan_noise: Annotated[float, typer.Option(min=0.0, max=1.0, help="scan σ in m")] = 0.0,
    cmd_vel_timeout: Annotated[
        float, typer.Option(min=0.0, help="stop after s without /cmd_vel; 0 keeps the last command")
    ] = 0.5,
    strict: Annotated[bool, typer.Option(help="answer bad subscribe/publish with a status frame")] = False,
    watchdog: Annotated[
        bool,
        typer.Option(
            help="built-in motion watchdog (lease expiry, e-stop); --no-watchdog leaves halting to "
            "an external `auraison robot watchdog`, as on a real robot"
        ),
    ] = True,
) -> None:
    """Serve a maze world over rosbridge v2 until Ctrl-C."""
    from .bridge import RosbridgeServer
    from .engine import SimConfig, Simulation

    w = _world(world)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(levelname)s %(message)s")
    logging.getLogger("websockets").setLevel(logging.WARNING)
    sim = Simulation(
        w,
        SimConfig(
            seed=seed,
            odom_noise=odom_noise,
            scan_noise=scan_noise,
            cmd_vel_timeout=cmd_vel_timeout,
            watchdog=watchdog,
        ),
    )

    async def main() -> None:
        server = RosbridgeServer(sim, host, port, speed, strict=strict)
        try:
            await server.start()
        except OSError as exc:
            typer.echo(f"error: cannot listen on {host}:{port}: {exc.strerror or exc}", err=True)
            raise typer.Exit(2) from None
        wm, hm = w.size_m
        typer.echo(f"rosbridge v2 simulator: {server.url}  world {w.name} ({wm:g} m × {hm:g} m)")
        typer.echo(f"speed {speed:g}× real time")
        typer.echo("places: " + ", ".join(f"{n} ({x:g}, {y:g})" for n, (x, y, _) in w.places.items()))
        typer.echo("Ctrl-C to stop")
        sys.stdout.flush()
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, stop.set)
        await stop.wait()
        await server.stop()

    asyncio.run(main())


@app.command()
def render(
    world: WorldOpt = "maze_small",
    out: Annotated[Path, typer.Option("--out", "-o", help="PNG to write")] = Path("map.png"),
    path: Annotated[Path | None, typer.Option("--path", help="trajectory JSON ([[x, y], …])")] = None,
    size: Annotated[int, typer.Option(min=200, max=4000, help="longest side in pixels")] = 900,
) -> None:
    """Draw the maze, its named places and (optionally) a driven path to a PNG."""
    from auraison.geometry.render import load_path, save_png
    from auraison.geometry.render import render as draw

    w = _world(world)
    points = None
    if path is not None:
        try:
            points = load_path(path)
        except (OSError, ValueError, KeyError, TypeError, IndexError) as exc:
            typer.echo(f"error: cannot read trajectory {path}: {exc}", err=True)
            raise typer.Exit(2) from None
    typer.echo(str(save_png(draw(w, points, size), out)))


@app.command()
def demo(
    world: WorldOpt = "maze_small",
    to: Annotated[str, typer.Option("--to", help="named place to drive to")] = "kitchen",
    out: Annotated[Path, typer.Option("--out", help="folder for the PNG and trajectory")] = Path("out"),
    speed: Annotated[float, typer.Option(min=0.1, max=100.0, help="sim seconds per second")] = 8.0,
) -> None:
    """Drive the robot to a place over rosbridge and draw the path (no ROS, no network)."""
    from .demo import run_demo

    w = _world(world)
    if to not in w.places:
        typer.echo(f"error: {w.name} has no place {to!r}; choose from {', '.join(w.places)}", err=True)
        raise typer.Exit(2)
    res = run_demo(w, to, out, speed)
    typer.echo(
        f"{res.status.name}: {res.distance_m:.1f} m driven in {res.sim_seconds:.0f} s of sim time"
        + (f" — {res.error_msg}" if res.error_msg else "")
    )
    typer.echo(f"map with path: {res.png}\ntrajectory: {res.trajectory}")
    if res.status.name != "SUCCEEDED":
        raise typer.Exit(1)


@app.command()
def worlds() -> None:
    """List the built-in worlds with their size and places."""
    from auraison.geometry.worldfile import load_world

    for name in BUILTIN:
        w = load_world(name)
        wm, hm = w.size_m
        typer.echo(json.dumps({"world": name, "size_m": [wm, hm], "places": list(w.places)}))
