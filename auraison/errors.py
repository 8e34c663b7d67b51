"""Error families, by audience (the pydantic-ai habit).

* ``UserError`` — a developer/operator mistake (bad config, missing service); the message says
  how to fix it and the CLI prints it as one line, never a traceback.
* ``AuraisonError`` — base of every plane's runtime errors.
"""

from __future__ import annotations


class AuraisonError(Exception):
    """Base class for Auraison runtime errors."""


class UserError(AuraisonError):
    """A mistake the user can fix; ``hint`` says how."""

    def __init__(self, message: str, hint: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint

    def __str__(self) -> str:
        return f"{self.message} (fix: {self.hint})" if self.hint else self.message


class ConfigError(UserError):
    """The settings file or an ``AURAISON_*`` variable is malformed."""


class ServiceError(AuraisonError):
    """A local service could not be started, stopped or reached."""


class NotFound(UserError):
    """The named object does not exist (for this caller): HTTP faces answer 404."""
