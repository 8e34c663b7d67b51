"""Settings: precedence, profiles, masking, and one-line errors for bad input."""

from __future__ import annotations

from pathlib import Path

import pytest

from auraison.errors import ConfigError
from auraison.settings import Profile, load_settings, masked_dump


def test_defaults_are_the_embedded_profile(home: Path) -> None:
    s = load_settings()
    assert s.profile is Profile.embedded
    assert (s.lake.catalog, s.lake.storage, s.bus.backend) == ("sqlite", "local", "inprocess")
    assert (s.management.store, s.ray.backend, s.model.provider) == (
        "sqlite",
        "inprocess",
        "offline",
    )
    assert s.data_dir == home / "data"


def test_services_profile_switches_every_backend(home: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AURAISON_PROFILE", "services")
    monkeypatch.setenv("ANTHROPIC_API_KEY", "sk-test")
    s = load_settings()
    assert (s.lake.catalog, s.lake.storage, s.bus.backend) == ("postgres", "s3", "redis")
    assert (s.management.store, s.ray.backend, s.model.provider) == (
        "postgres",
        "cluster",
        "anthropic",
    )


def test_services_profile_without_key_falls_back_to_offline_model(
    home: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("AURAISON_PROFILE", "services")
    assert load_settings().model.provider == "offline"


def test_explicit_backend_beats_profile(home: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AURAISON_MANAGEMENT__STORE", "postgres")
    s = load_settings()
    assert s.management.store == "postgres" and s.lake.catalog == "sqlite"


def test_precedence_defaults_services_file_user_file_env(
    home: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    home.mkdir(parents=True)
    (home / "services.toml").write_text(
        '[redis]\nurl = "redis://svc:1/0"\n[nats]\nurl = "nats://svc:2"\n[s3]\nendpoint = "svc:3"\n'
    )
    user = tmp_path / "user.toml"
    user.write_text('[redis]\nurl = "redis://file:1/0"\n[nats]\nurl = "nats://file:2"\n')
    monkeypatch.setenv("AURAISON_REDIS__URL", "redis://env:1/0")
    s = load_settings(user)
    assert s.redis.url == "redis://env:1/0"  # env beats file
    assert s.nats.url == "nats://file:2"  # file beats services.toml
    assert s.s3.endpoint == "svc:3"  # services.toml beats defaults
    assert s.postgres.dsn.startswith("postgresql://")  # default
    assert load_settings(user, log_format="json").log_format == "json"  # overrides beat all


def test_config_file_from_env_var(home: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    user = tmp_path / "a.toml"
    user.write_text('profile = "services"\n')
    monkeypatch.setenv("AURAISON_CONFIG", str(user))
    assert load_settings().profile is Profile.services


@pytest.mark.parametrize(
    ("env", "value", "needle"),
    [
        ("AURAISON_PROFILE", "cloud", "profile (env AURAISON_PROFILE"),
        ("AURAISON_S3__PORT", "eighty", "s3.port (env AURAISON_S3__PORT"),
        ("AURAISON_RAY__HEAD_PORT", "70000", "ray.head_port"),
        ("AURAISON_LAKE__CATALOG", "mysql", "'sqlite', 'duckdb' or 'postgres'"),
    ],
)
def test_bad_env_value_is_one_line_naming_field(
    home: Path, monkeypatch: pytest.MonkeyPatch, env: str, value: str, needle: str
) -> None:
    monkeypatch.setenv(env, value)
    with pytest.raises(ConfigError) as err:
        load_settings()
    text = str(err.value)
    assert (needle in text and "\n" not in text and repr(value) in text) or value in text


@pytest.mark.parametrize(
    ("body", "needle"),
    [
        ("profile = \n", "not valid TOML"),
        ("[redis]\nurl = 5\n", "redis.url"),
        ("bogus = 1\n", "bogus"),
    ],
)
def test_bad_file_is_one_line(home: Path, tmp_path: Path, body: str, needle: str) -> None:
    path = tmp_path / "bad.toml"
    path.write_text(body)
    with pytest.raises(ConfigError) as err:
        load_settings(path)
    assert needle in str(err.value) and "\n" not in str(err.value)


def test_missing_file_is_a_clear_error(home: Path, tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="does not exist"):
        load_settings(tmp_path / "nope.toml")


def test_masked_dump_hides_secrets(home: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AURAISON_S3__SECRET_KEY", "hunter2")
    monkeypatch.setenv("AURAISON_POSTGRES__DSN", "postgresql://u:pw@db:5432/x")
    dump = masked_dump(load_settings())
    assert dump["s3"]["secret_key"] == "****"
    assert dump["postgres"]["dsn"] == "postgresql://u:****@db:5432/x"
    assert "hunter2" not in str(dump) and ":pw@" not in str(dump)
