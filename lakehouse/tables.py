"""The lake's tables (schema version 1). DuckLake evolves them in place (ADD COLUMN, widening)."""

from __future__ import annotations

SCHEMA_VERSION = 1

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
    "embeddings": "doc_id VARCHAR, model VARCHAR, dim INTEGER, vector FLOAT[]",
    "experiments": "experiment_id VARCHAR, name VARCHAR, tenant VARCHAR, created_ns BIGINT, tags JSON",
    "runs": """run_id VARCHAR, experiment_id VARCHAR, status VARCHAR, started_ns BIGINT, ended_ns BIGINT,
        job_id VARCHAR""",
    "params": "run_id VARCHAR, key VARCHAR, value VARCHAR",
    "metrics": "run_id VARCHAR, key VARCHAR, step BIGINT, ts_ns BIGINT, value DOUBLE",
}

# Rows of these tables carry a tenant and are filtered by it for every query.
TENANT_SCOPED = ("spans", "events", "datasets", "documents", "experiments")
KEYS = {"spans": "span_id", "events": "event_id"}
