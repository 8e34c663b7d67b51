"""Decisions as data, and the call they are about."""

from __future__ import annotations

import hashlib
import json
import random
from typing import Any, Literal

from pydantic import BaseModel, Field, PrivateAttr

from auraison.identity import Identity

__all__ = ["Decision", "DecisionKind", "EnforcementPoint", "Identity", "ToolCall"]

DecisionKind = Literal["allow", "deny", "needs_approval", "shed"]
EnforcementPoint = Literal["gateway", "agent", "hook", "engine", "http", "cli"]


class ToolCall(BaseModel):
    """One tool call as every enforcement point sees it (namespaced tool name)."""

    identity: Identity = Identity()
    tool: str
    args: dict[str, Any] = {}
    call_id: str = Field(default_factory=lambda: f"{random.getrandbits(64):016x}")
    point: EnforcementPoint = "engine"
    traceparent: str | None = None
    _hash: str | None = PrivateAttr(default=None)

    @property
    def plane(self) -> str:
        return self.tool.split("_", 1)[0]

    def args_hash(self) -> str:
        """Hash of the exact arguments: an approval is bound to it."""
        if self._hash is None:
            canonical = json.dumps(self.args, sort_keys=True, separators=(",", ":"), default=str)
            self._hash = hashlib.sha256(f"{self.tool}\0{canonical}".encode()).hexdigest()
        return self._hash


class Decision(BaseModel):
    """allow / deny(reason, hint) / needs_approval(approval_id) / shed(retry_after_s)."""

    kind: DecisionKind
    reason: str = ""
    hint: str = ""
    rule: str | None = None
    approval_id: str | None = None
    retry_after_s: float | None = None

    @classmethod
    def allow(cls, rule: str | None = None, reason: str = "") -> Decision:
        return cls.model_construct(kind="allow", rule=rule, reason=reason)  # trusted: hot path

    @classmethod
    def deny(cls, reason: str, hint: str = "", rule: str | None = None) -> Decision:
        return cls(kind="deny", reason=reason, hint=hint, rule=rule)

    def message(self) -> str:
        """What a model reads: what happened and what it may do instead."""
        if self.kind == "deny":
            return f"Denied: {self.reason}." + (f" {self.hint}" if self.hint else "")
        if self.kind == "needs_approval":
            return (
                f"Needs human approval (approval id {self.approval_id}): {self.reason}. "
                "Wait for a decision, then call again with exactly the same arguments."
            )
        if self.kind == "shed":
            return f"Overloaded: {self.reason}. Retry after {self.retry_after_s:.2f} s."
        return "Allowed."

    def payload(self) -> dict[str, Any]:
        """Machine-readable form (e.g. a shed's retry-after) carried with the error text."""
        return self.model_dump(exclude_none=True, exclude_defaults=False)
