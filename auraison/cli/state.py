"""The global CLI options (``--config``, ``--log-*``), parsed once by the root callback and read
by every command group, the plane CLIs included, through ``get_settings()``.

Kept apart from the root app so that a command module (or a plane's ``cli.py``) can ask for the
settings without importing the whole command tree."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from auraison.settings import Settings


@dataclass
class _State:
    """Global CLI options, parsed once by the callback and read by every command."""

    config: Path | None = None
    overrides: dict[str, str] = field(default_factory=dict)


state = _State()


def get_settings() -> Settings:
    """The effective settings for this invocation (defaults < services.toml < file < env < flags)."""
    from auraison.settings import load_settings

    return load_settings(state.config, **state.overrides)
