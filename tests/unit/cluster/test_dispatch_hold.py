"""A cluster outage says nothing against a queued job: the dispatcher holds the job and submits
it when the cluster is back, instead of spending its deliveries and dead-lettering it."""

from __future__ import annotations

from typing import Any

import pytest

from auraison.errors import NotFound
from auraison.mcp_servers.cluster import dispatch
from auraison.mcp_servers.cluster.clusters import ClusterUnavailable
from auraison.mcp_servers.cluster.dispatch import Dispatcher, enqueue_job
from auraison.mcp_servers.cluster.models import JobInfo, JobRequest
from auraison.mcp_servers.cluster.queue import InProcessQueue, QueueConfig


class FlakyJobs:
    """A job service whose cluster is away for the first ``away`` submissions."""

    def __init__(self, away: int, error: Exception | None = None) -> None:
        self.away, self.error, self.tries = away, error, 0
        self.submitted: list[str] = []

    def submit(self, tenant: str, req: JobRequest) -> JobInfo:
        self.tries += 1
        if self.tries <= self.away:
            raise self.error or ClusterUnavailable("cluster local is not reachable")
        self.submitted.append(req.submission_id or "")
        return JobInfo(
            submission_id=req.submission_id or "",
            cluster="local",
            tenant=tenant,
            entrypoint="true",
            status="PENDING",
        )


@pytest.fixture(autouse=True)
def no_waiting(monkeypatch: pytest.MonkeyPatch) -> None:
    async def instant(_: float) -> None:
        return None

    monkeypatch.setattr(dispatch.asyncio, "sleep", instant)


async def queued(config: QueueConfig, jobs: Any) -> tuple[InProcessQueue, Dispatcher]:
    queue = InProcessQueue(config)
    await enqueue_job(queue, "acme", JobRequest(entrypoint="true", submission_id="j-1"))
    return queue, Dispatcher(queue, jobs)


async def test_a_job_is_held_through_an_outage_and_submitted_once() -> None:
    """Three failed tries while the cluster is away cost the job no delivery."""
    jobs = FlakyJobs(away=3)
    queue, dispatcher = await queued(QueueConfig(max_deliveries=1), jobs)
    info = await dispatcher.run_once(timeout_s=0.1)
    assert info is not None and info.submission_id == "j-1"
    assert jobs.submitted == ["j-1"] and jobs.tries == 4
    assert await queue.dead_letters() == [] and await queue.depth() == 0


async def test_a_job_that_cannot_be_submitted_still_dead_letters() -> None:
    """A refusal that is about the job (an unknown cluster) is not held."""
    jobs = FlakyJobs(away=99, error=NotFound("no cluster no-such"))
    queue, dispatcher = await queued(QueueConfig(max_deliveries=1), jobs)
    assert await dispatcher.run_once(timeout_s=0.1) is None
    assert jobs.tries == 1
    assert [i.job_id for i in await queue.dead_letters()] == ["j-1"]
