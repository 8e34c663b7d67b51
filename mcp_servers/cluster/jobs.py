"""Ray jobs through the Jobs API (``JobSubmissionClient``), with the control plane's record of
them, job events for the lake, and webhooks when a job ends.

Submission is idempotent by ``submission_id`` (Ray accepts an id once; a resubmission returns
the existing job). ``reconcile`` is the loop that keeps the record true: it refreshes every job
that is not finished, fires the completion webhook once, and marks jobs Ray no longer knows
(a head restarted without them) as ``LOST`` instead of leaving them ``RUNNING`` forever.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
import uuid
from typing import Any

import structlog

from auraison.errors import NotFound, UserError
from auraison.settings import Settings

from . import webhooks
from .clusters import ClusterRegistry, ClusterUnavailable
from .events import EventLog
from .models import JobInfo, JobLogs, JobRequest
from .state import TERMINAL, ControlState, jobs

log = structlog.get_logger(__name__)
SUBMIT_RETRY_S = 60.0  # how long a submission waits for a head's job agent to come up


class JobNotFound(NotFound):
    pass


class JobService:
    def __init__(self, settings: Settings, state: ControlState, events: EventLog) -> None:
        self.settings = settings
        self.clusters = ClusterRegistry(settings)
        self.state = state
        self.events = events
        self._clients: dict[str, Any] = {}

    def client(self, cluster: str):
        if cluster not in self._clients:
            from ray.job_submission import JobSubmissionClient

            address = self.clusters.address(cluster)
            try:
                self._clients[cluster] = JobSubmissionClient(address)
            except Exception as exc:  # Ray raises ConnectionError / RuntimeError variants
                raise ClusterUnavailable(
                    f"cluster {cluster} ({address}) is not reachable: {str(exc).splitlines()[0]}; "
                    "start it with cluster_start or check the address"
                ) from None
        return self._clients[cluster]

    def _record(self, submission_id: str, tenant: str) -> dict[str, Any]:
        row = self.state.get(jobs, "submission_id", submission_id)
        if row is None or row["tenant"] != tenant:
            raise JobNotFound(f"no job {submission_id} in tenant {tenant}; see job_list")
        return row

    def submit(self, tenant: str, req: JobRequest) -> JobInfo:
        if req.callback_url is not None:  # every face (MCP, HTTP, CLI) submits through here
            webhooks.check_callback(str(req.callback_url), self.settings.control.webhook_allow)
        sid = req.submission_id or f"job_{uuid.uuid4().hex[:16]}"
        existing = self.state.get(jobs, "submission_id", sid)
        if existing is not None:
            if existing["tenant"] != tenant:
                raise UserError(f"submission id {sid} is taken", "pick another submission_id")
            return self.status(tenant, sid).model_copy(update={"created": False})
        res = req.resources
        created = True
        delay = 0.5
        deadline = time.monotonic() + SUBMIT_RETRY_S
        while True:
            try:
                self.client(req.cluster).submit_job(
                    entrypoint=req.entrypoint,
                    submission_id=sid,
                    runtime_env=req.runtime_env or None,
                    metadata={**req.metadata, "auraison_tenant": tenant},
                    entrypoint_num_cpus=res.num_cpus,
                    entrypoint_num_gpus=res.num_gpus,
                    entrypoint_memory=res.memory_bytes,
                    entrypoint_resources=res.custom or None,
                )
                break
            except RuntimeError as exc:
                text = str(exc)
                if "already exists" in text:
                    created = False  # submitted before our record was written (a crash in between)
                    break
                # A head that just started has no job agent yet: Ray asks to try again later.
                if "try again later" in text and time.monotonic() < deadline:
                    time.sleep(delay)
                    delay = min(delay * 2, 4.0)
                    continue
                raise UserError(f"Ray refused the job: {text.splitlines()[0]}") from None
            except OSError as exc:  # requests' ConnectionError: the head went away since the client was made
                address = self.clusters.address(req.cluster)
                raise ClusterUnavailable(
                    f"cluster {req.cluster} ({address}) is not reachable: {str(exc).splitlines()[0][:200]}"
                ) from None
        self.state.upsert(
            jobs,
            "submission_id",
            submission_id=sid,
            tenant=tenant,
            cluster=req.cluster,
            entrypoint=req.entrypoint,
            request=req.model_dump(mode="json"),
            status="PENDING",
            message="",
            callback_url=str(req.callback_url) if req.callback_url else None,
            callback_done=False,
        )
        self.events.emit("job.submitted", sid, tenant, {"cluster": req.cluster, "entrypoint": req.entrypoint})
        return self.status(tenant, sid).model_copy(update={"created": created})

    def _refresh(self, row: dict[str, Any]) -> dict[str, Any]:
        if row["status"] in TERMINAL:
            return row
        try:
            info = self.client(row["cluster"]).get_job_info(row["submission_id"])
        except ClusterUnavailable:
            return row  # the cluster is down: report what we last knew
        except RuntimeError as exc:
            if "does not exist" not in str(exc) and "not found" not in str(exc).lower():
                raise
            changes = {"status": "LOST", "message": "the cluster no longer knows this job (head restarted?)"}
        else:
            changes = {
                "status": str(info.status.value if hasattr(info.status, "value") else info.status),
                "message": info.message or "",
                "start_time": info.start_time / 1000 if info.start_time else None,
                "end_time": info.end_time / 1000 if info.end_time else None,
            }
        if any(row.get(k) != v for k, v in changes.items()):
            self.state.update(jobs, "submission_id", row["submission_id"], **changes)
            row = {**row, **changes}
            if row["status"] in TERMINAL:
                self.events.emit(
                    f"job.{row['status'].lower()}",
                    row["submission_id"],
                    row["tenant"],
                    {"message": row["message"]},
                )
        return row

    def status(self, tenant: str, submission_id: str) -> JobInfo:
        return _info(self._refresh(self._record(submission_id, tenant)))

    def logs(self, tenant: str, submission_id: str, tail_bytes: int | None = None) -> JobLogs:
        row = self._record(submission_id, tenant)
        limit = tail_bytes or self.settings.control.log_tail_bytes
        text = self.client(row["cluster"]).get_job_logs(submission_id)
        data = text.encode()
        return JobLogs(
            submission_id=submission_id,
            logs=data[-limit:].decode(errors="replace"),
            truncated=len(data) > limit,
            total_bytes=len(data),
        )

    def stop(self, tenant: str, submission_id: str) -> JobInfo:
        row = self._record(submission_id, tenant)
        self.client(row["cluster"]).stop_job(submission_id)
        self.events.emit("job.stop_requested", submission_id, tenant, {})
        return self.status(tenant, submission_id)

    def list(self, tenant: str, limit: int = 100) -> list[JobInfo]:
        rows = self.state.select(jobs, jobs.c.tenant == tenant, limit=limit)
        return [_info(self._refresh(r)) for r in rows]

    async def reconcile(self) -> dict[str, int]:
        """One pass: refresh every unfinished job, deliver pending completion webhooks."""
        rows = await asyncio.to_thread(
            self.state.select, jobs, jobs.c.status.not_in(TERMINAL) | ~jobs.c.callback_done
        )
        refreshed = delivered = 0
        for row in rows:
            row = await asyncio.to_thread(self._refresh, row)
            refreshed += 1
            if row["status"] in TERMINAL and row["callback_url"] and not row["callback_done"]:
                ok = await self._callback(row)
                delivered += ok
        return {"refreshed": refreshed, "webhooks": delivered}

    async def _callback(self, row: dict[str, Any]) -> bool:
        secret = self.settings.control.webhook_secret
        if secret is None:
            log.warning("webhook skipped: control.webhook_secret is not set", job=row["submission_id"])
            return False
        payload = {
            "type": "job.finished",
            "job": _info(row).model_dump(mode="json"),
        }
        ok = await webhooks.deliver(
            row["callback_url"],
            payload,
            secret.get_secret_value(),
            allow=self.settings.control.webhook_allow,  # checked again at send time (DNS rebinding)
        )
        # Delivered, or refused for good: either way the callback is settled (no retry storms).
        await asyncio.to_thread(
            self.state.update, jobs, "submission_id", row["submission_id"], callback_done=True
        )
        self.events.emit("job.webhook", row["submission_id"], row["tenant"], {"delivered": ok})
        return ok

    async def watch(self, stop: asyncio.Event) -> None:
        """The reconciler loop (``auraison control serve`` runs it)."""
        while not stop.is_set():
            try:
                await self.reconcile()
            except Exception as exc:  # a bad pass must not end the loop
                log.warning("reconcile failed", error=str(exc))
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), self.settings.control.reconcile_s)


def _info(row: dict[str, Any]) -> JobInfo:
    return JobInfo(
        submission_id=row["submission_id"],
        cluster=row["cluster"],
        tenant=row["tenant"],
        entrypoint=row["entrypoint"],
        status=row["status"],
        message=row.get("message") or "",
        start_time=row.get("start_time"),
        end_time=row.get("end_time"),
    )
