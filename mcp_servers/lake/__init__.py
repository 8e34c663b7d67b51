"""The lake plane server: read-only, tenant-scoped SQL over the lakehouse, and event appends."""
