"""One façade over the world-model backends chosen by ``settings.world.backend``.

Whatever the backend, ``assess`` runs the geometric check locally and combines it with the
critic so that the critic can only deny or escalate: a critic's ``go`` never overrides a failed
geometric check.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from auraison.geometry.grid import World
from auraison.geometry.planner import Costmap
from auraison.settings import WorldSettings

from . import local, remote
from .models import Frame, Prediction, Verdict

RANK = {"go": 0, "uncertain": 1, "no_go": 2}


@dataclass
class WorldModel:
    settings: WorldSettings
    observers: list[Callable[[Prediction], None]] = field(default_factory=list)
    """Told of every rollout (an agent run's bag recorder listens, for the digital twin)."""

    @property
    def backend(self) -> str:
        return self.settings.backend

    def _key(self) -> str | None:
        k = self.settings.api_key
        return k.get_secret_value() if k else None

    async def predict(self, world: World, path: list[tuple[float, float]], speed: float) -> Prediction:
        pred = local.predict(world, path, speed)  # the kinematic rollout is always ours
        if self.backend == "nim":
            frames = await remote.predict(
                self.settings.predict_url,
                self._key(),
                pred.frames[0],
                "a TurtleBot driving through a maze, first-person view",
                self.settings.timeout_s,
            )
            pred = pred.model_copy(
                update={"frames": frames, "backend": "cosmos-predict2 (nim)", "stand_in": False}
            )
        for observe in self.observers:
            observe(pred)
        return pred

    async def transfer(self, frames: list[Frame]) -> list[Frame]:
        if self.backend == "nim":
            return await remote.transfer(
                self.settings.transfer_url,
                self._key(),
                frames,
                "photorealistic indoor office corridor",
                self.settings.timeout_s,
            )
        return local.transfer(frames)

    async def critic(self, frames: list[Frame], question: str) -> Verdict | None:
        """The learned critic's opinion (None for the local backend: geometry is the critic)."""
        if self.backend == "local":
            return None
        s = self.settings
        return await remote.reason(s.reason_url, s.reason_model, self._key(), frames, question, s.timeout_s)

    async def assess(
        self,
        world: World,
        costmap: Costmap,
        prediction: Prediction,
        frames: list[Frame],
        question: str,
        geofence: list[tuple[float, float]] | None = None,
    ) -> Verdict:
        geometric = local.critic(
            world, costmap, prediction.trajectory, self.settings.min_clearance_m, geofence
        )
        learned = await self.critic(frames, question)
        if learned is None:
            return geometric
        if RANK[learned.verdict] >= RANK[geometric.verdict]:
            return learned.model_copy(update={"checks": geometric.checks})
        return geometric.model_copy(
            update={
                "rationale": f"{geometric.rationale} (the critic said {learned.verdict}, geometry overrides)"
            }
        )
