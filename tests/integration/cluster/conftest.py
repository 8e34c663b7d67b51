"""A real local Ray head for the control-plane tests (started once per test session on free
ports, stopped afterwards) and a control plane wired to it."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from auraison.mcp_servers.billing.service import Billing
from auraison.mcp_servers.cluster.agents import BillingGrantor
from auraison.mcp_servers.cluster.service import ControlPlane
from auraison.settings import Settings
from tests.conftest import free_port


@pytest.fixture(scope="session")
def ray_head(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    from auraison.errors import ServiceError
    from auraison.services.local import LocalServices

    for attempt in range(2):  # ports are picked free, then bound by Ray: another process may win
        home = tmp_path_factory.mktemp("rayhome")
        ports = {"head_port": free_port(), "dashboard_port": free_port(), "num_cpus": 2}
        settings = Settings(home=home, ray=ports)
        services = LocalServices(settings)
        try:
            services.up(("ray",))
            break
        except ServiceError:
            services.down(("ray",))
            if attempt:
                raise
    try:
        yield f"http://127.0.0.1:{settings.ray.dashboard_port}"
    finally:
        services.down(("ray",))


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
