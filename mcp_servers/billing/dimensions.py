"""What the management plane meters, and who may do what."""

from __future__ import annotations

from enum import StrEnum

from auraison.identity import Role


class Dimension(StrEnum):
    """Quota and billing dimensions; every amount is in the unit the name ends with."""

    tool_calls = "tool_calls"
    model_input_tokens = "model_input_tokens"
    model_output_tokens = "model_output_tokens"
    model_cost_usd = "model_cost_usd"
    gpu_seconds = "gpu_seconds"
    cpu_seconds = "cpu_seconds"
    robot_motion_minutes = "robot_motion_minutes"


# Rank for "may not grant more than you hold" (an operator cannot mint an owner key).
RANK = {Role.admin: 4, Role.owner: 3, Role.operator: 2, Role.agent: 1, Role.viewer: 0}

ANY_MEMBER = frozenset(Role)
PERMISSIONS: dict[str, frozenset[Role]] = {
    "tenant.create": frozenset({Role.admin}),
    "tenant.get": ANY_MEMBER,
    "user.add": frozenset({Role.admin, Role.owner}),
    "key.issue": frozenset({Role.admin, Role.owner, Role.operator}),
    "key.revoke": frozenset({Role.admin, Role.owner, Role.operator}),
    "key.list": frozenset({Role.admin, Role.owner, Role.operator}),
    "quota.get": ANY_MEMBER,
    "quota.set": frozenset({Role.admin, Role.owner}),
    "usage.report": frozenset({Role.admin, Role.owner, Role.operator, Role.viewer}),
    "usage.record": frozenset({Role.admin, Role.owner, Role.operator, Role.agent}),
    "invoice.preview": frozenset({Role.admin, Role.owner, Role.operator, Role.viewer}),
    "reservations.list": frozenset({Role.admin, Role.owner, Role.operator}),
    "reservations.make": frozenset({Role.admin, Role.owner, Role.operator, Role.agent}),
}
