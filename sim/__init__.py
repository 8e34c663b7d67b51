"""A headless TurtleBot3 (burger) in a maze, behind a rosbridge v2 server.

Stands in for ROS 2 Jazzy + Nav2 + Gazebo: unmodified rosbridge clients (ros-mcp, roslibpy)
drive it. It holds only what a robot is — physics, sensors, its Nav2 navigator and the
rosbridge server; the maze, planner, pictures and pose math are ``auraison.geometry``, the one
part of Auraison this package imports.
"""

from __future__ import annotations

from typing import Any

__all__ = ["SimConfig", "Simulation"]

_LAZY = {"SimConfig": "engine", "Simulation": "engine"}


def __getattr__(name: str) -> Any:
    """Import on first use: the CLI must start fast, and numpy/scipy are only for the sim."""
    if name in _LAZY:
        import importlib

        return getattr(importlib.import_module(f".{_LAZY[name]}", __name__), name)
    raise AttributeError(name)
