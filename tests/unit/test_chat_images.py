"""`auraison chat --images DIR`: images that tools return are saved there (README, "Agents")."""

from __future__ import annotations

from pathlib import Path

from pydantic_ai import models
from pydantic_ai.models.test import TestModel

from auraison.agents import run
from auraison.settings import Settings
from tests.simthread import SimThread

models.ALLOW_MODEL_REQUESTS = False  # never a network model in tests


def pngs(folder: Path) -> list[Path]:
    return sorted(folder.rglob("*.png"))


async def test_images_from_tools_are_saved_and_reported(tmp_path: Path) -> None:
    """The map a tool returns lands in image_dir as a PNG; the call's result names the file."""
    seen: list[tuple[str, object]] = []
    out = tmp_path / "chat"
    with SimThread("maze_small") as sim:
        settings = Settings(
            home=tmp_path / "home", robot={"rosbridge_url": sim.url}, agentops={"approvals": "memory"}
        )
        res = await run(
            "navigator",
            "show me the map",
            settings=settings,
            model=TestModel(call_tools=["robot_get_map"]),
            image_dir=out,
            on_call=lambda name, args, ok, result: seen.append((name, result)),
        )
    (png,) = pngs(out)
    assert png.name == "001-robot_get_map.png" and png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    name, result = seen[0]
    assert name == "robot_get_map" and result["images"] == [str(png)]  # type: ignore[index]
    assert res.tool_calls[0]["result"]["images"] == [str(png)]


async def test_no_image_dir_saves_nothing(tmp_path: Path) -> None:
    """Programmatic runs without image_dir keep images out of the file system."""
    with SimThread("maze_small") as sim:
        settings = Settings(
            home=tmp_path / "home", robot={"rosbridge_url": sim.url}, agentops={"approvals": "memory"}
        )
        res = await run("navigator", "map", settings=settings, model=TestModel(call_tools=["robot_get_map"]))
    assert "images" not in str(res.tool_calls[0]["result"]) and not pngs(tmp_path)
