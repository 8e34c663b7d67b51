"""The one error family, by audience (the pydantic-ai habit).

``AuraisonError`` is the base of every refusal and failure the project raises on purpose; its
message says why and what to do. Under it, one class per way a caller should react:

* ``UserError`` — a mistake the caller can fix (bad input, bad config); ``hint`` says how.
  ``NotFound`` is one: the named object does not exist for this caller.
* ``Forbidden`` — the caller may not do this, whatever the input.
* ``Conflict`` — the object is not in a state that allows it (already decided, already running).
* ``Unavailable`` — a backing service is down or unreachable; retrying later may work.

Every entry point translates by class alone: the CLI prints one line (exit 2 for user errors),
MCP tools raise a ``ToolError`` with the message, and HTTP answers ``status_code``.
"""

from __future__ import annotations


class AuraisonError(Exception):
    """Base class for Auraison runtime errors."""

    status_code = 500
    """The HTTP status an API answers with (subclasses narrow it)."""


class UserError(AuraisonError):
    """A mistake the user can fix; ``hint`` says how."""

    status_code = 400

    def __init__(self, message: str, hint: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint

    def __str__(self) -> str:
        return f"{self.message} (fix: {self.hint})" if self.hint else self.message


class ConfigError(UserError):
    """The settings file or an ``AURAISON_*`` variable is malformed."""


class NotFound(UserError):
    """The named object does not exist (for this caller): HTTP faces answer 404."""

    status_code = 404


class Forbidden(AuraisonError):
    """The caller's identity may not do this (role, tenant, principal kind)."""

    status_code = 403


class Conflict(AuraisonError):
    """The object's current state does not allow the request (decided, running, taken)."""

    status_code = 409


class Unavailable(AuraisonError):
    """A backing service is down or unreachable; the same call may work later."""

    status_code = 503


class ServiceError(Unavailable):
    """A local service could not be started, stopped or reached."""
