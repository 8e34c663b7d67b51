"""The lake's tables. DuckLake evolves them in place (ADD COLUMN, widening): ``MIGRATIONS`` holds
the steps from each version to the next, applied once by ``Lake.migrate``."""

from __future__ import annotations

SCHEMA_VERSION = 2

TABLES: dict[str, str] = {
    # The AgentOps trace model (one row per span; see agentops.tracing.span_to_row).
    "spans": """trace_id VARCHAR, span_id VARCHAR, parent_id VARCHAR, name VARCHAR, kind VARCHAR,
        start_ns BIGINT, end_ns BIGINT, status VARCHAR, tenant VARCHAR, agent VARCHAR, tool VARCHAR,
        decision VARCHAR, input_tokens BIGINT, output_tokens BIGINT, cost DOUBLE, attributes JSON""",
    # The cross-plane event log.
    "events": """event_id VARCHAR, ts_ns BIGINT, plane VARCHAR, type VARCHAR, subject VARCHAR,
        tenant VARCHAR, payload JSON""",
    "datasets": """dataset_id VARCHAR, name VARCHAR, location VARCHAR, format VARCHAR, schema JSON,
        lineage JSON, tenant VARCHAR, created_ns BIGINT""",
    "documents": "doc_id VARCHAR, tenant VARCHAR, source VARCHAR, text VARCHAR, metadata JSON",
    "embeddings": "doc_id VARCHAR, model VARCHAR, dim INTEGER, vector FLOAT[], tenant VARCHAR",
    "experiments": "experiment_id VARCHAR, name VARCHAR, tenant VARCHAR, created_ns BIGINT, tags JSON",
    "runs": """run_id VARCHAR, experiment_id VARCHAR, status VARCHAR, started_ns BIGINT, ended_ns BIGINT,
        job_id VARCHAR""",
    "params": "run_id VARCHAR, key VARCHAR, value VARCHAR",
    "metrics": "run_id VARCHAR, key VARCHAR, step BIGINT, ts_ns BIGINT, value DOUBLE",
}

# Rows of these tables carry a tenant and are filtered by it for every query.
TENANT_SCOPED = ("spans", "events", "datasets", "documents", "embeddings", "experiments")
# Appends are exactly once by these keys (a replayed batch adds nothing).
KEYS: dict[str, tuple[str, ...]] = {
    "spans": ("span_id",),
    "events": ("event_id",),
    "documents": ("doc_id",),
    "embeddings": ("doc_id", "model"),
    "datasets": ("dataset_id",),
}

# version -> statements that bring version - 1 to it (tables created new already have it all).
MIGRATIONS: dict[int, list[str]] = {
    2: ["ALTER TABLE {alias}.embeddings ADD COLUMN IF NOT EXISTS tenant VARCHAR"],
}
