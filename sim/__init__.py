"""A headless TurtleBot3 (burger) in a maze, behind a rosbridge v2 server.

Stands in for ROS 2 Jazzy + Nav2 + Gazebo: unmodified rosbridge clients (ros-mcp, roslibpy)
drive it. This package imports nothing from the rest of Auraison.
"""

from __future__ import annotations

from typing import Any

__all__ = ["BUILTIN", "SimConfig", "Simulation", "World", "WorldError", "load_world"]

_LAZY = {
    "SimConfig": "engine",
    "Simulation": "engine",
    "BUILTIN": "world",
    "World": "world",
    "WorldError": "world",
    "load_world": "world",
}


def __getattr__(name: str) -> Any:
    """Import on first use: the CLI must start fast, and numpy/scipy are only for the sim."""
    if name in _LAZY:
        import importlib

        return getattr(importlib.import_module(f".{_LAZY[name]}", __name__), name)
    raise AttributeError(name)
