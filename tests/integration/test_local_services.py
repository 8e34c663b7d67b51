"""`services up/down` with the real SeaweedFS S3 server and the simulator, on free ports."""

from __future__ import annotations

import socket
import tomllib
from pathlib import Path

import pytest
from minio import Minio

from auraison.doctor import diagnose
from auraison.errors import ServiceError
from auraison.services.local import LocalServices, free_weed_port
from auraison.settings import load_settings
from tests.conftest import free_port

pytestmark = pytest.mark.integration


@pytest.fixture
def local(home: Path, monkeypatch: pytest.MonkeyPatch) -> LocalServices:
    monkeypatch.setenv("AURAISON_S3__PORT", str(free_weed_port()))
    monkeypatch.setenv("AURAISON_ROBOT__ROSBRIDGE_URL", f"ws://127.0.0.1:{free_port()}")
    svc = LocalServices(load_settings())
    yield svc
    svc.down()


def test_s3_up_is_idempotent_writes_endpoints_and_down_stops(local: LocalServices) -> None:
    ((name, rec, new),) = local.up(("s3",))
    assert name == "s3" and new
    ((_, again, new_again),) = local.up(("s3",))
    assert not new_again and again.pid == rec.pid  # idempotent: same process kept

    s = load_settings()  # re-read: services.toml now holds the endpoint and keys
    assert s.s3.access_key is not None and s.s3.endpoint == f"127.0.0.1:{local.settings.s3.port}"
    data = tomllib.loads((s.home / "services.toml").read_text())
    assert data["s3"]["endpoint"] == s.s3.endpoint
    assert oct((s.home / "services.toml").stat().st_mode)[-3:] == "600"
    client = Minio(
        s.s3.endpoint,
        access_key=s.s3.access_key.get_secret_value(),
        secret_key=s.s3.secret_key.get_secret_value(),
        secure=False,
    )
    assert client.bucket_exists(s.s3.bucket)
    rows = {r.component: r for r in diagnose(s)}
    assert rows["s3 (seaweedfs)"].ok

    assert local.down(("s3",)) == [("s3", True)]
    assert local.down(("s3",)) == [("s3", False)]
    assert not rec.alive()
    row = {r.component: r for r in diagnose(s)}["s3 (seaweedfs)"]
    assert not row.ok and "auraison services up" in row.fix


def test_sim_service_serves_rosbridge(local: LocalServices) -> None:
    local.up(("sim",))
    s = load_settings()
    rows = {r.component: r for r in diagnose(s)}
    assert rows["rosbridge"].ok, rows["rosbridge"].detail
    states = {st.name: st for st in local.status()}
    assert states["sim"].running and not states["s3"].running
    local.down(("sim",))
    assert not {r.component: r for r in diagnose(s)}["rosbridge"].ok


def test_refuses_a_port_held_by_someone_else(local: LocalServices) -> None:
    host, port = "127.0.0.1", int(local.settings.robot.rosbridge_url.rsplit(":", 1)[1])
    with socket.socket() as squatter:
        squatter.bind((host, port))
        squatter.listen()
        with pytest.raises(ServiceError, match="did not start"):
            local.up(("sim",))


def test_fresh_bucket_fixture_round_trip(s3_bucket: tuple[Minio, str]) -> None:
    import io

    client, bucket = s3_bucket
    assert list(client.list_objects(bucket)) == []
    client.put_object(bucket, "a/b.txt", io.BytesIO(b"hello"), 5)
    assert client.get_object(bucket, "a/b.txt").read() == b"hello"
