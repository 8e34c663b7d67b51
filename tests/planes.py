"""Small plane servers for gateway tests and benchmarks (the real ones mount the same way)."""

from __future__ import annotations

from typing import Annotated

from fastmcp import FastMCP
from pydantic import Field


def robot_plane() -> FastMCP:
    robot = FastMCP("robot")

    @robot.tool
    def get_state() -> dict:
        """Pose and status."""
        return {"x": 0.75, "y": 0.75}

    @robot.tool
    def navigate_to(x: float, y: float) -> str:
        """Drive to a map point."""
        return f"arrived at ({x}, {y})"

    @robot.tool
    def drive(linear: Annotated[float, Field(ge=-1, le=1)], duration: float = 1.0) -> str:
        """Open-loop drive."""
        return f"drove {linear} for {duration}s"

    @robot.tool
    def stop() -> str:
        """E-stop."""
        return "stopped"

    return robot


def lake_plane() -> FastMCP:
    lake = FastMCP("lake")

    @lake.tool
    def query(sql: str) -> list[dict]:
        """Read-only SQL."""
        return [{"sql": sql}]

    return lake
