"""``auraison demo`` succeeds only when the simulated robot reaches the place."""

from __future__ import annotations

from pathlib import Path

import pytest
from pydantic_ai import models

from auraison.agents.demo import DemoFailed, demo
from auraison.errors import UserError
from auraison.settings import Settings

models.ALLOW_MODEL_REQUESTS = False
TIGHT = Path(__file__).resolve().parents[2] / "data" / "tight_geofence.yaml"  # x beyond 3 m is denied


async def test_a_demo_that_does_not_arrive_fails_and_keeps_its_map(tmp_path: Path) -> None:
    s = Settings(home=tmp_path, agentops={"approvals": "memory", "policy_file": str(TIGHT)})
    with pytest.raises(DemoFailed) as err:
        await demo(s, "kitchen", out_dir=tmp_path / "out")
    res = err.value.result
    assert "did not reach the kitchen" in str(err.value) and "outside the geofence" in str(err.value)
    assert res.distance_m == 0 and res.off_by_m > 5 and res.png.is_file()  # the map is still written


async def test_an_unknown_place_is_a_user_error_before_anything_starts(tmp_path: Path) -> None:
    with pytest.raises(UserError, match=r"no place 'attic' in maze_small.*kitchen"):
        await demo(Settings(home=tmp_path), "attic", out_dir=tmp_path / "out")
    assert not (tmp_path / "out").exists()
