"""infra/docker-compose.yml parses and provides every service the `services` profile uses."""

from __future__ import annotations

from pathlib import Path
from urllib.parse import urlparse

import yaml

from auraison.settings import load_settings
from tests.conftest import REPO


def test_compose_names_every_production_part() -> None:
    compose = yaml.safe_load((REPO / "infra" / "docker-compose.yml").read_text())
    services = compose["services"]
    assert {"postgres", "redis", "nats", "minio"} <= set(services)
    assert "-js" in services["nats"]["command"]
    for svc in services.values():
        assert all(p.startswith("127.0.0.1:") for p in svc["ports"])  # loopback only


def test_compose_settings_match_compose_ports(home: Path) -> None:
    compose = yaml.safe_load((REPO / "infra" / "docker-compose.yml").read_text())
    published = {int(p.split(":")[1]) for s in compose["services"].values() for p in s["ports"]}
    s = load_settings(REPO / "infra" / "services.compose.toml")
    assert s.profile.value == "services"
    for url in (s.postgres.dsn, s.redis.url, s.nats.url, "s3://" + s.s3.endpoint):
        assert urlparse(url).port in published, url
    env = compose["services"]["minio"]["environment"]
    assert s.s3.access_key.get_secret_value() == env["MINIO_ROOT_USER"]
    assert (
        s.postgres.dsn.split(":")[2].split("@")[0]
        == compose["services"]["postgres"]["environment"]["POSTGRES_PASSWORD"]
    )
