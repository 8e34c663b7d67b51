"""World-model data: trajectories, frames and verdicts."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, Field


class TrajectoryPoint(BaseModel):
    t: float = Field(description="seconds from now")
    x: float
    y: float
    yaw: float


class Frame(BaseModel):
    """One image; ``data`` is base64 of the encoded bytes."""

    t: float = 0.0
    format: Literal["jpeg", "png"] = "jpeg"
    data: str = Field(repr=False)
    synthetic: bool = True


class Prediction(BaseModel):
    trajectory: list[TrajectoryPoint]
    frames: list[Frame]
    backend: str
    stand_in: bool = Field(description="True when produced by the local stand-in, not a Cosmos model")


class Check(BaseModel):
    name: str
    ok: bool
    detail: str


class Verdict(BaseModel):
    verdict: Literal["go", "no_go", "uncertain"]
    rationale: str
    confidence: float = Field(ge=0, le=1)
    checks: list[Check] = []
    backend: str = "local"
    stand_in: bool = True
