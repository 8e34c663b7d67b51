"""Queued job dispatch: submitters enqueue Ray jobs, dispatchers lease them and submit them to
the cluster. The queue's job id is the Ray ``submission_id``, so a dispatcher that dies after
submitting but before acking costs nothing: the job is redelivered, resubmitted, and Ray —
which accepts a submission id once — returns the job already running. At-least-once delivery,
exactly-once jobs.
"""

from __future__ import annotations

import asyncio

import structlog

from auraison.errors import AuraisonError

from .clusters import ClusterUnavailable
from .jobs import JobService
from .models import JobInfo, JobRequest
from .queue import JobQueue, QueueItem

log = structlog.get_logger(__name__)


async def enqueue_job(queue: JobQueue, tenant: str, req: JobRequest) -> bool:
    """Queue a job for dispatch; ``False`` when that submission id is already queued."""
    if req.submission_id is None:
        raise AuraisonError("a queued job needs a submission_id (it is the idempotency key end to end)")
    payload = {"tenant": tenant, "request": req.model_dump(mode="json")}
    return await queue.enqueue(QueueItem(job_id=req.submission_id, payload=payload))


class Dispatcher:
    def __init__(self, queue: JobQueue, jobs: JobService, name: str = "dispatcher") -> None:
        self.queue = queue
        self.jobs = jobs
        self.name = name

    async def run_once(self, timeout_s: float = 1.0) -> JobInfo | None:
        """Lease one job, submit it, ack it. A submission that fails is nacked (retried, then
        dead-lettered after the queue's ``max_deliveries``)."""
        delivery = await self.queue.lease(self.name, timeout_s)
        if delivery is None:
            return None
        payload = delivery.item.payload
        try:
            req = JobRequest.model_validate(payload["request"])
            info = await self._submit(payload["tenant"], req, delivery.item.job_id)
        except Exception as exc:  # a bad job must not stop the dispatcher
            log.warning(
                "dispatch failed", job=delivery.item.job_id, attempt=delivery.deliveries, error=str(exc)
            )
            await self.queue.nack(delivery)
            return None
        await self.queue.ack(delivery)
        return info

    async def _submit(self, tenant: str, req: JobRequest, job_id: str) -> JobInfo:
        """Submit, holding the job while the cluster is away (a Ray head restarting): an outage
        says nothing against the job, so it must not use up the job's deliveries — a nack per
        failed try would dead-letter every job dispatched during a short outage. The hold ends
        before the queue's visibility timeout (then a nack, and the job waits in the queue); a
        second dispatcher that reclaims it meanwhile is harmless, Ray takes a submission id once."""
        hold_until = asyncio.get_running_loop().time() + self.queue.config.visibility_s * 0.8
        backoff = 0.25
        while True:
            try:
                return await asyncio.to_thread(self.jobs.submit, tenant, req)
            except ClusterUnavailable as exc:
                if asyncio.get_running_loop().time() + backoff > hold_until:
                    raise
                log.warning("cluster away: holding the job", job=job_id, retry_in_s=backoff, error=str(exc))
                await asyncio.sleep(backoff)
                backoff = min(backoff * 2, 5.0)
