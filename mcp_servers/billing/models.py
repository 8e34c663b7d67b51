"""Pydantic models at the management plane's boundary (tools, CLI, HTTP)."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

from pydantic import BaseModel, Field

from .dimensions import Dimension, Role

TenantId = str  # a slug: ^[a-z0-9][a-z0-9-]{1,62}$
TENANT_PATTERN = r"^[a-z0-9][a-z0-9-]{1,62}$"


class TenantInfo(BaseModel):
    id: str
    display_name: str
    plan: str
    created_at: dt.datetime
    users: int = 0
    active_keys: int = 0


class UserInfo(BaseModel):
    id: str
    tenant: str
    email: str
    role: Role


class KeyInfo(BaseModel):
    id: str
    tenant: str
    name: str
    role: Role
    prefix: str
    user_id: str | None
    created_at: dt.datetime
    expires_at: dt.datetime | None
    revoked_at: dt.datetime | None


class IssuedKey(KeyInfo):
    api_key: str = Field(description="shown once: only its hash is stored")


class LeaseInfo(BaseModel):
    id: str
    tenant: str
    dimension: Dimension
    amount: Decimal
    state: str
    period: str
    expires_at: dt.datetime
    actual: Decimal | None = None
    agent: str | None = None
    tool: str | None = None


class QuotaLine(BaseModel):
    dimension: Dimension
    period: str
    limit: Decimal | None = Field(description="None: unlimited")
    used: Decimal
    reserved: Decimal
    remaining: Decimal | None
    source: str = Field(description="plan:<name> or override")


class UsageRow(BaseModel):
    dimension: Dimension
    agent: str | None = None
    tool: str | None = None
    quantity: Decimal
    events: int


class InvoiceLine(BaseModel):
    dimension: Dimension
    quantity: Decimal
    unit_price: Decimal
    amount: Decimal


class Invoice(BaseModel):
    tenant: str
    period: str
    plan: str
    lines: list[InvoiceLine]
    total: Decimal
    currency: str = "USD"
    preview: bool = True
