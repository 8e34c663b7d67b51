"""``auraison twin …``: the digital twin — recorded runs, and for any of them where the robot
was, where the world plane predicted it would be, and how far off (``lakehouse/twin.py``)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer

from auraison.errors import UserError

from .act import act, caller
from .output import JsonOpt, console, print_json, show

twin_app = typer.Typer(help="The digital twin: recorded runs, predicted vs observed.", no_args_is_help=True)


@twin_app.command("runs")
def twin_runs(as_json: JsonOpt = False) -> None:
    """Runs the twin knows (recordings registered in the lake)."""
    from auraison.lakehouse import twin

    from .lake import _lake

    lake = _lake()
    try:
        rows = twin.runs(lake, caller().tenant)
    finally:
        lake.close()
    show(rows, ["run_id", "world", "outcome", "duration_s"], as_json, "twin runs")


def register(bag: Path) -> dict[str, Any]:
    """A recording into the lake as the ``lake_register_recording`` tool, under AgentOps (the
    bag is the shell's own file; the lake rows are the platform's)."""
    from auraison.lakehouse.twin import register_recording

    if not bag.is_file():
        raise UserError(f"no recording at {bag}", "record one with `auraison robot record --out F`")
    path = bag.resolve()
    return act(
        "lake_register_recording",
        {"bag": str(path)},
        lambda rt, who: register_recording(rt.lake, rt.settings, who.tenant, path),
    )


@twin_app.command("ingest")
def twin_ingest(
    bag: Annotated[Path, typer.Argument(help="a recording (.mcap) made by `robot record` or `run --bag`")],
    as_json: JsonOpt = False,
) -> None:
    """Register a recording: a lake dataset and the twin's rows (again: nothing is added twice)."""
    out = register(bag)
    if as_json:
        print_json(out)
    else:
        console().print(
            f"run {out['run_id']}: dataset {out['dataset_id']}, added {out['twin']}", markup=False
        )


@twin_app.command("compare")
def twin_compare(
    run: Annotated[str, typer.Option("--run", help="a run id (see `twin runs`)")],
    points: Annotated[bool, typer.Option(help="every predicted point with its observed pose")] = False,
    as_json: JsonOpt = False,
) -> None:
    """Where the robot was, where we predicted it would be, and how far off we were."""
    from auraison.lakehouse import twin

    from .lake import _lake

    lake = _lake()
    try:
        cmp = twin.compare(lake, caller().tenant, run, points=points)
    finally:
        lake.close()
    if as_json:
        print_json(cmp)
        return
    seen = (
        f"observed {cmp.observed_points} poses over {cmp.observed_to_s - cmp.observed_from_s:.1f} s"
        if cmp.observed_points
        else "never observed"
    )
    console().print(f"{cmp.run_id} in {cmp.world}: {cmp.outcome}; {seen}", markup=False)
    rows = [
        {**p.model_dump(exclude={"trajectory"}), "made_at_s": round(p.made_at_s, 2)} for p in cmp.predictions
    ]
    show(rows, ["prediction_id", "backend", "points", "mean_error_m", "max_error_m", "final_error_m"], False)
    if points:
        for p in cmp.predictions:
            for pt in p.trajectory:
                console().print(
                    f"  {p.prediction_id} +{pt.ahead_s:5.1f}s predicted ({pt.predicted[0]:.2f}, "
                    f"{pt.predicted[1]:.2f}) observed ({pt.observed[0]:.2f}, {pt.observed[1]:.2f}) "
                    f"off {pt.error_m:.2f} m",
                    markup=False,
                )
    if cmp.mean_error_m is not None:
        console().print(f"mean error over all predicted points: {cmp.mean_error_m:.3f} m", markup=False)
