"""Load a YAML file into a pydantic model; every mistake names the file, line and field."""

from __future__ import annotations

from pathlib import Path
from typing import TypeVar

import yaml
from pydantic import BaseModel, ValidationError

from auraison.errors import UserError

M = TypeVar("M", bound=BaseModel)
_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
"""libyaml's safe loader where PyYAML has it: policies load before every hook call."""


def load_yaml_model(path: Path, model: type[M], error: type[UserError] = UserError) -> M:
    """Parse ``path`` as ``model``; raise ``error`` with ``file:line: field: problem``."""
    try:
        text = path.read_text()
    except OSError as exc:
        raise error(f"{path}: cannot read: {exc.strerror or exc}") from None
    return parse_yaml_model(text, str(path), model, error)


def parse_yaml_model(text: str, source: str, model: type[M], error: type[UserError] = UserError) -> M:
    try:
        data = yaml.load(text, Loader=_LOADER)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"line {mark.line + 1}" if mark else "line ?"
        raise error(f"{source}: {where}: not valid YAML: {getattr(exc, 'problem', exc)}") from None
    try:
        return model.model_validate(data if data is not None else {})
    except ValidationError as exc:
        err = exc.errors()[0]
        loc = ".".join(str(p) for p in err["loc"]) or "(top level)"
        more = f" (and {exc.error_count() - 1} more)" if exc.error_count() > 1 else ""
        # The one YAML line finder (world files use it too). Imported here, on the error path,
        # so loading a policy (the hook, every CLI start) imports nothing it does not need.
        from auraison.geometry.yamllines import line_of

        line = line_of(yaml.compose(text, Loader=_LOADER), err["loc"])  # parsed again, only to explain
        raise error(f"{source}: line {line}: {loc}: {err['msg']}{more}") from None
