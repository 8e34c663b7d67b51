"""Ray jobs on a real local head: submit → running → succeeded, logs, stop, idempotent
resubmission, tenant isolation, the reconciler (lost jobs, signed webhooks with retries) and
job events for the lake."""

from __future__ import annotations

import json
import threading
import time
from http.server import BaseHTTPRequestHandler, HTTPServer
from pathlib import Path
from typing import ClassVar

import pytest

from auraison.identity import Identity
from auraison.mcp_servers.cluster import webhooks
from auraison.mcp_servers.cluster.jobs import JobNotFound
from auraison.mcp_servers.cluster.models import JobRequest
from auraison.mcp_servers.cluster.service import ControlPlane, Forbidden
from auraison.mcp_servers.cluster.state import TERMINAL, jobs

ACME = Identity(tenant="acme", role="operator")


def wait_for(plane: ControlPlane, sid: str, statuses: set[str], timeout_s: float = 90):
    deadline = time.monotonic() + timeout_s
    seen = []
    while time.monotonic() < deadline:
        info = plane.job_status(ACME, sid)
        if not seen or seen[-1] != info.status:
            seen.append(info.status)
        if info.status in statuses:
            return info, seen
        time.sleep(0.2)  # polling Ray's Jobs API, which has no push
    raise AssertionError(f"{sid} never reached {statuses}; saw {seen}")


def test_submit_run_succeed_logs_and_idempotent_resubmit(plane: ControlPlane) -> None:
    req = JobRequest(
        entrypoint="python -c \"import time; time.sleep(1); print('trained', 6 * 7)\"",
        submission_id="train-1",
        resources={"num_cpus": 1},
    )
    first = plane.job_submit(ACME, req)
    assert first.created is True and first.status in ("PENDING", "RUNNING")
    info, seen = wait_for(plane, "train-1", TERMINAL)
    assert info.status == "SUCCEEDED" and "RUNNING" in seen
    again = plane.job_submit(ACME, req.model_copy(update={"entrypoint": "python -c 'print(0)'"}))
    assert again.created is False and again.entrypoint == req.entrypoint  # the first job, unchanged
    logs = plane.job_logs(ACME, "train-1")
    assert "trained 42" in logs.logs and not logs.truncated
    short = plane.job_logs(ACME, "train-1", tail_bytes=1024)
    assert short.total_bytes == logs.total_bytes
    assert [j.submission_id for j in plane.job_list(ACME)] == ["train-1"]
    events = [json.loads(x) for x in plane.events.file.read_text().splitlines()]
    assert [e["type"] for e in events if e["subject"] == "train-1"] == ["job.submitted", "job.succeeded"]


def test_stop_a_running_job_and_tenants_never_mix(plane: ControlPlane) -> None:
    plane.job_submit(
        ACME, JobRequest(entrypoint="python -c 'import time; time.sleep(120)'", submission_id="long")
    )
    wait_for(plane, "long", {"RUNNING"})
    with pytest.raises(JobNotFound):
        plane.job_status(Identity(tenant="globex", role="operator"), "long")
    with pytest.raises(Forbidden, match="viewer may not stop jobs"):
        plane.job_stop(Identity(tenant="acme", role="viewer"), "long")
    plane.job_stop(ACME, "long")
    info, _ = wait_for(plane, "long", TERMINAL)
    assert info.status == "STOPPED"


class Receiver(BaseHTTPRequestHandler):
    """A webhook receiver that refuses the first two deliveries (503), then accepts."""

    received: ClassVar[list[tuple[bytes, str]]] = []
    refusals = 2

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers["Content-Length"]))
        Receiver.received.append((body, self.headers[webhooks.HEADER]))
        ok = len(Receiver.received) > Receiver.refusals
        self.send_response(200 if ok else 503)
        self.end_headers()

    def log_message(self, *args) -> None:
        pass


async def test_reconcile_sends_a_signed_webhook_with_retries(plane: ControlPlane) -> None:
    Receiver.received = []
    server = HTTPServer(("127.0.0.1", 0), Receiver)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    url = f"http://127.0.0.1:{server.server_address[1]}/hook"
    plane.job_submit(
        ACME, JobRequest(entrypoint="python -c 'print(1)'", submission_id="hooked", callback_url=url)
    )
    wait_for(plane, "hooked", TERMINAL)
    out = await plane.jobs.reconcile()
    server.shutdown()
    assert out["webhooks"] == 1
    assert len(Receiver.received) == 3  # two refusals, then delivered
    body, signature = Receiver.received[-1]
    assert webhooks.verify("s3cret", body, signature)
    assert not webhooks.verify("wrong", body, signature)
    assert not webhooks.verify("s3cret", body.replace(b"SUCCEEDED", b"FAILED"), signature)
    assert json.loads(body)["job"]["status"] == "SUCCEEDED"
    assert (await plane.jobs.reconcile())["webhooks"] == 0  # delivered once, never again


async def test_the_reconciler_marks_jobs_the_cluster_lost(plane: ControlPlane) -> None:
    # What a head restart leaves behind: our record says RUNNING, Ray has never heard of it.
    plane.state.upsert(
        jobs, "submission_id", submission_id="ghost", tenant="acme", cluster="local", entrypoint="x",
        request={}, status="RUNNING", message="", callback_url=None, callback_done=True,
    )  # fmt: skip
    await plane.jobs.reconcile()
    info = plane.job_status(ACME, "ghost")
    assert info.status == "LOST" and "no longer knows" in info.message


def test_an_unreachable_cluster_is_a_clear_error(tmp_path: Path) -> None:
    from auraison.errors import AuraisonError
    from tests.integration.cluster.conftest import control_settings

    plane = ControlPlane(control_settings(tmp_path, "http://127.0.0.1:9"), grantor=None)
    with pytest.raises(AuraisonError, match=r"cluster local \(http://127.0.0.1:9\) is not reachable"):
        plane.job_submit(ACME, JobRequest(entrypoint="true"))
    status = plane.cluster_status(ACME, "local")
    assert status.up is False and "cluster_start" in status.detail
