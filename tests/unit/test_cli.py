"""The `auraison` command line as a user runs it (a real subprocess)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest


def run(home: Path, *args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    base = {k: v for k, v in os.environ.items() if not k.startswith("AURAISON_")}
    base.pop("ANTHROPIC_API_KEY", None)
    return subprocess.run(
        [sys.executable, "-m", "auraison", *args],
        capture_output=True,
        text=True,
        env=base | {"AURAISON_HOME": str(home)} | (env or {}),
        timeout=120,
    )


def test_config_show_json_masks_secrets(tmp_path: Path) -> None:
    res = run(tmp_path, "config", "show", "--json", env={"AURAISON_S3__SECRET_KEY": "hunter2"})
    assert res.returncode == 0, res.stderr
    data = json.loads(res.stdout)
    assert data["profile"] == "embedded" and data["s3"]["secret_key"] == "****"
    assert "hunter2" not in res.stdout


@pytest.mark.parametrize("env", [{"AURAISON_PROFILE": "cloud"}, {"AURAISON_S3__PORT": "x"}])
def test_bad_settings_are_one_line_not_a_traceback(tmp_path: Path, env: dict[str, str]) -> None:
    res = run(tmp_path, "config", "show", env=env)
    assert res.returncode == 2
    assert "Traceback" not in res.stderr
    lines = [ln for ln in res.stderr.strip().splitlines() if ln.strip()]
    assert len(lines) == 1 and "invalid settings" in lines[0] and next(iter(env)) in lines[0]


def test_malformed_settings_file(tmp_path: Path) -> None:
    bad = tmp_path / "bad.toml"
    bad.write_text("[redis\n")
    res = run(tmp_path, "--config", str(bad), "config", "show")
    assert res.returncode == 2 and "not valid TOML" in res.stderr and "Traceback" not in res.stderr


def test_sim_render_writes_png(tmp_path: Path) -> None:
    traj = tmp_path / "t.json"
    traj.write_text(json.dumps([[0.75, 0.75], [3.0, 0.75]]))
    out = tmp_path / "m.png"
    res = run(tmp_path, "sim", "render", "--world", "maze_small", "--path", str(traj), "--out", str(out))
    assert res.returncode == 0, res.stderr
    assert out.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_sim_bad_world_file_names_the_line(tmp_path: Path) -> None:
    bad = tmp_path / "w.yaml"
    bad.write_text("name: x\nresolution: 0.5\nstart: {x: 0.75, y: 0.75}\ngrid: |\n  ###\n  #Z#\n  ###\n")
    res = run(tmp_path, "sim", "render", "--world", str(bad), "--out", str(tmp_path / "x.png"))
    assert res.returncode == 2 and "line 6" in res.stderr and "'Z'" in res.stderr


def test_unknown_service_name(tmp_path: Path) -> None:
    res = run(tmp_path, "services", "up", "--only", "mysql")
    assert res.returncode == 2 and "unknown service" in res.stderr


@pytest.mark.parametrize(
    ("args", "says"),
    [
        (["nosuch"], "No such command 'nosuch'"),
        (["servces", "status"], "Did you mean 'services'"),
        (["robot", "state", "--bogus"], "No such option: --bogus"),
        (["gateway", "--port", "0"], "Invalid value for '--port'"),
        (["lake", "query"], "Missing argument 'sql'"),
        (["tenants", "add-user", "acme"], "Missing argument 'email'"),
        (["jobs", "nosuch"], "No such command 'nosuch'"),
    ],
    ids=lambda v: " ".join(v) if isinstance(v, list) else "",
)
def test_usage_errors_are_one_line_and_exit_2(tmp_path: Path, args: list[str], says: str) -> None:
    res = run(tmp_path, *args)
    assert res.returncode == 2, res.stderr
    lines = [ln for ln in res.stderr.splitlines() if ln.strip()]
    assert len(lines) == 1, res.stderr  # no traceback, no usage box
    assert lines[0].startswith("error: ") and says in lines[0] and "--help`" in lines[0]
    assert res.stdout == ""


def test_no_arguments_shows_help(tmp_path: Path) -> None:
    res = run(tmp_path)
    assert "Usage: auraison" in res.stdout and "services" in res.stdout and "tenants" in res.stdout
    assert "Traceback" not in res.stderr


def test_robot_places_and_state_json(tmp_path: Path) -> None:
    from tests.simthread import SimThread

    with SimThread("maze_small") as sim:
        env = {"AURAISON_ROBOT__ROSBRIDGE_URL": sim.url, "AURAISON_AGENTOPS__APPROVALS": "memory"}
        places = run(tmp_path, "robot", "places", "--json", env=env)
        state = run(tmp_path, "robot", "state", "--json", env=env)
    assert places.returncode == 0, places.stderr
    assert {"kitchen", "lab"} <= {p["name"] for p in json.loads(places.stdout)}
    assert state.returncode == 0, state.stderr
    data = json.loads(state.stdout)
    assert data["connected"] and data["rosbridge_url"] == sim.url and "pose" in data
