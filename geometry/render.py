"""Pictures of a world: the maze, its named places, and a driven path, as PNG."""

from __future__ import annotations

import colorsys
import itertools
import json
import math
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw, ImageFont

from .grid import FREE, UNKNOWN, World

WALL_RGB = (38, 50, 72)
FREE_RGB = (246, 244, 238)
UNKNOWN_RGB = (190, 190, 196)
GRID_RGB = (232, 229, 220)
PLACE_COLORS = [
    (231, 111, 81),
    (42, 157, 143),
    (233, 196, 106),
    (38, 70, 83),
    (244, 162, 97),
    (131, 56, 236),
    (6, 214, 160),
    (239, 71, 111),
]


def load_path(path: Path) -> list[tuple[float, float]]:
    """A trajectory file: a JSON list of [x, y] pairs or of {"x":…, "y":…} objects, or an
    object with a ``points``/``path`` list of those."""
    data = json.loads(Path(path).read_text())
    if isinstance(data, dict):
        data = data.get("points") or data.get("path") or []
    out = []
    for p in data:
        if isinstance(p, dict):
            out.append((float(p["x"]), float(p["y"])))
        else:
            out.append((float(p[0]), float(p[1])))
    return out


def render(
    world: World,
    path: list[tuple[float, float]] | None = None,
    size: int = 900,
    title: str | None = None,
) -> Image.Image:
    w_m, h_m = world.size_m
    margin, header = 24, 44
    scale = (size - 2 * margin) / max(w_m, h_m)
    width = int(w_m * scale) + 2 * margin
    height = int(h_m * scale) + 2 * margin + header
    img = Image.new("RGB", (width, height), (255, 255, 255))
    draw = ImageDraw.Draw(img)
    font = _font(15)
    small = _font(12)

    def px(x: float, y: float) -> tuple[float, float]:
        return (
            margin + (x - world.origin[0]) * scale,
            header + margin + (h_m - (y - world.origin[1])) * scale,
        )

    # Cells
    rgb = np.empty((*world.grid.shape, 3), dtype=np.uint8)
    rgb[world.grid == FREE] = FREE_RGB
    rgb[world.grid == UNKNOWN] = UNKNOWN_RGB
    rgb[(world.grid != FREE) & (world.grid != UNKNOWN)] = WALL_RGB
    cells = Image.fromarray(np.flipud(rgb)).resize(
        (int(w_m * scale), int(h_m * scale)), Image.Resampling.NEAREST
    )
    img.paste(cells, (margin, header + margin))
    # A 1 m grid, drawn only on free space, helps read distances.
    for gx in range(1, math.ceil(w_m)):
        x0, _ = px(world.origin[0] + gx, 0)
        draw.line([(x0, header + margin), (x0, header + margin + h_m * scale)], fill=GRID_RGB, width=1)
    for gy in range(1, math.ceil(h_m)):
        _, y0 = px(0, world.origin[1] + gy)
        draw.line([(margin, y0), (margin + w_m * scale, y0)], fill=GRID_RGB, width=1)
    img.paste(_walls_only(cells), (margin, header + margin), _walls_only(cells))

    # Path, coloured from blue (start) to red (end)
    if path and len(path) > 1:
        n = len(path)
        for i, (a, b) in enumerate(itertools.pairwise(path)):
            r, g, bl = colorsys.hsv_to_rgb(0.62 - 0.62 * i / max(n - 2, 1), 0.85, 0.9)
            draw.line(
                [px(*a), px(*b)],
                fill=(int(r * 255), int(g * 255), int(bl * 255)),
                width=max(3, int(scale * 0.06)),
            )
        ex, ey = px(*path[-1])
        rr = max(5, scale * 0.11)
        draw.ellipse([ex - rr, ey - rr, ex + rr, ey + rr], outline=(200, 30, 30), width=3)

    # Start pose
    sx, sy, syaw = world.start
    _arrow(draw, px(sx, sy), syaw, max(10, scale * 0.3), (30, 30, 30))

    # Places
    for i, (name, (x, y, _)) in enumerate(sorted(world.places.items())):
        color = PLACE_COLORS[i % len(PLACE_COLORS)]
        cx, cy = px(x, y)
        r = max(6, scale * 0.14)
        draw.ellipse([cx - r, cy - r, cx + r, cy + r], fill=color, outline=(255, 255, 255), width=2)
        label = f"{name} ({x:g}, {y:g})"
        tw = draw.textlength(label, font=small)
        tx = min(max(cx - tw / 2, 2), width - tw - 2)
        ty = cy + r + 2 if cy + r + 18 < height else cy - r - 16
        draw.rectangle([tx - 3, ty - 1, tx + tw + 3, ty + 14], fill=(255, 255, 255))
        draw.text((tx, ty), label, fill=color, font=small)

    heading = title or f"{world.name} — {w_m:g} m × {h_m:g} m, {world.resolution} m/cell"
    if path:
        length = sum(math.dist(a, b) for a, b in itertools.pairwise(path))
        heading += f" — path {length:.1f} m"
    draw.text((margin, 14), heading, fill=(20, 20, 20), font=font)
    return img


def _walls_only(cells: Image.Image) -> Image.Image:
    """An RGBA copy where only wall pixels are opaque (to draw walls above the grid lines)."""
    arr = np.asarray(cells.convert("RGB"))
    alpha = np.all(arr == WALL_RGB, axis=-1).astype(np.uint8) * 255
    return Image.fromarray(np.dstack([arr, alpha]), "RGBA")


def _arrow(
    draw: ImageDraw.ImageDraw,
    at: tuple[float, float],
    yaw: float,
    length: float,
    color: tuple[int, int, int],
) -> None:
    x, y = at
    tip = (x + length * math.cos(yaw), y - length * math.sin(yaw))
    left = (x + 0.45 * length * math.cos(yaw + 2.5), y - 0.45 * length * math.sin(yaw + 2.5))
    right = (x + 0.45 * length * math.cos(yaw - 2.5), y - 0.45 * length * math.sin(yaw - 2.5))
    draw.polygon([tip, left, (x, y), right], fill=color)


def _font(size: int) -> ImageFont.ImageFont | ImageFont.FreeTypeFont:
    for name in ("DejaVuSans.ttf", "/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf"):
        try:
            return ImageFont.truetype(name, size)
        except OSError:
            continue
    return ImageFont.load_default(size)


def save_png(img: Image.Image, out: Path) -> Path:
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    img.save(out, format="PNG", optimize=True)
    return out
