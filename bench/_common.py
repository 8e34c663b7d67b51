"""Small helpers shared by the benchmarks: percentiles and a uniform report line."""

from __future__ import annotations

import platform
import statistics


def pct(values: list[float], p: float) -> float:
    s = sorted(values)
    return s[min(len(s) - 1, round(p / 100 * (len(s) - 1)))]


def machine() -> str:
    import os

    return f"{platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}"


def report(name: str, figure: str, target: str = "", ratio: str = "") -> None:
    parts = [f"{name:<44} {figure}"]
    if ratio:
        parts.append(f"[{ratio}]")
    if target:
        parts.append(f"(target {target})")
    print("  ".join(parts), flush=True)


def median(values: list[float]) -> float:
    return statistics.median(values)
