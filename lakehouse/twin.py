"""The digital twin in the lake: which map a run had (map versions), where the robot was
(observed state over time), where the world plane said it would be (``world_predict``
rollouts, with the backend that made them), and the question that joins them — how far off
were we?

Everything is filled from a recorded bag (``mcp_servers/robot/recording.py``), so any recorded
run, agent-driven or not, sim or real robot, becomes twin rows the same way; the bag stays the
source of truth and ingesting it again adds nothing (the tables' keys make appends exactly once).
"""

from __future__ import annotations

import base64
import hashlib
import json
import math
import shutil
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
from mcap.reader import make_reader
from mcap_ros2.decoder import DecoderFactory
from pydantic import BaseModel

from auraison.errors import NotFound, UserError
from auraison.settings import Settings

from .catalog import ALIAS, Lake
from .datasets import DatasetSpec, register_dataset
from .writer import append

MAP_TOPIC, ODOM_TOPIC, PREDICTIONS_TOPIC = "/map", "/odom", "/auraison/predictions"


class TwinPoint(BaseModel):
    t_s: float
    ahead_s: float
    predicted: tuple[float, float]
    observed: tuple[float, float]
    error_m: float


class PredictionReport(BaseModel):
    prediction_id: str
    backend: str
    stand_in: bool
    made_at_s: float
    points: int
    mean_error_m: float | None
    max_error_m: float | None
    final_error_m: float | None
    trajectory: list[TwinPoint] = []


class TwinComparison(BaseModel):
    run_id: str
    world: str
    map_id: str | None
    outcome: str
    observed_points: int
    observed_from_s: float | None
    observed_to_s: float | None
    predictions: list[PredictionReport]
    mean_error_m: float | None
    """Over every predicted point the robot was observed at (None without one)."""


def run_id_of(bag: Path) -> str:
    """A recording's id: its name and a hash of its bytes (the same bag is the same run)."""
    digest = hashlib.sha256(bag.read_bytes()).hexdigest()[:12]
    return f"{bag.stem}-{digest}"


def _stamp(msg: Any) -> float:
    return msg.header.stamp.sec + msg.header.stamp.nanosec / 1e9


def _yaw(q: Any) -> float:
    return math.atan2(2 * (q.w * q.z + q.x * q.y), 1 - 2 * (q.y * q.y + q.z * q.z))


def read_bag(bag: Path) -> dict[str, Any]:
    """What the twin needs from a bag: its metadata, odometry, map versions and predictions."""
    if not bag.is_file():
        raise NotFound(f"no recording at {bag}")
    out: dict[str, Any] = {"meta": {}, "observed": [], "maps": {}, "predictions": []}
    with bag.open("rb") as f:
        try:
            reader = make_reader(f, decoder_factories=[DecoderFactory()])
            for record in reader.iter_metadata():
                if record.name == "auraison.recording":
                    out["meta"] = dict(record.metadata)
            topics = [ODOM_TOPIC, MAP_TOPIC, PREDICTIONS_TOPIC]
            for _schema, _channel, _message, msg in reader.iter_decoded_messages(topics=topics):
                if _channel.topic == ODOM_TOPIC:
                    p, tw = msg.pose.pose, msg.twist.twist
                    out["observed"].append((_stamp(msg), p.position.x, p.position.y, _yaw(p.orientation),
                                            tw.linear.x, tw.angular.z))  # fmt: skip
                elif _channel.topic == MAP_TOPIC:
                    data = bytes(int(v) & 0xFF for v in msg.data)
                    key = hashlib.sha256(
                        json.dumps([msg.info.resolution, msg.info.width, msg.info.height,
                                    msg.info.origin.position.x, msg.info.origin.position.y]).encode() + data
                    ).hexdigest()[:16]  # fmt: skip
                    out["maps"].setdefault(key, (msg, data))
                else:
                    out["predictions"].append(json.loads(msg.data))
        except Exception as exc:  # a truncated or foreign file: say which, not a decoder trace
            raise UserError(f"{bag} is not a readable recording: {exc}") from None
    return out


def ingest_bag(lake: Lake, tenant: str, bag: Path, run_id: str | None = None) -> dict[str, Any]:
    """Fill the twin tables from a recorded bag; returns the run's id and what was added."""
    bag = bag.resolve()
    data = read_bag(bag)
    run_id = run_id or run_id_of(bag)
    meta = data["meta"]
    world = meta.get("world", "")
    maps = []
    for map_id, (msg, grid) in data["maps"].items():
        maps.append({
            "map_id": map_id, "tenant": tenant, "world": world, "resolution": msg.info.resolution,
            "width": msg.info.width, "height": msg.info.height,
            "origin_x": msg.info.origin.position.x, "origin_y": msg.info.origin.position.y,
            "grid": base64.b64encode(grid).decode(), "first_seen_ns": int(_stamp(msg) * 1e9),
        })  # fmt: skip
    observed = [
        {"run_id": run_id, "tenant": tenant, "t_s": t, "x": x, "y": y, "yaw": yaw, "v": v, "w": w}
        for t, x, y, yaw, v, w in data["observed"]
    ]
    predicted = []
    for i, pred in enumerate(data["predictions"]):
        pid = f"{run_id}-p{i:03d}"
        for step, p in enumerate(pred["trajectory"]):
            predicted.append({
                "run_id": run_id, "tenant": tenant, "prediction_id": pid, "backend": pred["backend"],
                "stand_in": int(bool(pred["stand_in"])), "made_at_s": pred["made_at"], "step": step,
                "t_s": pred["made_at"] + float(p["t"]), "x": p["x"], "y": p["y"], "yaw": p["yaw"],
            })  # fmt: skip
    summary = {k: _json(v) for k, v in meta.items()}
    run = {
        "run_id": run_id, "tenant": tenant, "world": world, "map_id": next(iter(data["maps"]), None),
        "source": "recording", "bag": str(bag), "started_ns": int(meta.get("started_ns", 0) or 0),
        "duration_s": float(meta.get("duration_s", 0) or 0), "outcome": meta.get("outcome", ""),
        "summary": summary,
    }  # fmt: skip
    added = {
        "maps": append(lake, "twin_maps", maps),
        "observed": append(lake, "twin_observed", observed),
        "predicted": append(lake, "twin_predicted", predicted),
        "runs": append(lake, "twin_runs", [run]),
    }
    return {"run_id": run_id, "added": added, "predictions": len(data["predictions"])}


def _json(value: str) -> Any:
    try:
        return json.loads(value)
    except (TypeError, ValueError):
        return value


def register_recording(lake: Lake, settings: Settings, tenant: str, bag: Path) -> dict[str, Any]:
    """A recording into the lake: its twin rows, and a dataset named ``recording-<run>`` — the bag
    copied under the datasets root beside its observed states as Parquet (what a query reads),
    the metadata (world, duration, places visited, outcome) as the dataset's lineage."""
    bag = bag.resolve()
    twin = ingest_bag(lake, tenant, bag)
    run_id = twin["run_id"]
    folder = Path(settings.data_dir) / "datasets" / "recordings" / run_id
    folder.mkdir(parents=True, exist_ok=True)
    kept = folder / bag.name
    if kept != bag:
        shutil.copyfile(bag, kept)
    meta = read_bag(bag)
    rows = meta["observed"]
    columns = list(zip(*rows, strict=True)) if rows else [[]] * 6
    names = ["t_s", "x", "y", "yaw", "v", "w"]
    pq.write_table(pa.table({n: pa.array(c, pa.float64()) for n, c in zip(names, columns, strict=True)}),
                   folder / "observed.parquet")  # fmt: skip
    lineage = {"kind": "ros2-bag", "run_id": run_id, "bag": str(kept)}
    lineage |= {k: _json(v) for k, v in meta["meta"].items() if k != "path"}
    spec = DatasetSpec(name=f"recording-{run_id}", location=str(folder / "observed.parquet"), lineage=lineage)
    ds = register_dataset(lake, settings, tenant, spec)
    return {"run_id": run_id, "dataset_id": ds["dataset_id"], "bag": str(kept), "twin": twin["added"]}


def runs(lake: Lake, tenant: str) -> list[dict[str, Any]]:
    rows = lake.execute(
        f"SELECT run_id, world, outcome, duration_s, started_ns FROM {ALIAS}.twin_runs "
        "WHERE tenant = ? ORDER BY started_ns",
        [tenant],
    ).fetchall()
    return [
        dict(zip(["run_id", "world", "outcome", "duration_s", "started_ns"], r, strict=True)) for r in rows
    ]


def compare(lake: Lake, tenant: str, run_id: str, points: bool = False) -> TwinComparison:
    """Where the robot was, where we predicted it would be, how far off: each predicted pose is
    matched to the last observed pose at or before its time (an ASOF join on the robot clock);
    predicted times after the last observation are left out (the robot was not seen then)."""
    run = lake.execute(
        f"SELECT world, map_id, outcome FROM {ALIAS}.twin_runs WHERE run_id = ? AND tenant = ?",
        [run_id, tenant],
    ).fetchone()
    if run is None:
        raise NotFound(f"no twin run {run_id!r} in tenant {tenant}", "see `auraison twin runs`")
    span = lake.execute(
        f"SELECT count(*), min(t_s), max(t_s) FROM {ALIAS}.twin_observed WHERE run_id = ? AND tenant = ?",
        [run_id, tenant],
    ).fetchone()
    rows = lake.execute(
        f"""SELECT p.prediction_id, p.backend, p.stand_in, p.made_at_s, p.step, p.t_s, p.x, p.y,
                   o.x, o.y
            FROM (SELECT * FROM {ALIAS}.twin_predicted WHERE run_id = $1 AND tenant = $2) p
            ASOF JOIN (SELECT * FROM {ALIAS}.twin_observed WHERE run_id = $1 AND tenant = $2) o
              ON p.t_s >= o.t_s
            WHERE p.t_s <= $3
            ORDER BY p.prediction_id, p.step""",
        [run_id, tenant, span[2] if span[2] is not None else -math.inf],
    ).fetchall()
    heads = lake.execute(
        f"SELECT DISTINCT prediction_id, backend, stand_in, made_at_s FROM {ALIAS}.twin_predicted "
        "WHERE run_id = ? AND tenant = ? ORDER BY prediction_id",
        [run_id, tenant],
    ).fetchall()
    by_id: dict[str, list[TwinPoint]] = {h[0]: [] for h in heads}
    for pid, _, _, made, _, t, px, py, ox, oy in rows:
        error = round(math.hypot(px - ox, py - oy), 4)
        point = TwinPoint(
            t_s=t, ahead_s=round(t - made, 3), predicted=(px, py), observed=(ox, oy), error_m=error
        )
        by_id[pid].append(point)
    reports = []
    for pid, backend, stand_in, made in heads:
        pts = by_id[pid]
        errs = [p.error_m for p in pts]
        reports.append(PredictionReport(
            prediction_id=pid, backend=backend, stand_in=bool(stand_in), made_at_s=made, points=len(pts),
            mean_error_m=round(sum(errs) / len(errs), 4) if errs else None,
            max_error_m=max(errs) if errs else None, final_error_m=errs[-1] if errs else None,
            trajectory=pts if points else [],
        ))  # fmt: skip
    every = [p.error_m for pts in by_id.values() for p in pts]
    return TwinComparison(
        run_id=run_id, world=run[0], map_id=run[1], outcome=run[2], observed_points=span[0],
        observed_from_s=span[1], observed_to_s=span[2], predictions=reports,
        mean_error_m=round(sum(every) / len(every), 4) if every else None,
    )  # fmt: skip
