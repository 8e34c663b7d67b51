"""Local services the project starts itself (SeaweedFS S3, a Ray head, the built-in sim) and
probes for the ones the machine provides (PostgreSQL, Redis, NATS)."""
