"""AgentOps errors: each carries the ``Decision`` that caused it."""

from __future__ import annotations

import json

from auraison.errors import AuraisonError, UserError

from .decision import Decision


class AgentOpsError(AuraisonError):
    """A call was not executed; ``decision`` says why and what to do."""

    def __init__(self, decision: Decision) -> None:
        super().__init__(decision.message())
        self.decision = decision

    def to_text(self) -> str:
        """Readable first line, then the decision as JSON (retry-after is machine-readable)."""
        return f"{self.decision.message()}\n{json.dumps({'decision': self.decision.payload()})}"


class ToolDenied(AgentOpsError):
    """The policy (or a failed quota reservation) denied the call."""


class ApprovalPending(AgentOpsError):
    """The call needs a human decision first."""


class ToolShed(AgentOpsError):
    """The call was shed under load; retry after ``decision.retry_after_s``."""


class PolicyError(UserError):
    """A policy file is malformed; names the file, line and field."""
