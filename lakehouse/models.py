"""The data plane's boundary types (pydantic only): what the lake's tools take and give. Kept
apart from the modules that do the work so a server can declare its tools without loading
DuckDB, Arrow or an embedder (the gateway starts before any of them is needed)."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, Field


class Document(BaseModel):
    text: str = Field(min_length=1, max_length=100_000)
    source: str = Field("", max_length=500)
    metadata: dict[str, Any] = {}
    doc_id: str | None = Field(None, max_length=100, description="default: a hash of tenant, source and text")


class Hit(BaseModel):
    doc_id: str
    score: float
    source: str
    text: str
    metadata: dict[str, Any]


class DatasetSpec(BaseModel):
    name: str = Field(pattern=r"^[A-Za-z0-9_.\-]{1,100}$")
    location: str = Field(
        min_length=1,
        max_length=1000,
        pattern=r"^[^\x00-\x1f\x7f]+$",  # no control characters (a NUL is no path; fuzzer find)
        description="s3://bucket/path/*.parquet or a local path",
    )
    format: Literal["parquet", "csv", "json"] | None = Field(None, description="default: from the extension")
    lineage: dict[str, Any] = Field({}, description="where it came from: job id, source datasets, …")
