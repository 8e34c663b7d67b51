"""The agent's side of lifecycle: register, start, heartbeat — and keep working when the
control plane is away.

``AgentHandle`` runs next to an agent's own work. A failed heartbeat is logged and retried on
the next beat; the agent never stops because the control plane stopped. When a heartbeat meets
a control plane that no longer knows the agent (its state was lost), the handle re-registers
as running with the grant it already holds.
"""

from __future__ import annotations

import asyncio
import contextlib

import httpx
import structlog

from .models import AgentInfo, AgentSpec

log = structlog.get_logger(__name__)


class AgentHandle:
    def __init__(self, api_url: str, token: str, spec: AgentSpec, heartbeat_s: float = 10.0) -> None:
        self.api = api_url.rstrip("/")
        self.headers = {"Authorization": f"Bearer {token}"}
        self.spec = spec
        self.heartbeat_s = heartbeat_s
        self.info: AgentInfo | None = None
        self.beats_ok = 0
        self.beats_failed = 0
        self.reregistrations = 0
        self._task: asyncio.Task | None = None
        self._client = httpx.AsyncClient(timeout=5)

    async def _post(self, path: str, body: dict | None = None) -> AgentInfo:
        resp = await self._client.post(f"{self.api}{path}", json=body or {}, headers=self.headers)
        if resp.status_code >= 400:
            raise httpx.HTTPStatusError(
                resp.json().get("detail", resp.text), request=resp.request, response=resp
            )
        return AgentInfo.model_validate(resp.json())

    async def start(self) -> AgentInfo:
        """Register and start (a quota grant is needed: an error here means no start)."""
        info = await self._post("/agents", {"spec": self.spec.model_dump()})
        self.info = await self._post(
            f"/agents/{info.agent_id}/start", {"quota_tool_calls": self.spec.quota_tool_calls}
        )
        self._task = asyncio.create_task(self._beat())
        return self.info

    async def beat_once(self) -> bool:
        assert self.info is not None
        try:
            self.info = await self._post(f"/agents/{self.info.agent_id}/heartbeat")
        except httpx.HTTPStatusError as exc:
            if exc.response.status_code == 404:  # the control plane forgot us: re-register
                self.info = await self._post(
                    "/agents", {"spec": self.spec.model_dump(), "resume_lease": self.info.lease_id}
                )
                self.reregistrations += 1
                log.info("agent re-registered", agent=self.info.agent_id)
                return True
            self.beats_failed += 1
            log.warning("heartbeat refused", status=exc.response.status_code, detail=str(exc))
            return False
        except httpx.HTTPError as exc:
            self.beats_failed += 1
            log.warning("control plane unreachable; the agent keeps running", error=str(exc))
            return False
        self.beats_ok += 1
        return True

    async def _beat(self) -> None:
        while True:
            await asyncio.sleep(self.heartbeat_s)  # the heartbeat period itself
            with contextlib.suppress(Exception):
                await self.beat_once()

    async def stop(self, used_tool_calls: float = 0) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        if self.info is not None:
            with contextlib.suppress(httpx.HTTPError):
                await self._post(f"/agents/{self.info.agent_id}/stop", {"used_tool_calls": used_tool_calls})
        await self._client.aclose()
