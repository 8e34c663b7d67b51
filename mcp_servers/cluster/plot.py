"""A small line chart as PNG with Pillow: one metric across runs (matplotlib would add ~40 MB
for one picture)."""

from __future__ import annotations

from pathlib import Path

from PIL import Image, ImageDraw, ImageFont

COLORS = ["#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2", "#7f7f7f"]


def line_chart(series: dict[str, list[tuple[float, float]]], title: str, path: Path, size=(800, 480)) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)  # before the first save, "no data points" included
    w, h = size
    left, right, top, bottom = 70, 170, 40, 50
    img = Image.new("RGB", size, "white")
    draw = ImageDraw.Draw(img)
    font = ImageFont.load_default()
    points = [p for pts in series.values() for p in pts]
    if not points:
        draw.text((left, h // 2), "no data points", fill="black", font=font)
        img.save(path)
        return path
    xs, ys = [p[0] for p in points], [p[1] for p in points]
    x0, x1 = min(xs), max(xs) if max(xs) > min(xs) else min(xs) + 1
    y0, y1 = min(ys), max(ys) if max(ys) > min(ys) else min(ys) + 1

    def at(x: float, y: float) -> tuple[float, float]:
        return (
            left + (x - x0) / (x1 - x0) * (w - left - right),
            h - bottom - (y - y0) / (y1 - y0) * (h - top - bottom),
        )

    draw.rectangle([left, top, w - right, h - bottom], outline="#888")
    for i in range(5):  # axis ticks
        fy, fx = y0 + (y1 - y0) * i / 4, x0 + (x1 - x0) * i / 4
        _, py = at(x0, fy)
        px, _ = at(fx, y0)
        draw.text((5, py - 6), f"{fy:.3g}", fill="black", font=font)
        draw.text((px - 10, h - bottom + 8), f"{fx:.3g}", fill="black", font=font)
    draw.text((left, 12), title, fill="black", font=font)
    for i, (name, pts) in enumerate(sorted(series.items())):
        color = COLORS[i % len(COLORS)]
        coords = [at(x, y) for x, y in sorted(pts)]
        if len(coords) > 1:
            draw.line(coords, fill=color, width=2)
        for cx, cy in coords:
            draw.ellipse([cx - 2, cy - 2, cx + 2, cy + 2], fill=color)
        draw.text((w - right + 10, top + 16 * i), name[:24], fill=color, font=font)
    img.save(path)
    return path
