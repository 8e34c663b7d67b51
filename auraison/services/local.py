"""The services ``auraison services up`` runs itself, and the endpoints it writes.

* ``s3``  — SeaweedFS ``weed mini`` (a real S3 server from PyPI) on loopback, generated keys;
* ``ray`` — a Ray head (``ray start --head --block``) on a non-6379 port with the dashboard;
* ``sim`` — the built-in TurtleBot maze simulator speaking rosbridge v2.

Their endpoints land in ``<home>/services.toml``, which the ``services`` profile reads.
PostgreSQL, Redis and NATS belong to the machine: we only probe them.
"""

from __future__ import annotations

import hashlib
import json
import os
import secrets
import shutil
import socket
import sys
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from auraison.errors import ServiceError
from auraison.services import probes
from auraison.services.process import PidRecord, ProcessManager, ProcessSpec
from auraison.settings import SERVICES_FILE, Settings

SERVICE_NAMES = ("s3", "ray", "sim")


@dataclass(frozen=True)
class ServiceState:
    name: str
    running: bool
    pid: int | None
    endpoint: str
    detail: str


def weed_ports(s3_port: int) -> dict[str, int]:
    """Every port ``weed mini`` binds, derived from the S3 port (defaults at 8333)."""
    return {
        "s3": s3_port,
        "master": s3_port + 1000,  # 9333
        "filer": s3_port + 555,  # 8888
        "volume": s3_port - 253,  # 8080
    }


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def free_weed_port(attempts: int = 50) -> int:
    """An S3 port whose derived SeaweedFS ports (and their +10000 gRPC twins) are all free."""
    for _ in range(attempts):
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            port = s.getsockname()[1]
        ports = list(weed_ports(port).values())
        ports += [p + 10000 for p in ports]
        if max(ports) < 65000 and min(ports) > 1024 and all(_bindable(p) for p in ports):
            return port
    raise ServiceError("no free block of ports for SeaweedFS")


def s3_on_free_ports(home_for: Callable[[int], Path], attempts: int = 3) -> LocalServices:
    """A private SeaweedFS (tests, benchmarks) on free ports, in the home ``home_for(attempt)``
    gives: weed binds seven ports, and one may be taken between the pick and the bind, so a
    start that loses that race tries again on another block."""
    for attempt in range(attempts):
        svc = LocalServices(Settings(home=home_for(attempt), s3={"port": free_weed_port()}))
        try:
            svc.up(("s3",))
            return svc
        except ServiceError:
            svc.down(("s3",))
            if attempt == attempts - 1:
                raise
    raise ServiceError("no SeaweedFS started")  # attempts < 1


def _bindable(port: int) -> bool:
    with socket.socket() as s:
        try:
            s.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


class LocalServices:
    """Start/stop/status of the project's own services, all PID-file based."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.procs = ProcessManager(settings.run_dir)

    # ----------------------------------------------------------------- credentials
    def s3_credentials(self) -> tuple[str, str]:
        """The generated S3 key pair, created on first use and kept under ``run_dir``."""
        path = self.settings.run_dir / "s3.json"
        if path.is_file():
            ident = json.loads(path.read_text())["identities"][0]["credentials"][0]
            return ident["accessKey"], ident["secretKey"]
        access, secret = "auraison" + secrets.token_hex(6), secrets.token_urlsafe(30)
        config = {
            "identities": [
                {
                    "name": "lake",
                    "credentials": [{"accessKey": access, "secretKey": secret}],
                    "actions": ["Admin", "Read", "List", "Tagging", "Write"],
                }
            ]
        }
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(config))
        path.chmod(0o600)
        return access, secret

    # ----------------------------------------------------------------------- specs
    def spec(self, name: str) -> ProcessSpec:
        return {"s3": self._s3_spec, "ray": self._ray_spec, "sim": self._sim_spec}[name]()

    def _s3_spec(self) -> ProcessSpec:
        weed = shutil.which("weed") or str(Path(sys.executable).parent / "weed")
        access, secret = self.s3_credentials()
        ports = weed_ports(self.settings.s3.port)
        data = self.settings.data_dir / "s3"
        data.mkdir(parents=True, exist_ok=True)
        endpoint = f"127.0.0.1:{ports['s3']}"
        argv = [
            weed,
            "mini",
            f"-dir={data}",
            "-ip=127.0.0.1",
            "-ip.bind=127.0.0.1",
            f"-s3.config={self.settings.run_dir / 's3.json'}",
            f"-s3.port={ports['s3']}",
            f"-master.port={ports['master']}",
            f"-filer.port={ports['filer']}",
            f"-volume.port={ports['volume']}",
            "-webdav=false",
            "-admin.ui=false",
            "-s3.port.iceberg=0",
            "-s3.port.lance=0",
        ]
        return ProcessSpec(
            "s3",
            argv,
            ready=lambda: probes.probe_s3(endpoint, access, secret, False).ok,
            ready_timeout_s=60,
        )

    @property
    def ray_temp_dir(self) -> Path:
        """Ray's session folder. Short and under the system temp dir: Ray's AF_UNIX socket
        paths live there and may not exceed 107 bytes, however deep ``AURAISON_HOME`` is."""
        digest = hashlib.sha1(str(self.settings.run_dir.resolve()).encode()).hexdigest()[:10]
        return Path(tempfile.gettempdir()) / f"auraison-ray-{digest}"

    def _ray_spec(self) -> ProcessSpec:
        ray = shutil.which("ray") or str(Path(sys.executable).parent / "ray")
        rs = self.settings.ray
        temp = self.ray_temp_dir
        argv = [
            ray,
            "start",
            "--head",
            "--block",
            f"--port={rs.head_port}",
            f"--num-cpus={rs.num_cpus}",
            "--include-dashboard=true",
            "--dashboard-host=127.0.0.1",
            f"--dashboard-port={rs.dashboard_port}",
            f"--temp-dir={temp}",
            "--disable-usage-stats",
        ]
        # Ray's side ports default to fixed numbers (the dashboard agent to 52365): a second
        # head on the machine (a test session beside `services up`) would lose its job agent.
        # Free ones are picked per start; clients only ever use the GCS and dashboard ports.
        for flag in (
            "dashboard-agent-listen-port",
            "dashboard-agent-grpc-port",
            "metrics-export-port",
            "runtime-env-agent-port",
            "node-manager-port",
            "object-manager-port",
            "ray-client-server-port",
        ):
            argv.append(f"--{flag}={_free_port()}")
        url = f"http://127.0.0.1:{rs.dashboard_port}"
        return ProcessSpec(
            "ray",
            argv,
            env={"RAY_USAGE_STATS_ENABLED": "0"},
            ready=lambda: probes.probe_ray_dashboard(url).ok,
            ready_timeout_s=90,
            # The GCS server and `ray start --block` outlive a SIGTERM by more than 20 s, and the
            # local head keeps nothing worth the wait: its cluster state is the GCS's memory.
            stop_timeout_s=3.0,
        )

    def _sim_spec(self) -> ProcessSpec:
        host, port = probes.host_port(self.settings.robot.rosbridge_url, 9090)
        argv = [
            sys.executable,
            "-m",
            "auraison.sim",
            "run",
            "--world",
            self.settings.robot.world,
            "--host",
            host,
            "--port",
            str(port),
            "--speed",
            str(self.settings.robot.sim_speed),
        ]
        return ProcessSpec("sim", argv, ready=lambda: probes.tcp_open(host, port))

    # ------------------------------------------------------------------ lifecycle
    def up(self, names: tuple[str, ...] = SERVICE_NAMES) -> list[tuple[str, PidRecord, bool]]:
        """Start each named service unless ours already runs; write the endpoints file."""
        started = []
        for name in names:
            self._check_ports_free(name)
            rec, new = self.procs.start(self.spec(name))
            started.append((name, rec, new))
            if name == "s3":
                self._ensure_bucket()
        self.write_endpoints()
        return started

    def down(self, names: tuple[str, ...] = SERVICE_NAMES) -> list[tuple[str, bool]]:
        """Stop only what our PID files name; returns (name, was_running)."""
        stopped = []
        for name in reversed(names):
            stopped.append((name, self.procs.stop(name)))
            if name == "ray":
                (self.ray_temp_dir / "ray_current_cluster").unlink(missing_ok=True)
        return stopped

    def status(self) -> list[ServiceState]:
        out = []
        for name in SERVICE_NAMES:
            rec = self.procs.running(name)
            endpoint, probe = self._probe(name)
            out.append(
                ServiceState(
                    name,
                    rec is not None,
                    rec.pid if rec else None,
                    endpoint,
                    probe.detail if probe.ok else f"down: {probe.detail}",
                )
            )
        return out

    def _probe(self, name: str) -> tuple[str, probes.Probe]:
        s = self.settings
        if name == "s3":
            endpoint = f"127.0.0.1:{s.s3.port}"
            access, secret = self.s3_credentials()
            return endpoint, probes.probe_s3(endpoint, access, secret, False)
        if name == "ray":
            url = f"http://127.0.0.1:{s.ray.dashboard_port}"
            return url, probes.probe_ray_dashboard(url)
        return s.robot.rosbridge_url, probes.probe_tcp(
            "rosbridge", s.robot.rosbridge_url, 9090, "auraison services up"
        )

    def _check_ports_free(self, name: str) -> None:
        """Refuse to start over a port somebody else holds: say who to stop instead."""
        if self.procs.running(name) is not None:
            return
        s = self.settings
        ports = {
            "s3": list(weed_ports(s.s3.port).values()),
            "ray": [s.ray.head_port, s.ray.dashboard_port],
            "sim": [probes.host_port(s.robot.rosbridge_url, 9090)[1]],
        }[name]
        busy = [p for p in ports if probes.tcp_open("127.0.0.1", p, timeout_s=0.2)]
        if busy:
            raise ServiceError(
                f"{name}: port(s) {busy} already in use by a process auraison did not start; "
                "stop it or choose other ports in the settings"
            )

    def _ensure_bucket(self) -> None:
        from minio import Minio

        access, secret = self.s3_credentials()
        client = Minio(
            f"127.0.0.1:{self.settings.s3.port}", access_key=access, secret_key=secret, secure=False
        )
        if not client.bucket_exists(self.settings.s3.bucket):
            client.make_bucket(self.settings.s3.bucket)

    def write_endpoints(self) -> Path:
        """Write what the ``services`` profile needs to reach what runs now."""
        s = self.settings
        access, secret = self.s3_credentials()
        lines = ["# written by `auraison services up`; read by the `services` profile"]
        if self.procs.running("s3"):
            lines += [
                "[s3]",
                f'endpoint = "127.0.0.1:{s.s3.port}"',
                f'access_key = "{access}"',
                f'secret_key = "{secret}"',
            ]
        if self.procs.running("ray"):
            lines += [
                "[ray]",
                f'address = "127.0.0.1:{s.ray.head_port}"',
                f'dashboard_url = "http://127.0.0.1:{s.ray.dashboard_port}"',
            ]
        if self.procs.running("sim"):
            lines += ["[robot]", f'rosbridge_url = "{s.robot.rosbridge_url}"']
        path = s.home / SERVICES_FILE
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(".tmp")
        tmp.write_text("\n".join(lines) + "\n")
        os.chmod(tmp, 0o600)
        tmp.replace(path)
        return path
