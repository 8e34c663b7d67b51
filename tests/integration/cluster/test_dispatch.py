"""Queued dispatch to Ray: a dispatcher killed after submitting but before acking costs
nothing — the job is redelivered and Ray, which accepts a submission id once, runs it once."""

from __future__ import annotations

import asyncio
import subprocess
import sys
from pathlib import Path

import pytest
from ray.job_submission import JobSubmissionClient

from auraison.mcp_servers.cluster.dispatch import Dispatcher, enqueue_job
from auraison.mcp_servers.cluster.models import JobRequest
from auraison.mcp_servers.cluster.queue import InProcessQueue, QueueConfig, RedisStreamQueue
from auraison.mcp_servers.cluster.service import ControlPlane
from tests.integration.cluster.conftest import control_settings

CRASH_AFTER_SUBMIT = """
import asyncio, os, sys
from auraison.mcp_servers.cluster.dispatch import Dispatcher
from auraison.mcp_servers.cluster.queue import QueueConfig, RedisStreamQueue
from auraison.mcp_servers.cluster.service import ControlPlane
from tests.integration.cluster.conftest import control_settings
home, dashboard, prefix, name = sys.argv[1:5]
plane = ControlPlane(control_settings(home, dashboard), grantor=None)
queue = RedisStreamQueue("redis://127.0.0.1:6379/0", prefix, QueueConfig(name=name, visibility_s=1.0))
async def main():
    d = Dispatcher(queue, plane.jobs, "doomed")
    async def die(delivery):
        os._exit(7)  # submitted to Ray, never acked
    queue.ack = die
    await d.run_once(timeout_s=5)
asyncio.run(main())
"""


async def test_a_dispatcher_killed_after_submitting_does_not_run_the_job_twice(
    tmp_path: Path, ray_head: str, redis_prefix: str
) -> None:
    queue = RedisStreamQueue(
        "redis://127.0.0.1:6379/0", redis_prefix, QueueConfig(name="ray", visibility_s=1.0)
    )
    req = JobRequest(entrypoint="python -c \"print('dispatched once')\"", submission_id="queued-1")
    assert await enqueue_job(queue, "acme", req) is True
    assert await enqueue_job(queue, "acme", req) is False  # the same id again: nothing new
    done = await asyncio.to_thread(
        subprocess.run,
        [sys.executable, "-c", CRASH_AFTER_SUBMIT, str(tmp_path), ray_head, redis_prefix, "ray"],
        capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert done.returncode == 7, done.stderr
    plane = ControlPlane(control_settings(tmp_path, ray_head), grantor=None)
    survivor = Dispatcher(queue, plane.jobs, "survivor")
    info = await survivor.run_once(timeout_s=10)  # reclaimed after the visibility timeout
    assert info is not None and info.submission_id == "queued-1" and info.created is False
    assert await survivor.run_once(timeout_s=1.5) is None  # acked: not delivered again
    ray_jobs = [j for j in JobSubmissionClient(ray_head).list_jobs() if j.submission_id == "queued-1"]
    assert len(ray_jobs) == 1  # exactly one job on the cluster
    await queue.redis.delete(queue.stream, queue.dead_stream, queue.ids + "queued-1")
    await queue.close()


async def test_a_job_that_cannot_be_submitted_is_dead_lettered(tmp_path: Path, ray_head: str) -> None:
    plane = ControlPlane(control_settings(tmp_path, ray_head), grantor=None)
    queue = InProcessQueue(QueueConfig(max_deliveries=2))
    await enqueue_job(
        queue, "acme", JobRequest(entrypoint="true", submission_id="nowhere", cluster="no-such")
    )
    dispatcher = Dispatcher(queue, plane.jobs)
    for _ in range(3):
        assert await dispatcher.run_once(timeout_s=0.2) is None
    assert [i.job_id for i in await queue.dead_letters()] == ["nowhere"]
    with pytest.raises(Exception, match="needs a submission_id"):
        await enqueue_job(queue, "acme", JobRequest(entrypoint="true"))


async def test_a_head_cut_after_the_first_job_holds_the_next_instead_of_dead_lettering(
    tmp_path: Path, ray_head: str
) -> None:
    """The Jobs API client is made while the head answers; when the head is then cut, a
    submission's connection error is the cluster being away (held, retried), never the job's
    fault (a nack per try, then the dead-letter queue)."""
    from urllib.parse import urlsplit

    from tests.tcpproxy import TcpProxy

    proxy = TcpProxy("127.0.0.1", urlsplit(ray_head).port or 0).start()
    plane = ControlPlane(control_settings(tmp_path, f"http://127.0.0.1:{proxy.port}"), grantor=None)
    queue = InProcessQueue(QueueConfig(max_deliveries=1, visibility_s=30.0))
    dispatcher = Dispatcher(queue, plane.jobs, "cut")
    for sid in ("cut-1", "cut-2"):
        await enqueue_job(queue, "acme", JobRequest(entrypoint="python -c 'print(1)'", submission_id=sid))
    assert (await dispatcher.run_once(timeout_s=5)).submission_id == "cut-1"  # the client is made
    proxy.stop()
    try:
        held = asyncio.create_task(dispatcher.run_once(timeout_s=5))
        # Without the hold, the refused submission is nacked (and, at one delivery,
        # dead-lettered) within milliseconds; held, it is still in hand seconds later.
        done, _ = await asyncio.wait({held}, timeout=3)
        assert not done, held.result()
    finally:
        proxy.start()  # the same port: the held submission goes through
    info = await asyncio.wait_for(held, 60)
    assert info is not None and info.submission_id == "cut-2"
    assert await queue.dead_letters() == [] and await queue.depth() == 0
