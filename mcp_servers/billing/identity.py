"""Tenants, users and API keys. Keys are ``ak_<prefix>_<secret>``: the prefix finds the row, the
SHA-256 of the whole key proves it. A plain hash (not bcrypt) is right here because keys are
256-bit random strings, not guessable passwords; lookups stay fast enough for every request."""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import secrets

import sqlalchemy as sa
from sqlalchemy import exc

from auraison.identity import Identity, key_kind

from .dimensions import RANK, Role
from .models import IssuedKey, KeyInfo, TenantInfo, UserInfo
from .schema import api_keys, plans, tenants, users
from .store import ManagementError, NotFound, audit, new_id, utcnow

KEY_PREFIX = "ak_"


def hash_key(api_key: str) -> str:
    return hashlib.sha256(api_key.encode()).hexdigest()


def create_tenant(conn: sa.Connection, actor: str, tenant: str, display_name: str, plan: str) -> TenantInfo:
    if conn.execute(sa.select(plans.c.name).where(plans.c.name == plan)).first() is None:
        known = ", ".join(r[0] for r in conn.execute(sa.select(plans.c.name)))
        raise ManagementError(f"unknown plan {plan!r}; plans: {known}")
    try:
        with conn.begin_nested():
            conn.execute(
                tenants.insert().values(id=tenant, display_name=display_name, plan=plan, created_at=utcnow())
            )
    except exc.IntegrityError:
        raise ManagementError(f"tenant {tenant!r} already exists; pick another id") from None
    audit(conn, actor, tenant, "tenant.create", tenant, plan=plan, display_name=display_name)
    return get_tenant(conn, tenant)


def get_tenant(conn: sa.Connection, tenant: str) -> TenantInfo:
    row = conn.execute(sa.select(tenants).where(tenants.c.id == tenant)).mappings().first()
    if row is None:
        raise NotFound(f"no tenant {tenant!r}; create it with `auraison tenants create {tenant}`")
    n_users = conn.execute(sa.select(sa.func.count()).where(users.c.tenant_id == tenant)).scalar_one()
    n_keys = conn.execute(
        sa.select(sa.func.count()).where(api_keys.c.tenant_id == tenant, api_keys.c.revoked_at.is_(None))
    ).scalar_one()
    return TenantInfo(**row, users=n_users, active_keys=n_keys)


def list_tenants(conn: sa.Connection) -> list[TenantInfo]:
    ids = conn.execute(sa.select(tenants.c.id).order_by(tenants.c.id)).scalars().all()
    return [get_tenant(conn, t) for t in ids]


def add_user(conn: sa.Connection, actor: str, tenant: str, email: str, role: Role) -> UserInfo:
    get_tenant(conn, tenant)
    user_id = new_id("usr")
    try:
        with conn.begin_nested():
            conn.execute(
                users.insert().values(
                    id=user_id, tenant_id=tenant, email=email, role=role, created_at=utcnow()
                )
            )
    except exc.IntegrityError:
        raise ManagementError(f"{email} is already a user of tenant {tenant}") from None
    audit(conn, actor, tenant, "user.add", user_id, email=email, role=role)
    return UserInfo(id=user_id, tenant=tenant, email=email, role=role)


def issue_key(
    conn: sa.Connection,
    actor: str,
    tenant: str,
    name: str,
    role: Role,
    user_id: str | None = None,
    ttl_days: int | None = None,
) -> IssuedKey:
    get_tenant(conn, tenant)
    if user_id is not None:
        owner = conn.execute(
            sa.select(users.c.role).where(users.c.id == user_id, users.c.tenant_id == tenant)
        ).first()
        if owner is None:
            raise NotFound(f"no user {user_id} in tenant {tenant}")
        if RANK[role] > RANK[Role(owner[0])]:
            raise ManagementError(f"a key cannot carry more than its user's role ({owner[0]})")
    prefix = secrets.token_hex(6)
    secret = f"{KEY_PREFIX}{prefix}_{secrets.token_urlsafe(32)}"
    now = utcnow()
    record = {
        "id": new_id("key"),
        "tenant_id": tenant,
        "user_id": user_id,
        "name": name,
        "role": role,
        "prefix": prefix,
        "hash": hash_key(secret),
        "created_at": now,
        "expires_at": now + dt.timedelta(days=ttl_days) if ttl_days else None,
        "revoked_at": None,
    }
    conn.execute(api_keys.insert().values(**record))
    audit(conn, actor, tenant, "key.issue", record["id"], name=name, role=role, prefix=prefix)
    return IssuedKey(api_key=secret, tenant=tenant, **_without(record, "hash", "tenant_id"))


def revoke_key(conn: sa.Connection, actor: str, tenant: str, key_id: str) -> KeyInfo:
    done = conn.execute(
        api_keys.update()
        .where(api_keys.c.id == key_id, api_keys.c.tenant_id == tenant, api_keys.c.revoked_at.is_(None))
        .values(revoked_at=utcnow())
    )
    if done.rowcount == 0:
        row = _key_row(conn, tenant, key_id)
        if row is None:
            raise NotFound(f"no key {key_id} in tenant {tenant}; see `auraison keys list {tenant}`")
        return _key_info(row)  # already revoked: revoking again changes nothing
    audit(conn, actor, tenant, "key.revoke", key_id)
    return _key_info(_key_row(conn, tenant, key_id))


def list_keys(conn: sa.Connection, tenant: str) -> list[KeyInfo]:
    rows = conn.execute(
        sa.select(api_keys).where(api_keys.c.tenant_id == tenant).order_by(api_keys.c.created_at)
    ).mappings()
    return [_key_info(r) for r in rows]


def authenticate(conn: sa.Connection, api_key: str) -> Identity | None:
    """The identity an API key grants, or ``None`` (unknown, revoked, expired, malformed)."""
    parts = api_key.split("_", 2)
    if len(parts) != 3 or not api_key.startswith(KEY_PREFIX):
        return None
    row = conn.execute(sa.select(api_keys).where(api_keys.c.prefix == parts[1])).mappings().first()
    if row is None or not hmac.compare_digest(row["hash"], hash_key(api_key)):
        return None
    if row["revoked_at"] is not None or (row["expires_at"] is not None and row["expires_at"] <= utcnow()):
        return None
    role = Role(row["role"])
    return Identity(
        tenant=row["tenant_id"],
        role=role,
        subject=row["id"],
        kind=key_kind(role),
        user_id=row["user_id"],
        key_id=row["id"],
    )


def _key_row(conn: sa.Connection, tenant: str, key_id: str):
    return (
        conn.execute(sa.select(api_keys).where(api_keys.c.id == key_id, api_keys.c.tenant_id == tenant))
        .mappings()
        .first()
    )


def _key_info(row) -> KeyInfo:
    return KeyInfo(tenant=row["tenant_id"], **_without(dict(row), "hash", "tenant_id"))


def _without(d: dict, *keys: str) -> dict:
    return {k: v for k, v in d.items() if k not in keys}
