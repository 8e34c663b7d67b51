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
