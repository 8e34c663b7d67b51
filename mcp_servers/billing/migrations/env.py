"""Alembic environment: always online, on the connection the caller hands over
(``config.attributes["connection"]``), so one code path serves the CLI and the tests."""

from alembic import context

from auraison.mcp_servers.billing.schema import metadata

connection = context.config.attributes["connection"]
context.configure(connection=connection, target_metadata=metadata, render_as_batch=True)
with context.begin_transaction():
    context.run_migrations()
