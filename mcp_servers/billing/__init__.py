"""The management plane: tenants, users, API keys, quotas with reservations, usage metering and
billing, on one strongly consistent SQL store (SQLite embedded, PostgreSQL in production)."""
