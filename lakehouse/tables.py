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
    # The digital twin (lakehouse/twin.py): runs, map versions, observed and predicted state.
    # Times t_s are the robot's clock in seconds (a recording's header stamps).
    "twin_runs": """run_id VARCHAR, tenant VARCHAR, world VARCHAR, map_id VARCHAR, source VARCHAR,
        bag VARCHAR, started_ns BIGINT, duration_s DOUBLE, outcome VARCHAR, summary JSON""",
    "twin_maps": """map_id VARCHAR, tenant VARCHAR, world VARCHAR, resolution DOUBLE, width INTEGER,
        height INTEGER, origin_x DOUBLE, origin_y DOUBLE, grid VARCHAR, first_seen_ns BIGINT""",
    "twin_observed": """run_id VARCHAR, tenant VARCHAR, t_s DOUBLE, x DOUBLE, y DOUBLE, yaw DOUBLE,
        v DOUBLE, w DOUBLE""",
    "twin_predicted": """run_id VARCHAR, tenant VARCHAR, prediction_id VARCHAR, backend VARCHAR,
        stand_in INTEGER, made_at_s DOUBLE, step INTEGER, t_s DOUBLE, x DOUBLE, y DOUBLE, yaw DOUBLE""",
    # Synthetic data (auraison/sdg.py, lakehouse/sdg.py): one row per episode and per frame; a
    # dataset's version is the lake snapshot its rows were committed in (time travel reads it).
    "sdg_episodes": """dataset VARCHAR, run_id VARCHAR, episode_id VARCHAR, tenant VARCHAR,
        world VARCHAR, world_seed BIGINT, start_x DOUBLE, start_y DOUBLE, goal_x DOUBLE,
        goal_y DOUBLE, outcome VARCHAR, steps INTEGER, duration_s DOUBLE, distance_m DOUBLE""",
    "sdg_frames": """dataset VARCHAR, run_id VARCHAR, episode_id VARCHAR, tenant VARCHAR, step INTEGER,
        t_s DOUBLE, x DOUBLE, y DOUBLE, yaw DOUBLE, v DOUBLE, w DOUBLE, outcome VARCHAR, image VARCHAR,
        transfer VARCHAR""",
}

# Whose a row is. A table either carries a ``tenant`` column, or belongs to a tenant through a
# parent row: ``child column -> (parent table, parent column)``. Every table must be one or the
# other — the sandbox refuses to expose a table it cannot scope (see ``tenancy``), so a new table
# without a rule fails closed instead of leaking.
TENANT_COLUMN = "tenant"
TENANT_PARENT: dict[str, tuple[str, str, str]] = {
    "runs": ("experiment_id", "experiments", "experiment_id"),
    "params": ("run_id", "runs", "run_id"),
    "metrics": ("run_id", "runs", "run_id"),
}


def _columns(table: str) -> list[str]:
    return [c.split()[0].lower() for c in TABLES[table].split(",") if c.strip()]


# Rows of these tables carry a tenant and are filtered by it for every query.
TENANT_SCOPED = tuple(t for t in TABLES if TENANT_COLUMN in _columns(t))


def tenancy(table: str) -> tuple[str, str, str] | None:
    """``None`` when ``table`` has its own tenant column, else its parent link; raises for a table
    with neither (nothing may be shown of it)."""
    if table in TENANT_SCOPED:
        return None
    if table in TENANT_PARENT:
        return TENANT_PARENT[table]
    raise KeyError(f"table {table!r} has no tenant column and no parent link in TENANT_PARENT")


# Appends are exactly once by these keys (a replayed batch adds nothing).
KEYS: dict[str, tuple[str, ...]] = {
    "spans": ("span_id",),
    "events": ("event_id",),
    "documents": ("doc_id",),
    "embeddings": ("doc_id", "model"),
    "datasets": ("dataset_id",),
    "twin_runs": ("run_id", "tenant"),
    "twin_maps": ("map_id", "tenant"),
    "twin_observed": ("run_id", "tenant", "t_s"),
    "twin_predicted": ("prediction_id", "tenant", "step"),
    "sdg_episodes": ("run_id", "episode_id"),
    "sdg_frames": ("run_id", "episode_id", "step"),
}

# version -> statements that bring version - 1 to it (tables created new already have it all).
MIGRATIONS: dict[int, list[str]] = {
    2: ["ALTER TABLE {alias}.embeddings ADD COLUMN IF NOT EXISTS tenant VARCHAR"],
}
