"""The robot's named places, and what AgentOps's guardrails see of a robot call.

Kept apart from the server so light callers (the Claude Code hook, which runs before every tool
call) can resolve a place without importing FastMCP; the world itself is loaded on demand.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from auraison.settings import Settings

Places = dict[str, tuple[float, float, float]]


def places_for(settings: Settings) -> Places:
    """The configured world's named places (x, y, yaw); none when the world cannot be loaded."""
    from auraison.geometry.worldfile import WorldError, load_world

    try:
        return dict(load_world(settings.robot.world).places)
    except WorldError:
        return {}


def policy_view(places: Places) -> Callable[[dict[str, Any]], dict[str, Any]]:
    """What AgentOps's guardrails see of a robot call: a named place resolved to its x/y, so a
    geofence judges where the call leads, not what it is called."""

    def view(args: dict[str, Any]) -> dict[str, Any]:
        place = args.get("place")
        if isinstance(place, str) and place in places and "x" not in args and "y" not in args:
            x, y, _ = places[place]
            return {**args, "x": x, "y": y}
        return args

    return view
