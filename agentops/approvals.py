"""Durable human approvals, bound to the hash of the exact tool arguments.

An approval is single-use: the approved call runs once. A pending request that outlives its
TTL is expired, and expiry means deny. Three stores share one contract (tests run them all):
``memory`` (one process), ``sqlite`` (the embedded default: durable, shared by every process on
the machine, so the CLI can decide what an agent asked) and ``redis`` (the services profile).
"""

from __future__ import annotations

import asyncio
import json
import sqlite3
import time
import uuid
from abc import ABC, abstractmethod
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel

from auraison.errors import Forbidden, UserError
from auraison.identity import Identity, Role

from .decision import ToolCall

Status = Literal["pending", "approved", "denied", "expired", "used"]


class Approval(BaseModel):
    id: str
    tenant: str
    role: str
    subject: str
    requested_by: str = ""
    """The requester's principal (``kind:actor@tenant``): it may never decide this request."""
    tool: str
    args_hash: str
    args: dict[str, Any]  # redacted preview for the human deciding
    status: Status = "pending"
    created_at: float
    expires_at: float
    decided_by: str | None = None
    reason: str = ""

    def effective(self, now: float | None = None) -> Approval:
        """The same approval with lazy expiry applied (a pending one past its TTL is expired)."""
        now = time.time() if now is None else now
        if self.status in ("pending", "approved") and now > self.expires_at:
            return self.model_copy(update={"status": "expired"})
        return self


class ApprovalError(UserError):
    """An approval cannot be decided (unknown id, already decided, expired)."""


class ApprovalForbidden(Forbidden):
    """The caller may not decide this approval: agents never decide, nobody decides their own."""


DECIDERS = frozenset({Role.admin, Role.owner, Role.operator})
"""The roles whose people may decide approvals (a viewer's key watches, it does not decide)."""


def check_decider(approval: Approval, by: Identity) -> None:
    """The trust boundary's one rule for approvals, enforced by every store: only a human
    principal decides, never the principal that asked, and only inside its own tenant (a
    platform admin may decide for any tenant)."""
    if not by.is_human:
        raise ApprovalForbidden(
            f"agents never decide approvals ({by.principal()} is an agent principal); "
            f"ask a person to run `auraison approvals approve {approval.id}` or to use the console"
        )
    if by.role not in DECIDERS:
        raise ApprovalForbidden(f"role {by.role} may not decide approvals (one of: admin, owner, operator)")
    if approval.tenant != by.tenant and by.role is not Role.admin:
        raise ApprovalError(f"no approval {approval.id!r} in tenant {by.tenant}", "see approvals_list")
    if approval.requested_by and approval.requested_by == by.principal():
        raise ApprovalForbidden(
            f"{by.principal()} asked for approval {approval.id} and cannot decide it; another person must"
        )


def new_approval(call: ToolCall, preview: dict[str, Any], ttl_s: float) -> Approval:
    now = time.time()
    i = call.identity
    return Approval(
        id="apr_" + uuid.uuid4().hex[:12],
        tenant=i.tenant,
        role=i.role,
        subject=i.subject,
        requested_by=i.principal(),
        tool=call.tool,
        args_hash=call.args_hash(),
        args=preview,
        created_at=now,
        expires_at=now + ttl_s,
    )


class ApprovalStore(ABC):
    @abstractmethod
    async def find(self, tenant: str, args_hash: str) -> Approval | None:
        """The latest approval for this exact call, expiry applied."""

    @abstractmethod
    async def put(self, approval: Approval) -> None: ...

    @abstractmethod
    async def get(self, approval_id: str) -> Approval | None: ...

    @abstractmethod
    async def list(self, tenant: str | None = None) -> list[Approval]: ...

    @abstractmethod
    async def transition(
        self, approval_id: str, allowed: tuple[Status, ...], status: Status, by: str | None, reason: str
    ) -> Approval | None:
        """Atomically move ``allowed`` → ``status``; None if the approval was not in ``allowed``."""

    async def request(self, call: ToolCall, preview: dict[str, Any], ttl_s: float) -> Approval:
        approval = new_approval(call, preview, ttl_s)
        await self.put(approval)
        return approval

    async def decide(self, approval_id: str, approve: bool, by: Identity, reason: str = "") -> Approval:
        """Approve or deny a pending request as ``by`` (see ``check_decider``)."""
        current = await self.get(approval_id)
        if current is None:
            raise ApprovalError(f"no approval {approval_id!r}", "list them: auraison approvals list")
        check_decider(current, by)
        current = current.effective()
        if current.status != "pending":
            raise ApprovalError(f"approval {approval_id} is {current.status}, not pending")
        done = await self.transition(
            approval_id, ("pending",), "approved" if approve else "denied", by.principal(), reason
        )
        if done is None:
            raise ApprovalError(f"approval {approval_id} was decided concurrently")
        return done

    async def consume(self, approval_id: str) -> bool:
        """Use an approved grant exactly once; False if it was not (or no longer) approved."""
        current = await self.get(approval_id)
        if current is None or current.effective().status != "approved":
            return False
        return await self.transition(approval_id, ("approved",), "used", None, "") is not None


async def approve_deferred(
    store: ApprovalStore, tenant: str, args_hash: str, metadata: dict[str, Any] | None
) -> Approval | None:
    """A Pydantic AI run resumed with a deferred call approved: record that person's decision on
    the call's pending request. Pydantic AI does not check who answered, so the program that
    resumes names the approver in the call's metadata as ``approved_by`` (an ``Identity``);
    without a human there nothing is decided, and the call simply asks again."""
    raw = (metadata or {}).get("approved_by")
    existing = await store.find(tenant, args_hash)
    if raw is None or existing is None or existing.effective().status != "pending":
        return None
    by = raw if isinstance(raw, Identity) else Identity.model_validate(raw)
    return await store.decide(existing.id, True, by=by)


# ----------------------------------------------------------------------------- memory
class MemoryApprovalStore(ApprovalStore):
    def __init__(self) -> None:
        self._by_id: dict[str, Approval] = {}
        self._index: dict[tuple[str, str], str] = {}
        self._lock = asyncio.Lock()

    async def find(self, tenant: str, args_hash: str) -> Approval | None:
        aid = self._index.get((tenant, args_hash))
        return self._by_id[aid].effective() if aid else None

    async def put(self, approval: Approval) -> None:
        self._by_id[approval.id] = approval
        self._index[(approval.tenant, approval.args_hash)] = approval.id

    async def get(self, approval_id: str) -> Approval | None:
        a = self._by_id.get(approval_id)
        return a.effective() if a else None

    async def list(self, tenant: str | None = None) -> list[Approval]:
        return [a.effective() for a in self._by_id.values() if tenant in (None, a.tenant)]

    async def transition(
        self, approval_id: str, allowed: tuple[Status, ...], status: Status, by: str | None, reason: str
    ) -> Approval | None:
        async with self._lock:
            a = self._by_id.get(approval_id)
            if a is None or a.effective().status not in allowed:
                return None
            update: dict[str, Any] = {"status": status}
            if by is not None:
                update |= {"decided_by": by, "reason": reason}
            self._by_id[approval_id] = a.model_copy(update=update)
            return self._by_id[approval_id]


# ----------------------------------------------------------------------------- sqlite
class SqliteApprovalStore(ApprovalStore):
    """One small SQLite file; every statement is its own transaction (WAL, busy timeout)."""

    def __init__(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self.path = path
        with self._conn() as c:
            c.execute("pragma journal_mode=wal")
            c.execute(
                "create table if not exists approvals (id text primary key, tenant text not null,"
                " args_hash text not null, status text not null, created_at real not null,"
                " body text not null)"
            )
            c.execute(
                "create index if not exists approvals_call on approvals (tenant, args_hash, created_at)"
            )

    def _conn(self) -> sqlite3.Connection:
        return sqlite3.connect(self.path, timeout=10, isolation_level=None)

    def _row(self, body: str | None) -> Approval | None:
        return Approval.model_validate_json(body).effective() if body else None

    async def find(self, tenant: str, args_hash: str) -> Approval | None:
        with self._conn() as c:
            row = c.execute(
                "select body from approvals where tenant=? and args_hash=? order by created_at desc limit 1",
                (tenant, args_hash),
            ).fetchone()
        return self._row(row[0] if row else None)

    async def put(self, approval: Approval) -> None:
        with self._conn() as c:
            c.execute(
                "insert into approvals values (?,?,?,?,?,?)",
                (
                    approval.id,
                    approval.tenant,
                    approval.args_hash,
                    approval.status,
                    approval.created_at,
                    approval.model_dump_json(),
                ),
            )

    async def get(self, approval_id: str) -> Approval | None:
        with self._conn() as c:
            row = c.execute("select body from approvals where id=?", (approval_id,)).fetchone()
        return self._row(row[0] if row else None)

    async def list(self, tenant: str | None = None) -> list[Approval]:
        with self._conn() as c:
            rows = c.execute(
                "select body from approvals where ? is null or tenant=? order by created_at", (tenant, tenant)
            ).fetchall()
        return [a for (body,) in rows if (a := self._row(body)) is not None]

    async def transition(
        self, approval_id: str, allowed: tuple[Status, ...], status: Status, by: str | None, reason: str
    ) -> Approval | None:
        with self._conn() as c:
            c.execute("begin immediate")
            row = c.execute("select body from approvals where id=?", (approval_id,)).fetchone()
            a = self._row(row[0] if row else None)
            if a is None or a.status not in allowed:
                c.execute("rollback")
                return None
            update: dict[str, Any] = {"status": status}
            if by is not None:
                update |= {"decided_by": by, "reason": reason}
            a = a.model_copy(update=update)
            c.execute(
                "update approvals set status=?, body=? where id=?",
                (status, a.model_dump_json(), approval_id),
            )
            c.execute("commit")
            return a


# ------------------------------------------------------------------------------ redis
_TRANSITION = """
local body = redis.call('GET', KEYS[1])
if not body then return nil end
local a = cjson.decode(body)
local now = tonumber(ARGV[4])
local status = a['status']
if (status == 'pending' or status == 'approved') and now > a['expires_at'] then status = 'expired' end
for allowed in string.gmatch(ARGV[1], '[^,]+') do
  if allowed == status then
    a['status'] = ARGV[2]
    if ARGV[3] ~= '' then
      local d = cjson.decode(ARGV[3])
      a['decided_by'] = d['by']
      a['reason'] = d['reason']
    end
    local out = cjson.encode(a)
    redis.call('SET', KEYS[1], out, 'KEEPTTL')
    return out
  end
end
return nil
"""


class RedisApprovalStore(ApprovalStore):
    """Approvals shared by every process of the services profile; transitions are atomic (Lua)."""

    def __init__(self, url: str, prefix: str = "auraison:", keep_s: float = 86400.0) -> None:
        import redis.asyncio as aioredis

        self.r = aioredis.Redis.from_url(url)
        self.prefix = prefix + "approvals:"
        self.keep_s = keep_s
        self._script = self.r.register_script(_TRANSITION)

    def _key(self, approval_id: str) -> str:
        return f"{self.prefix}id:{approval_id}"

    def _decode(self, raw: bytes | None) -> Approval | None:
        return Approval.model_validate_json(raw).effective() if raw else None

    async def find(self, tenant: str, args_hash: str) -> Approval | None:
        aid = await self.r.get(f"{self.prefix}call:{tenant}:{args_hash}")
        return await self.get(aid.decode()) if aid else None

    async def put(self, approval: Approval) -> None:
        ttl = int(max(approval.expires_at - time.time(), 0) + self.keep_s)
        async with self.r.pipeline(transaction=True) as p:
            p.set(self._key(approval.id), approval.model_dump_json(), ex=ttl)
            p.set(f"{self.prefix}call:{approval.tenant}:{approval.args_hash}", approval.id, ex=ttl)
            p.zadd(f"{self.prefix}all", {approval.id: approval.created_at})
            await p.execute()

    async def get(self, approval_id: str) -> Approval | None:
        return self._decode(await self.r.get(self._key(approval_id)))

    async def list(self, tenant: str | None = None) -> list[Approval]:
        ids = await self.r.zrange(f"{self.prefix}all", 0, -1)
        out = []
        for aid in ids:
            a = await self.get(aid.decode())
            if a is None:
                await self.r.zrem(f"{self.prefix}all", aid)  # its key expired
            elif tenant in (None, a.tenant):
                out.append(a)
        return out

    async def transition(
        self, approval_id: str, allowed: tuple[Status, ...], status: Status, by: str | None, reason: str
    ) -> Approval | None:
        decided = json.dumps({"by": by, "reason": reason}) if by is not None else ""
        raw = await self._script(
            keys=[self._key(approval_id)], args=[",".join(allowed), status, decided, time.time()]
        )
        return Approval.model_validate_json(raw) if raw else None

    async def close(self) -> None:
        await self.r.aclose()
