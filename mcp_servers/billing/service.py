"""The management plane's domain layer: every operation checks the caller's role and tenant,
runs in one transaction and leaves an audit entry. The MCP server, the CLI and AgentOps all
call this; none of them talks to the tables directly."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from sqlalchemy import exc

from auraison.identity import Identity, PrincipalKind
from auraison.settings import Settings

from . import identity, ledger, metering
from .dimensions import PERMISSIONS, RANK, Dimension, Role
from .models import (
    Invoice,
    IssuedKey,
    KeyInfo,
    LeaseInfo,
    QuotaLine,
    TenantInfo,
    UsageRow,
    UserInfo,
)
from .store import Forbidden, Store

ADMIN = Identity(tenant="*", role=Role.admin, subject="admin", kind=PrincipalKind.human)


class Billing:
    def __init__(self, store: Store, lease_ttl_s: float = 600) -> None:
        self.store = store
        self.lease_ttl_s = lease_ttl_s

    @classmethod
    def from_settings(cls, settings: Settings, migrate: bool = True) -> Billing:
        store = Store.from_settings(settings)
        if migrate:
            store.migrate()
        return cls(store, settings.management.lease_ttl_s)

    # -- authorisation -------------------------------------------------------------------
    @staticmethod
    def check(caller: Identity, permission: str, tenant: str | None = None) -> None:
        if caller.role not in PERMISSIONS[permission]:
            allowed = ", ".join(sorted(PERMISSIONS[permission]))
            raise Forbidden(f"role {caller.role} may not {permission} (needs one of: {allowed})")
        if tenant is not None and caller.role != Role.admin and caller.tenant != tenant:
            raise Forbidden(f"tenant {caller.tenant} cannot act on tenant {tenant}")

    # -- tenancy and identity ------------------------------------------------------------
    def tenant_create(
        self, caller: Identity, tenant: str, display_name: str = "", plan: str = "free"
    ) -> TenantInfo:
        self.check(caller, "tenant.create")
        with self.store.transaction() as conn:
            return identity.create_tenant(conn, caller.actor, tenant, display_name or tenant, plan)

    def tenant_get(self, caller: Identity, tenant: str) -> TenantInfo:
        self.check(caller, "tenant.get", tenant)
        with self.store.transaction() as conn:
            return identity.get_tenant(conn, tenant)

    def tenant_list(self, caller: Identity) -> list[TenantInfo]:
        self.check(caller, "tenant.create")
        with self.store.transaction() as conn:
            return identity.list_tenants(conn)

    def user_add(self, caller: Identity, tenant: str, email: str, role: Role) -> UserInfo:
        self.check(caller, "user.add", tenant)
        self._no_escalation(caller, role)
        with self.store.transaction() as conn:
            return identity.add_user(conn, caller.actor, tenant, email, role)

    def apikey_issue(
        self,
        caller: Identity,
        tenant: str,
        name: str,
        role: Role,
        user_id: str | None = None,
        ttl_days: int | None = None,
    ) -> IssuedKey:
        self.check(caller, "key.issue", tenant)
        self._no_escalation(caller, role)
        if not caller.is_human and role is not Role.agent:
            # A key in any other role proves a person (it may decide approvals): only a person
            # may mint one, or an agent could issue itself a human's key and approve its requests.
            raise Forbidden(f"an agent principal may only issue agent keys, not {role} ones; ask a person")
        with self.store.transaction() as conn:
            return identity.issue_key(conn, caller.actor, tenant, name, role, user_id, ttl_days)

    def apikey_revoke(self, caller: Identity, tenant: str, key_id: str) -> KeyInfo:
        self.check(caller, "key.revoke", tenant)
        with self.store.transaction() as conn:
            return identity.revoke_key(conn, caller.actor, tenant, key_id)

    def apikey_list(self, caller: Identity, tenant: str) -> list[KeyInfo]:
        self.check(caller, "key.list", tenant)
        with self.store.transaction() as conn:
            return identity.list_keys(conn, tenant)

    def authenticate(self, api_key: str) -> Identity | None:
        with self.store.transaction() as conn:
            return identity.authenticate(conn, api_key)

    # -- quotas and reservations ---------------------------------------------------------
    def quota_get(self, caller: Identity, tenant: str) -> list[QuotaLine]:
        self.check(caller, "quota.get", tenant)
        with self.store.transaction() as conn:
            return ledger.quota_lines(conn, tenant)

    def quota_set(
        self, caller: Identity, tenant: str, dimension: Dimension, limit: float | None
    ) -> QuotaLine:
        self.check(caller, "quota.set", tenant)
        amount = None if limit is None else ledger.to_amount(limit)
        with self.store.transaction() as conn:
            ledger.set_limit(conn, caller.actor, tenant, dimension, amount)
            return next(q for q in ledger.quota_lines(conn, tenant) if q.dimension == dimension)

    def reserve(
        self,
        caller: Identity,
        tenant: str,
        dimension: Dimension,
        amount: float | Decimal,
        idempotency_key: str | None = None,
        ttl_s: float | None = None,
        agent: str | None = None,
        tool: str | None = None,
    ) -> LeaseInfo:
        self.check(caller, "reservations.make", tenant)
        value = ledger.to_amount(amount)
        for attempt in range(2):
            try:
                with self.store.transaction() as conn:
                    return ledger.reserve(
                        conn,
                        caller.actor,
                        tenant,
                        Dimension(dimension),
                        value,
                        ttl_s or self.lease_ttl_s,
                        idempotency_key,
                        agent,
                        tool,
                    )
            except exc.IntegrityError:
                # The same idempotency key raced in from another client: the loser rolled back
                # everything and, on the second pass, returns the winner's lease.
                if idempotency_key is None or attempt:
                    raise
        raise AssertionError("unreachable")

    def commit(self, caller: Identity, tenant: str, lease_id: str, actual: float | Decimal) -> LeaseInfo:
        self.check(caller, "reservations.make", tenant)
        with self.store.transaction() as conn:
            return ledger.settle(conn, caller.actor, tenant, lease_id, ledger.to_amount(actual))

    def release(self, caller: Identity, tenant: str, lease_id: str) -> LeaseInfo:
        self.check(caller, "reservations.make", tenant)
        with self.store.transaction() as conn:
            return ledger.settle(conn, caller.actor, tenant, lease_id, None)

    def reservations_list(
        self, caller: Identity, tenant: str, state: str | None = "active"
    ) -> list[LeaseInfo]:
        self.check(caller, "reservations.list", tenant)
        with self.store.transaction() as conn:
            return ledger.list_leases(conn, tenant, state)

    def expire_due(self) -> int:
        with self.store.transaction() as conn:
            return ledger.expire_due(conn)

    # -- metering and billing ------------------------------------------------------------
    def record_usage(
        self,
        caller: Identity,
        tenant: str,
        dimension: Dimension,
        quantity: float | Decimal,
        idempotency_key: str,
        agent: str | None = None,
        tool: str | None = None,
    ) -> bool:
        self.check(caller, "usage.record", tenant)
        with self.store.transaction() as conn:
            return ledger.count_usage(
                conn,
                tenant,
                Dimension(dimension),
                ledger.to_amount(quantity),
                idempotency_key,
                agent=agent,
                tool=tool,
            )

    def record_model_usage(
        self,
        caller: Identity,
        tenant: str,
        idempotency_key: str,
        model: str,
        input_tokens: int,
        output_tokens: int,
        agent: str | None = None,
    ) -> dict[str, Any]:
        self.check(caller, "usage.record", tenant)
        with self.store.transaction() as conn:
            return metering.record_model_usage(
                conn, caller.actor, tenant, idempotency_key, model, input_tokens, output_tokens, agent
            )

    def usage_report(
        self,
        caller: Identity,
        tenant: str,
        period: str | None = None,
        by: tuple[str, ...] = ("agent", "tool"),
    ) -> list[UsageRow]:
        self.check(caller, "usage.report", tenant)
        with self.store.transaction() as conn:
            return metering.usage_report(conn, tenant, period, by)

    def invoice_preview(self, caller: Identity, tenant: str, period: str | None = None) -> Invoice:
        self.check(caller, "invoice.preview", tenant)
        with self.store.transaction() as conn:
            return metering.invoice_preview(conn, tenant, period)

    @staticmethod
    def _no_escalation(caller: Identity, role: Role) -> None:
        if role == Role.admin:
            raise Forbidden("the admin role belongs to the platform operator, not to tenant members or keys")
        if RANK[role] > RANK[caller.role]:
            raise Forbidden(f"a {caller.role} cannot grant the {role} role")
