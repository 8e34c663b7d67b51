"""Argument guardrails: ranges, enums, patterns, sizes and a geofence for robot goals.

Each check returns the first violation as a ``Decision.deny`` whose hint says what would pass,
or, where the policy gives one, what to use instead (a raw ``/cmd_vel`` publish → ``robot_drive``).
"""

from __future__ import annotations

import json
import math
import re
from typing import Any

from .decision import Decision
from .policy import ArgConstraint, Geofence, ToolConstraints

_MISSING = object()


def check(rule: str, c: ToolConstraints, args: dict[str, Any]) -> Decision | None:
    if c.deny is not None:
        return Decision.deny(f"this tool is refused (rule {rule})", c.deny, rule)
    if c.max_args_bytes is not None:
        size = len(json.dumps(args, default=str).encode())
        if size > c.max_args_bytes:
            return Decision.deny(
                f"arguments are {size} bytes, over the {c.max_args_bytes}-byte limit",
                "send less data, e.g. a smaller query or fewer items",
                rule,
            )
    for path, ac in c.args.items():
        if (d := _check_arg(rule, path, ac, lookup(args, path))) is not None:
            return d if ac.hint is None else Decision.deny(d.reason, ac.hint, rule)
    if c.geofence is not None:
        return _check_geofence(rule, c.geofence, args)
    return None


def lookup(args: dict[str, Any], path: str) -> Any:
    value: Any = args
    for part in path.split("."):
        if not isinstance(value, dict) or part not in value:
            return _MISSING
        value = value[part]
    return value


def _check_arg(rule: str, path: str, c: ArgConstraint, value: Any) -> Decision | None:
    if value is _MISSING or value is None:
        if c.required:
            return Decision.deny(f"argument '{path}' is required", f"pass '{path}'", rule)
        return None
    numeric = isinstance(value, int | float) and not isinstance(value, bool)
    if (c.min is not None or c.max is not None) and numeric:
        if not math.isfinite(value):
            return Decision.deny(f"'{path}' must be a finite number", _range_hint(path, c), rule)
        if (c.min is not None and value < c.min) or (c.max is not None and value > c.max):
            return Decision.deny(f"'{path}' = {value} is out of range", _range_hint(path, c), rule)
    if c.enum is not None and value not in c.enum:
        return Decision.deny(f"'{path}' = {value!r} is not allowed", f"use one of {c.enum}", rule)
    if c.pattern is not None and not (isinstance(value, str) and re.search(c.pattern, value)):
        return Decision.deny(
            f"'{path}' does not match the allowed pattern", f"it must match /{c.pattern}/", rule
        )
    if c.not_pattern is not None:
        # Any value is checked in its text form, so a non-string cannot slip past a deny rule.
        text = value if isinstance(value, str) else json.dumps(value, default=str)
        if re.search(c.not_pattern, text):
            return Decision.deny(
                f"'{path}' = {_short(value)} is refused", f"'{path}' must not match /{c.not_pattern}/", rule
            )
    if c.max_length is not None and isinstance(value, str | list | dict) and len(value) > c.max_length:
        return Decision.deny(
            f"'{path}' has length {len(value)}, over {c.max_length}",
            f"keep '{path}' to at most {c.max_length}",
            rule,
        )
    return None


def _short(value: Any, limit: int = 80) -> str:
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _range_hint(path: str, c: ArgConstraint) -> str:
    lo = "-inf" if c.min is None else f"{c.min:g}"
    hi = "inf" if c.max is None else f"{c.max:g}"
    return f"use a value of '{path}' within [{lo}, {hi}]"


def _check_geofence(rule: str, g: Geofence, args: dict[str, Any]) -> Decision | None:
    x, y = lookup(args, g.x), lookup(args, g.y)
    if x is _MISSING and y is _MISSING:
        return None  # not a coordinate goal (e.g. a named place, checked where it resolves)
    ok = all(isinstance(v, int | float) and not isinstance(v, bool) and math.isfinite(v) for v in (x, y))
    if not ok or not inside(float(x), float(y), g.polygon):
        xs, ys = [p[0] for p in g.polygon], [p[1] for p in g.polygon]
        return Decision.deny(
            f"goal ({x}, {y}) is outside the geofence",
            f"choose a goal inside the polygon {g.polygon} (x {min(xs):g}..{max(xs):g}, "
            f"y {min(ys):g}..{max(ys):g})",
            rule,
        )
    return None


def inside(x: float, y: float, polygon: list[tuple[float, float]]) -> bool:
    """Point in polygon (even-odd ray casting); points on an edge count as inside."""
    n = len(polygon)
    result = False
    for i in range(n):
        (x1, y1), (x2, y2) = polygon[i], polygon[(i + 1) % n]
        if _on_segment(x, y, x1, y1, x2, y2):
            return True
        if (y1 > y) != (y2 > y) and x < (x2 - x1) * (y - y1) / (y2 - y1) + x1:
            result = not result
    return result


def _on_segment(x: float, y: float, x1: float, y1: float, x2: float, y2: float) -> bool:
    cross = (x2 - x1) * (y - y1) - (y2 - y1) * (x - x1)
    if abs(cross) > 1e-9:
        return False
    return min(x1, x2) - 1e-9 <= x <= max(x1, x2) + 1e-9 and min(y1, y2) - 1e-9 <= y <= max(y1, y2) + 1e-9
