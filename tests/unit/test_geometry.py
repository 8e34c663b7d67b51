"""The geometry package: one copy of pose math, and the import boundaries it exists for.

The robot and world planes plan, check and draw with ``auraison.geometry``; the simulator is a
robot and may import that package and nothing else of Auraison; geometry imports nothing of
Auraison. Checked on the source (function-local imports included), so a lazy import cannot hide.
"""

from __future__ import annotations

import ast
import math
import subprocess
import sys
from pathlib import Path

import pytest

from auraison.geometry.pose import heading, quaternion, wrap, yaw_of

ROOT = Path(__file__).resolve().parents[2]


def _auraison_imports(folder: str) -> dict[str, set[str]]:
    """Every ``auraison.*`` module each file of ``folder`` imports (relative imports resolved)."""
    out: dict[str, set[str]] = {}
    for path in sorted((ROOT / folder).rglob("*.py")):
        package = ["auraison", *path.relative_to(ROOT).parent.parts]
        names: set[str] = set()
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Import):
                names |= {a.name for a in node.names if a.name.startswith("auraison")}
            elif isinstance(node, ast.ImportFrom):
                base = package[: len(package) - node.level + 1] if node.level else []
                mod = ".".join([*base, *([node.module] if node.module else [])])
                if mod.startswith("auraison"):
                    names.add(mod)
        out[str(path.relative_to(ROOT))] = names
    return out


def _package(module: str) -> str:
    """``auraison.sim.engine`` → ``sim``; plain ``auraison`` → ``""``."""
    return module.split(".")[1] if "." in module else ""


def _outside(folder: str, allowed: set[str]) -> dict[str, list[str]]:
    """Per file of ``folder``, its ``auraison.*`` imports from packages not in ``allowed``."""
    imports = _auraison_imports(folder)
    assert imports, f"no Python files under {folder}"
    found = {f: sorted(m for m in mods if _package(m) not in allowed) for f, mods in imports.items()}
    return {f: mods for f, mods in found.items() if mods}


@pytest.mark.parametrize("folder", ["mcp_servers/robot", "mcp_servers/world"])
def test_robot_and_world_planes_do_not_import_the_simulator(folder: str) -> None:
    imports = _auraison_imports(folder)
    assert imports, f"no Python files under {folder}"
    sim = {f: sorted(m for m in mods if _package(m) == "sim") for f, mods in imports.items()}
    assert {f: mods for f, mods in sim.items() if mods} == {}


def test_simulator_imports_only_geometry_of_auraison() -> None:
    assert _outside("sim", {"sim", "geometry"}) == {}


def test_geometry_imports_nothing_else_of_auraison() -> None:
    assert _outside("geometry", {"geometry"}) == {}


def test_a_policy_mistake_names_its_line_without_importing_numpy() -> None:
    """The hook loads a policy before every tool call; explaining a mistake must stay cheap."""
    code = (
        "import sys\n"
        "from pydantic import BaseModel\n"
        "from auraison.errors import UserError\n"
        "from auraison.yamlfile import parse_yaml_model\n"
        "class Rule(BaseModel):\n    name: str\n    limit: int\n"
        "class Policy(BaseModel):\n    rules: list[Rule]\n"
        "text = 'rules:\\n  - name: a\\n    limit: 1\\n  - name: b\\n    limit: lots\\n'\n"
        "try:\n    parse_yaml_model(text, 'p.yaml', Policy)\n"
        "except UserError as exc:\n    print(exc)\n"
        "print(sorted(m for m in sys.modules if m.split('.')[0] in ('numpy', 'scipy', 'PIL')))\n"
    )
    res = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert res.returncode == 0, res.stderr
    message, heavy = res.stdout.strip().splitlines()
    assert message.startswith("p.yaml: line 5: rules.1.limit:"), message
    assert heavy == "[]"


@pytest.mark.parametrize("yaw", [-3.1, -math.pi / 2, -0.4, 0.0, 0.7, math.pi / 2, 3.1])
def test_yaw_survives_a_quaternion_round_trip(yaw: float) -> None:
    q = quaternion(yaw)
    assert math.isclose(q["x"] ** 2 + q["y"] ** 2 + q["z"] ** 2 + q["w"] ** 2, 1.0)
    assert math.isclose(yaw_of(q), yaw, abs_tol=1e-12)


def test_yaw_of_reads_partial_and_empty_quaternions() -> None:
    """rosbridge clients send ``{}`` or only z/w for a planar pose."""
    assert yaw_of({}) == 0.0
    assert yaw_of({"x": 0, "y": 0, "z": 0, "w": 0}) == 0.0
    assert math.isclose(yaw_of({"z": math.sin(0.5), "w": math.cos(0.5)}), 1.0)


@pytest.mark.parametrize("angle", [-7.0, -math.pi, -1.0, 0.0, 1.0, math.pi, 4.0, 13.0])
def test_wrap_lands_in_one_turn_and_keeps_the_direction(angle: float) -> None:
    w = wrap(angle)
    assert -math.pi <= w < math.pi
    assert math.isclose(math.cos(w), math.cos(angle), abs_tol=1e-12)
    assert math.isclose(math.sin(w), math.sin(angle), abs_tol=1e-12)


def test_heading_points_from_a_to_b() -> None:
    assert heading((0.0, 0.0), (1.0, 0.0)) == 0.0
    assert math.isclose(heading((1.0, 1.0), (1.0, 3.0)), math.pi / 2)
    assert math.isclose(abs(heading((2.0, 0.0), (0.0, 0.0))), math.pi)
