"""The policy file: YAML, validated by pydantic, resolved per (tenant, role, tool).

A policy is a list of rule blocks. A block applies when its ``tenants`` and ``roles`` globs
match the caller; every applicable block contributes. Deny always wins over allow; a tool no
applicable block allows is denied (default deny). Every matching constraint applies. For
limits and costs the most specific glob wins (``robot_stop`` over ``robot_*`` over ``*``),
and among equally specific ones the later block.

    version: 1
    redact: ["*password*", "*token*", "*secret*", "api_key"]
    rules:
      - name: operators
        roles: [operator]
        allow: ["robot_*", "world_*", "lake_query"]
        approval: ["robot_drive"]
        constraints:
          robot_navigate_to:
            geofence: {x: x, y: y, polygon: [[0, 0], [6.5, 0], [6.5, 6.5], [0, 6.5]]}
          robot_drive:
            args: {duration: {min: 0, max: 10}}
          ros_publish_once:
            args: {topic: {not_pattern: "cmd_vel", hint: "use robot_drive"}}
          ros_send_action_goal:
            deny: "use robot_navigate_safely"
        limits:
          "robot_*": {concurrency: 2, rate_per_s: 10, burst: 20, queue: 16, priority: 5}
          robot_stop: {never_wait: true, priority: 0}
        costs: {"cluster_job_submit": 10}
"""

from __future__ import annotations

import fnmatch
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, PrivateAttr, field_validator, model_validator

from auraison.yamlfile import load_yaml_model, parse_yaml_model

from .errors import PolicyError


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class ArgConstraint(_Strict):
    """Checks on one argument (dot paths reach nested fields: ``goal.x``)."""

    min: float | None = None
    max: float | None = None
    enum: list[Any] | None = None
    pattern: str | None = None
    not_pattern: str | None = Field(None, description="deny when the value matches (regex search)")
    max_length: int | None = Field(None, ge=0, description="strings, lists, objects")
    required: bool = False
    hint: str | None = Field(None, description="what to do instead, in place of the generic hint")

    @field_validator("pattern", "not_pattern")
    @classmethod
    def _compiles(cls, v: str | None) -> str | None:
        if v is not None:
            import re

            try:
                re.compile(v)
            except re.error as exc:
                raise ValueError(f"not a valid regular expression: {exc}") from exc
        return v


class Geofence(_Strict):
    """The point (args[x], args[y]) must lie inside ``polygon`` (map frame, metres)."""

    x: str = "x"
    y: str = "y"
    polygon: list[tuple[float, float]] = Field(min_length=3)


class ToolConstraints(_Strict):
    args: dict[str, ArgConstraint] = {}
    geofence: Geofence | None = None
    max_args_bytes: int | None = Field(None, gt=0)
    deny: str | None = Field(
        None,
        min_length=1,
        description="deny every call, whoever allowed it; the text is the hint (what to use instead)",
    )


class Limit(_Strict):
    """Backpressure for a (tenant, plane, tool) key."""

    concurrency: int | None = Field(None, ge=1)
    rate_per_s: float | None = Field(None, gt=0)
    burst: int | None = Field(None, ge=1)
    queue: int = Field(32, ge=0, description="callers allowed to wait; more are shed")
    max_wait_s: float = Field(5.0, ge=0)
    priority: int = Field(5, ge=0, le=9, description="0 is most urgent")
    never_wait: bool = Field(False, description="safety calls (robot stop): bypass all limits")


class RuleBlock(_Strict):
    name: str = Field(min_length=1)
    tenants: list[str] = ["*"]
    roles: list[str] = ["*"]
    allow: list[str] = []
    deny: list[str] = []
    approval: list[str] = []
    constraints: dict[str, ToolConstraints] = {}
    limits: dict[str, Limit] = {}
    costs: dict[str, float] = {}

    def applies(self, tenant: str, role: str) -> bool:
        return _any(tenant, self.tenants) and _any(role, self.roles)


@dataclass(frozen=True)
class Resolved:
    """Everything the policy says about one (tenant, role, tool), computed once and cached."""

    deny_rule: str | None
    allow_rule: str | None
    approval_rule: str | None
    constraints: tuple[tuple[str, ToolConstraints], ...]
    limit: Limit | None
    cost: float


class Policy(BaseModel):
    model_config = ConfigDict(extra="forbid")
    _cache: dict[tuple[str, str], list[RuleBlock]] = PrivateAttr(default_factory=dict)
    _resolved: dict[tuple[str, str, str], Resolved] = PrivateAttr(default_factory=dict)

    version: int = Field(1, ge=1, le=1)
    redact: list[str] = ["*password*", "*secret*", "*token*", "api_key", "authorization"]
    approval_ttl_s: float = Field(900.0, gt=0)
    rules: list[RuleBlock] = Field(min_length=1)

    @model_validator(mode="after")
    def _unique_names(self) -> Policy:
        names = [r.name for r in self.rules]
        dup = {n for n in names if names.count(n) > 1}
        if dup:
            raise ValueError(f"rule names must be unique; repeated: {sorted(dup)}")
        return self

    def blocks(self, tenant: str, role: str) -> list[RuleBlock]:
        key = (tenant, role)
        if key not in self._cache:
            if len(self._cache) > 4096:
                self._cache.clear()
            self._cache[key] = [b for b in self.rules if b.applies(tenant, role)]
        return self._cache[key]

    def resolve(self, tenant: str, role: str, tool: str) -> Resolved:
        key = (tenant, role, tool)
        hit = self._resolved.get(key)
        if hit is None:
            if len(self._resolved) > 16384:
                self._resolved.clear()
            blocks = self.blocks(tenant, role)
            hit = Resolved(
                deny_rule=next((b.name for b in blocks if _any(tool, b.deny)), None),
                allow_rule=next((b.name for b in blocks if _any(tool, b.allow)), None),
                approval_rule=next((b.name for b in blocks if _any(tool, b.approval)), None),
                constraints=tuple(self.constraints_for(tenant, role, tool)),
                limit=_last(blocks, "limits", tool),
                cost=_last(blocks, "costs", tool) or 0.0,
            )
            self._resolved[key] = hit
        return hit

    def allowed_globs(self, tenant: str, role: str) -> list[str]:
        blocks = self.blocks(tenant, role)
        return sorted({g for b in blocks for g in b.allow})

    def visible(self, tenant: str, role: str, tool: str) -> bool:
        """Would a call to ``tool`` get past allow/deny (before argument checks)? A tool whose
        constraints refuse every call is hidden too; a call still gets that constraint's hint."""
        r = self.resolve(tenant, role, tool)
        return r.deny_rule is None and r.allow_rule is not None and not any(c.deny for _, c in r.constraints)

    def limit_for(self, tenant: str, role: str, tool: str) -> Limit | None:
        return self.resolve(tenant, role, tool).limit

    def cost_for(self, tenant: str, role: str, tool: str) -> float:
        return self.resolve(tenant, role, tool).cost

    def constraints_for(self, tenant: str, role: str, tool: str) -> list[tuple[str, ToolConstraints]]:
        return [
            (b.name, c)
            for b in self.blocks(tenant, role)
            for g, c in b.constraints.items()
            if fnmatch.fnmatchcase(tool, g)
        ]


def _last(blocks: list[RuleBlock], attr: str, tool: str) -> Any:
    """The value of the most specific matching glob (an exact name beats ``robot_*`` beats
    ``*``); among equally specific globs, the later block wins."""
    best, best_key = None, None
    for order, b in enumerate(blocks):
        for glob, value in getattr(b, attr).items():
            if fnmatch.fnmatchcase(tool, glob):
                key = (specificity(glob), order)
                if best_key is None or key >= best_key:
                    best, best_key = value, key
    return best


def specificity(glob: str) -> tuple[bool, int]:
    """(no wildcard at all, number of literal characters)."""
    literal = sum(ch not in "*?[]" for ch in glob)
    return (not any(ch in glob for ch in "*?["), literal)


def _any(name: str, globs: list[str]) -> bool:
    return any(fnmatch.fnmatchcase(name, g) for g in globs)


def load_policy(path: Path | str) -> Policy:
    return load_yaml_model(Path(path), Policy, PolicyError)


def parse_policy(text: str, source: str = "<policy>") -> Policy:
    return parse_yaml_model(text, source, Policy, PolicyError)


DEFAULT_POLICY = Path(__file__).resolve().parent.parent / "infra" / "policies" / "default.yaml"
