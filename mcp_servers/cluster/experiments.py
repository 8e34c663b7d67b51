"""Experiment tracking in the lake's ``experiments``, ``runs``, ``params`` and ``metrics`` tables:
create an experiment, start runs (optionally tied to a Ray job), log params and metrics in
batches (one commit per call), end runs, and compare runs as a table and a plot."""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

from pydantic import BaseModel, Field

from auraison.errors import NotFound, UserError
from auraison.lakehouse.catalog import ALIAS, Lake
from auraison.settings import Settings

from .models import RunSummary
from .plot import line_chart


def append(lake: Lake, table: str, rows: list[dict[str, Any]]) -> int:
    """The lake's exactly-once append, loaded with the first write (Arrow is not needed to
    declare the cluster plane's tools: the gateway starts without it)."""
    from auraison.lakehouse.writer import append as lake_append

    return lake_append(lake, table, rows)


class Metric(BaseModel):
    key: str = Field(pattern=r"^[A-Za-z0-9_./-]{1,100}$")
    value: float = Field(allow_inf_nan=False)
    step: int = Field(0, ge=0)


class Experiments:
    def __init__(self, settings: Settings, lake: Callable[[], Lake] | None = None) -> None:
        self.settings = settings
        self._lake = lake  # the runtime passes its one lake; alone, experiments open their own
        self._own: Lake | None = None

    @property
    def lake(self) -> Lake:
        if self._lake is not None:
            return self._lake()
        if self._own is None:
            self._own = Lake(self.settings)
        return self._own

    def create(self, tenant: str, name: str, tags: dict[str, str] | None = None) -> dict[str, Any]:
        experiment_id = f"exp_{uuid.uuid4().hex[:12]}"
        append(
            self.lake,
            "experiments",
            [
                {
                    "experiment_id": experiment_id,
                    "name": name,
                    "tenant": tenant,
                    "created_ns": time.time_ns(),
                    "tags": tags or {},
                }
            ],
        )
        return {"experiment_id": experiment_id, "name": name}

    def _experiment(self, tenant: str, experiment_id: str) -> None:
        found = self.lake.execute(
            f"SELECT 1 FROM {ALIAS}.experiments WHERE experiment_id = ? AND tenant = ?",
            [experiment_id, tenant],
        ).fetchone()
        if found is None:
            raise NotFound(
                f"no experiment {experiment_id} in tenant {tenant}", "create one with experiment_create"
            )

    def _run(self, tenant: str, run_id: str) -> str:
        row = self.lake.execute(
            f"SELECT r.status FROM {ALIAS}.runs r JOIN {ALIAS}.experiments e USING (experiment_id) "
            "WHERE r.run_id = ? AND e.tenant = ?",
            [run_id, tenant],
        ).fetchone()
        if row is None:
            raise NotFound(f"no run {run_id} in tenant {tenant}", "start one with run_start")
        return row[0]

    def run_start(
        self, tenant: str, experiment_id: str, params: dict[str, Any] | None = None, job_id: str | None = None
    ) -> dict[str, Any]:
        self._experiment(tenant, experiment_id)
        run_id = f"run_{uuid.uuid4().hex[:12]}"
        append(
            self.lake,
            "runs",
            [
                {
                    "run_id": run_id,
                    "experiment_id": experiment_id,
                    "status": "running",
                    "started_ns": time.time_ns(),
                    "job_id": job_id,
                }
            ],
        )
        if params:
            self.log_params(tenant, run_id, params)
        return {"run_id": run_id, "experiment_id": experiment_id}

    def log_params(self, tenant: str, run_id: str, params: dict[str, Any]) -> int:
        self._run(tenant, run_id)
        return append(
            self.lake, "params", [{"run_id": run_id, "key": k, "value": str(v)} for k, v in params.items()]
        )

    def log_metrics(self, tenant: str, run_id: str, metrics: list[Metric]) -> int:
        if self._run(tenant, run_id) != "running":
            raise UserError(f"run {run_id} has ended; metrics go to running runs")
        now = time.time_ns()
        rows = [
            {"run_id": run_id, "key": m.key, "step": m.step, "ts_ns": now, "value": m.value} for m in metrics
        ]
        return append(self.lake, "metrics", rows)

    def run_end(self, tenant: str, run_id: str, status: str = "finished") -> dict[str, Any]:
        self._run(tenant, run_id)
        with self.lake.lock:
            self.lake.con.execute(
                f"UPDATE {ALIAS}.runs SET status = ?, ended_ns = ? WHERE run_id = ?",
                [status, time.time_ns(), run_id],
            )
        return {"run_id": run_id, "status": status}

    def compare(self, tenant: str, experiment_id: str, metric: str, plot: bool = True) -> dict[str, Any]:
        self._experiment(tenant, experiment_id)
        runs = self.lake.execute(
            f"SELECT run_id, status FROM {ALIAS}.runs WHERE experiment_id = ? ORDER BY started_ns",
            [experiment_id],
        ).fetchall()
        summaries, series = [], {}
        for run_id, status in runs:
            params = dict(
                self.lake.execute(
                    f"SELECT key, value FROM {ALIAS}.params WHERE run_id = ?", [run_id]
                ).fetchall()
            )
            last = dict(
                self.lake.execute(
                    f"SELECT key, arg_max(value, step) FROM {ALIAS}.metrics WHERE run_id = ? GROUP BY key",
                    [run_id],
                ).fetchall()
            )
            points = self.lake.execute(
                f"SELECT step, value FROM {ALIAS}.metrics WHERE run_id = ? AND key = ? ORDER BY step",
                [run_id, metric],
            ).fetchall()
            series[run_id] = [(float(s), float(v)) for s, v in points]
            summaries.append(
                RunSummary(
                    run_id=run_id, experiment_id=experiment_id, status=status, params=params, last=last
                )
            )
        out: dict[str, Any] = {"metric": metric, "runs": [s.model_dump() for s in summaries], "plot": None}
        if plot:
            path = Path(self.settings.data_dir) / "plots" / f"{experiment_id}-{metric.replace('/', '_')}.png"
            out["plot"] = str(line_chart(series, f"{metric} by step — {experiment_id}", path))
        return out
