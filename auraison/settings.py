"""One settings object that picks every backend: embedded defaults or real services.

Precedence, lowest first: built-in defaults < ``<home>/services.toml`` (endpoints written by
``auraison services up``) < the user's TOML file (``--config`` / ``AURAISON_CONFIG``) <
``AURAISON_*`` environment variables (``__`` nests: ``AURAISON_REDIS__URL``) < keyword overrides.

The ``profile`` only fills backend choices that were not set explicitly, so a user can run the
embedded profile with, say, the PostgreSQL management store alone.
"""

from __future__ import annotations

import contextvars
import os
import tomllib
from enum import StrEnum
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import BaseModel, Field, SecretStr, ValidationError, model_validator
from pydantic_settings import (
    BaseSettings,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
    TomlConfigSettingsSource,
)

from auraison.errors import ConfigError
from auraison.identity import PrincipalKind, Role

ENV_PREFIX = "AURAISON_"
SERVICES_FILE = "services.toml"


class Profile(StrEnum):
    embedded = "embedded"
    services = "services"


def default_home() -> Path:
    """``$AURAISON_HOME`` or ``~/.auraison``: where data, caches and PID files live."""
    return Path(os.environ.get("AURAISON_HOME", Path.home() / ".auraison")).expanduser()


class PostgresSettings(BaseModel):
    dsn: str = Field("postgresql://postgres@127.0.0.1:5432/test", description="libpq URL")


class RedisSettings(BaseModel):
    url: str = "redis://127.0.0.1:6379/0"
    key_prefix: str = "auraison:"


class NatsSettings(BaseModel):
    url: str = "nats://127.0.0.1:4222"


class S3Settings(BaseModel):
    endpoint: str = Field("127.0.0.1:8333", description="host:port of the S3 API")
    access_key: SecretStr | None = None
    secret_key: SecretStr | None = None
    bucket: str = "auraison"
    region: str = "us-east-1"
    secure: bool = False
    port: int = Field(8333, ge=1, le=65535, description="port `services up` binds SeaweedFS to")


class RaySettings(BaseModel):
    backend: Literal["inprocess", "cluster"] | None = None
    address: str | None = Field(None, description="ray://… or host:port of a running head")
    dashboard_url: str = "http://127.0.0.1:8265"
    head_port: int = Field(6390, ge=1, le=65535, description="never 6379: that is Redis")
    dashboard_port: int = Field(8265, ge=1, le=65535)
    num_cpus: int = Field(2, ge=1)
    clusters: dict[str, str] = Field(
        {}, description="remote Ray clusters by name: their dashboard / Jobs API URL"
    )


class CollisionMonitorSettings(BaseModel):
    """The robot plane's collision monitor (Nav2's Collision Monitor): zones ahead of the travel."""

    enabled: bool = True
    stop_distance_m: float = Field(
        0.05, ge=0, le=2, description="gap left to the footprint, after the stopping distance, that stops"
    )
    slowdown_distance_m: float = Field(
        0.30, ge=0, le=5, description="gap below which speed is scaled down (linearly to the stop zone)"
    )
    footprint_radius_m: float = Field(0.105, gt=0, le=2, description="robot footprint (TurtleBot3 burger)")


class RobotSettings(BaseModel):
    rosbridge_url: str = "ws://127.0.0.1:9090"
    world: str = "maze_small"
    sim_speed: float = Field(1.0, gt=0, le=100)
    collision: CollisionMonitorSettings = CollisionMonitorSettings()
    motion_lease_s: float = Field(
        1.0,
        gt=0,
        le=10,
        description="dead-man lease on motion: the robot stops this long after its caller goes silent",
    )


class WorldSettings(BaseModel):
    """Cosmos world-model backends: the local stand-in, or real endpoints."""

    backend: Literal["local", "openai", "nim"] = "local"
    reason_url: str = Field("http://127.0.0.1:8000/v1", description="OpenAI-compatible base URL (vLLM/NIM)")
    reason_model: str = "nvidia/Cosmos-Reason2-8B"
    predict_url: str = Field("http://127.0.0.1:8001", description="Cosmos-Predict2 NIM base URL")
    transfer_url: str = Field("http://127.0.0.1:8002", description="Cosmos-Transfer2.5 NIM base URL")
    api_key: SecretStr | None = None
    timeout_s: float = Field(60.0, gt=0)
    min_clearance_m: float = Field(0.3, gt=0, description="the critic's comfortable clearance")


class ModelSettings(BaseModel):
    provider: Literal["offline", "anthropic"] | None = None
    name: str = "claude-sonnet-4-5"


class LakeSettings(BaseModel):
    catalog: Literal["sqlite", "duckdb", "postgres"] | None = Field(
        None,
        description="sqlite: local, many processes at once (embedded default); duckdb: a DuckDB file, "
        "one process only; postgres: the services profile's",
    )
    storage: Literal["local", "s3"] | None = None
    s3_prefix: str = "lake/"
    embedder: Literal["auto", "minilm", "openai", "hash"] = Field(
        "auto", description="auto: all-MiniLM-L6-v2 when installed, else the lexical stand-in"
    )
    model_dir: Path | None = Field(None, description="MiniLM files (default: <home>/cache/models/…)")
    embedding_url: str = Field("http://127.0.0.1:8000/v1", description="OpenAI-compatible base URL")
    embedding_model: str = "text-embedding-3-small"
    embedding_api_key: SecretStr | None = None
    retention_days: float = Field(7, ge=0, description="`lake maintain` expires snapshots older than this")
    dataset_roots: list[Path] = Field(
        [], description="local folders register_dataset may read (S3 locations are always allowed)"
    )
    stream: str = Field("lake:ingest", description="Redis stream (after redis.key_prefix) for ingestion")
    batch_rows: int = Field(10_000, ge=1, description="rows per lake commit when ingesting a stream")
    commit_attempts: int = Field(
        8, ge=1, le=100, description="tries of a lake write that meets a commit conflict or a busy catalog"
    )
    target_file_size_mb: float = Field(
        4,
        gt=0,
        description="`lake maintain` merges small files up to about this size, never into one (small "
        "files keep narrow time ranges cheap; raise it for full scans over S3)",
    )
    ann_min_docs: int = Field(
        50_000,
        ge=0,
        description="search through an in-memory HNSW index (vss) once a tenant has this many vectors "
        "of one embedder; below it, exact cosine",
    )


class BusSettings(BaseModel):
    backend: Literal["inprocess", "redis", "nats"] | None = None


class ManagementSettings(BaseModel):
    store: Literal["sqlite", "postgres"] | None = None
    lease_ttl_s: float = Field(600, gt=0, description="how long a quota reservation holds if never settled")


class ControlSettings(BaseModel):
    """The control plane's HTTP API, its reconciler and its webhooks."""

    store: Literal["sqlite", "postgres"] | None = Field(
        None, description="where jobs and agents are recorded"
    )
    api_url: str = Field("http://127.0.0.1:8710", description="where agents send heartbeats")
    webhook_secret: SecretStr | None = Field(None, description="HMAC key for job-completion webhooks")
    webhook_allow: list[str] = Field(
        [],
        description="callback_url destinations allowed although not public (loopback, private, "
        "link-local): URL prefixes (http://10.0.0.5:9000/hooks/), hosts or IPs (any port), or CIDR "
        "networks; e.g. AURAISON_CONTROL__WEBHOOK_ALLOW='[\"127.0.0.1\"]'",
    )
    reconcile_s: float = Field(5.0, gt=0, description="how often job states are refreshed from Ray")
    heartbeat_s: float = Field(10.0, gt=0, description="agent heartbeat interval; 3 missed = stale")
    log_tail_bytes: int = Field(65_536, ge=1024, le=10_000_000)


class GatewayToken(BaseModel):
    """A static bearer token for the HTTP gateway and the identity it grants."""

    token: SecretStr
    tenant: str = "default"
    role: Role = Role.operator
    subject: str = "token"
    kind: PrincipalKind = Field(
        PrincipalKind.agent, description="human only for a token issued to a person (may decide approvals)"
    )


class AgentOpsSettings(BaseModel):
    enabled: bool = True
    policy_file: Path | None = Field(None, description="default: infra/policies/default.yaml")
    approvals: Literal["memory", "sqlite", "redis"] | None = None
    limiter: Literal["inprocess", "redis"] | None = None
    trace_file: Path | None = Field(None, description="default: <data_dir>/traces/spans.jsonl")
    otlp_endpoint: str | None = Field(
        None,
        description="an OTLP/HTTP collector (http://127.0.0.1:4318, or its …/v1/traces URL): spans "
        "go to …/v1/traces and the engine's and Pydantic AI's metrics to …/v1/metrics",
    )
    metrics_interval_s: float = Field(
        60, gt=0, description="how often metrics are exported (and when a runtime closes)"
    )
    record_tool_arguments: bool = Field(
        False,
        description="record each tool call's (redacted) arguments on its span as "
        "gen_ai.tool.call.arguments (opt-in in the GenAI conventions: they may hold personal data)",
    )
    record_content: bool = Field(
        False,
        description="record prompts, completions, tool arguments and results on an agent run's "
        "spans (Pydantic AI's include_content; opt-in in the GenAI conventions, as above)",
    )
    trace_via: Literal["direct", "stream"] = Field(
        "direct",
        description="with lake_sink: write spans to the lake directly, or XADD them to the lake's Redis "
        "ingestion stream (many gateway processes, one `lake ingest-stream` writer)",
    )
    lake_sink: bool | None = Field(
        None, description="also write spans to the lake (services profile default)"
    )
    quotas: Literal["none", "management"] = Field(
        "none", description="management: tool-call costs draw on the tenant's quota in the management plane"
    )
    quota_block: float = Field(50, gt=0, description="quota units an agent process reserves at a time")
    tenant: str = Field("default", description="identity for stdio, in-process and hook calls")
    role: Role = Field(Role.operator, description="the role of those calls; they are always agent principals")
    tokens: list[GatewayToken] = []


class ProxySettings(BaseModel):
    """A third-party MCP server the gateway runs (stdio) and serves as the governed namespace
    ``<name>_*``: the shape of an ``.mcp.json`` entry. ``ros`` is built in (the ros-mcp venv of
    ``auraison rosmcp install``, connected to ``robot.rosbridge_url``); give it a ``command`` to
    run another ros-mcp, or ``enabled = false`` to serve none."""

    command: str | None = Field(None, description="executable (PATH is searched); required but for `ros`")
    args: list[str] = []
    env: dict[str, str] = Field({}, description="added to a minimal environment (HOME, PATH, …)")
    enabled: bool = True


# What each profile picks for a backend the user left unset.
PROFILE_DEFAULTS: dict[Profile, dict[tuple[str, str], str]] = {
    Profile.embedded: {
        ("lake", "catalog"): "sqlite",  # many local processes at once (a DuckDB file allows one)
        ("lake", "storage"): "local",
        ("bus", "backend"): "inprocess",
        ("management", "store"): "sqlite",
        ("control", "store"): "sqlite",
        ("ray", "backend"): "inprocess",
        ("model", "provider"): "offline",
        ("agentops", "approvals"): "sqlite",
        ("agentops", "limiter"): "inprocess",
        ("agentops", "lake_sink"): True,  # the SQLite catalog takes every local process's spans
    },
    Profile.services: {
        ("lake", "catalog"): "postgres",
        ("lake", "storage"): "s3",
        ("bus", "backend"): "redis",
        ("management", "store"): "postgres",
        ("control", "store"): "postgres",
        ("ray", "backend"): "cluster",
        ("model", "provider"): "anthropic",
        ("agentops", "approvals"): "redis",
        ("agentops", "limiter"): "redis",
        ("agentops", "lake_sink"): True,
    },
}

_config_file: contextvars.ContextVar[Path | None] = contextvars.ContextVar(
    "auraison_config_file", default=None
)


class Settings(BaseSettings):
    """Every knob of Auraison. Backends left ``None`` are filled from ``profile``."""

    model_config = SettingsConfigDict(
        env_prefix=ENV_PREFIX,
        env_nested_delimiter="__",
        extra="forbid",
        validate_default=True,
    )

    profile: Profile = Profile.embedded
    home: Path = Field(default_factory=default_home)
    data_dir: Path | None = Field(None, description="defaults to <home>/data")
    log_format: Literal["console", "json"] = "console"
    log_level: Literal["debug", "info", "warning", "error"] = "info"
    anthropic_api_key: SecretStr | None = Field(None, description="or ANTHROPIC_API_KEY")

    postgres: PostgresSettings = PostgresSettings()
    redis: RedisSettings = RedisSettings()
    nats: NatsSettings = NatsSettings()
    s3: S3Settings = S3Settings()
    ray: RaySettings = RaySettings()
    robot: RobotSettings = RobotSettings()
    model: ModelSettings = ModelSettings()
    world: WorldSettings = WorldSettings()
    lake: LakeSettings = LakeSettings()
    bus: BusSettings = BusSettings()
    management: ManagementSettings = ManagementSettings()
    control: ControlSettings = ControlSettings()
    agentops: AgentOpsSettings = AgentOpsSettings()
    proxies: dict[Annotated[str, Field(pattern=r"^[a-z][a-z0-9]{0,15}$")], ProxySettings] = Field(
        {},
        description="MCP servers served through the gateway, by namespace: [proxies.NAME] in TOML, "
        'or AURAISON_PROXIES=\'{"NAME": {"command": …, "args": […]}}\'',
    )

    @model_validator(mode="after")
    def _fill_from_profile(self) -> Settings:
        if self.data_dir is None:
            self.data_dir = self.home / "data"
        if self.anthropic_api_key is None and os.environ.get("ANTHROPIC_API_KEY"):
            self.anthropic_api_key = SecretStr(os.environ["ANTHROPIC_API_KEY"])
        for (section, field), value in PROFILE_DEFAULTS[self.profile].items():
            part = getattr(self, section)
            if getattr(part, field) is None:
                setattr(part, field, value)
        if self.model.provider == "anthropic" and self.anthropic_api_key is None:
            # No key, no network model: fall back to the offline stand-in, loudly labelled later.
            self.model.provider = "offline"
        return self

    @property
    def run_dir(self) -> Path:
        """PID files and generated credentials of the services this project starts."""
        return self.home / "run"

    @property
    def cache_dir(self) -> Path:
        return self.home / "cache"

    @property
    def duckdb_extension_dir(self) -> Path:
        return self.cache_dir / "duckdb_extensions"

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        sources: list[PydanticBaseSettingsSource] = [init_settings, env_settings]
        user_file = _config_file.get()
        if user_file is not None:
            sources.append(TomlConfigSettingsSource(settings_cls, toml_file=user_file))
        services_file = default_home() / SERVICES_FILE
        if services_file.is_file():
            sources.append(TomlConfigSettingsSource(settings_cls, toml_file=services_file))
        return tuple(sources)


def load_settings(config_file: Path | str | None = None, **overrides: Any) -> Settings:
    """Build the effective settings; every malformed input becomes one-line ``ConfigError``."""
    path = config_file or os.environ.get("AURAISON_CONFIG")
    path = Path(path).expanduser() if path else None
    if path is not None:
        if not path.is_file():
            raise ConfigError(f"settings file {path} does not exist", "pass an existing TOML file")
        _check_toml(path)
    _check_toml(default_home() / SERVICES_FILE, optional=True)
    token = _config_file.set(path)
    try:
        return Settings(**overrides)
    except ValidationError as exc:
        raise ConfigError(_describe(exc, path)) from None
    finally:
        _config_file.reset(token)


def _check_toml(path: Path, optional: bool = False) -> None:
    if optional and not path.is_file():
        return
    try:
        tomllib.loads(path.read_text())
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path}: not valid TOML: {exc}", "fix the line it names") from None


def _describe(exc: ValidationError, path: Path | None) -> str:
    """One line per problem: which field, where it came from, what form is expected."""
    parts = []
    for err in exc.errors():
        loc = ".".join(str(p) for p in err["loc"])
        env = ENV_PREFIX + "__".join(str(p) for p in err["loc"]).upper()
        where = f"{loc} (env {env}" + (f" or [{path}]" if path else "") + ")"
        got = err.get("input")
        got_text = "" if isinstance(got, dict) else f"; got {got!r}"
        parts.append(f"{where}: {err['msg']}{got_text}")
    return "invalid settings: " + "; ".join(parts)


def masked_dump(settings: Settings) -> dict[str, Any]:
    """The effective settings as plain data, secrets shown as ``'****'``."""
    data = settings.model_dump(mode="json")

    def mask(model: BaseModel, out: dict[str, Any]) -> None:
        for name in type(model).model_fields:
            value = getattr(model, name)
            if isinstance(value, SecretStr):
                out[name] = "****"
            elif isinstance(value, BaseModel):
                mask(value, out[name])
            elif name == "dsn" and isinstance(value, str) and "@" in value and ":" in value:
                out[name] = mask_dsn(value)

    mask(settings, data)
    return data


def mask_dsn(dsn: str) -> str:
    scheme, _, rest = dsn.partition("://")
    creds, at, host = rest.rpartition("@")
    if not at or ":" not in creds:
        return dsn
    user = creds.split(":", 1)[0]
    return f"{scheme}://{user}:****@{host}"
