"""Alembic migrations of the management store; the same scripts run on SQLite and PostgreSQL."""
