"""A control plane wired to the real local Ray head (``ray_head``, in ``tests/conftest.py``: one
per test session, shared with the robot-data tests)."""

from __future__ import annotations

from pathlib import Path

import pytest

from auraison.mcp_servers.billing.service import Billing
from auraison.mcp_servers.cluster.agents import BillingGrantor
from auraison.mcp_servers.cluster.service import ControlPlane
from auraison.settings import Settings


def control_settings(home: Path, dashboard: str, **extra) -> Settings:
    extra["agentops"] = {"approvals": "memory", **extra.get("agentops", {})}
    return Settings(home=home, ray={"dashboard_url": dashboard}, **extra)


@pytest.fixture
def plane(tmp_path: Path, ray_head: str) -> ControlPlane:
    # The webhook tests' receivers listen on loopback: a callback_url may name it only when
    # control.webhook_allow does.
    control = {"webhook_secret": "s3cret", "webhook_allow": ["127.0.0.1"]}
    settings = control_settings(tmp_path, ray_head, control=control)
    return ControlPlane(settings, grantor=BillingGrantor(lambda: Billing.from_settings(settings)))
