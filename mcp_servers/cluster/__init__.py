"""The control plane: Ray clusters and jobs, dispatch queues (in-process, Redis Streams, NATS
JetStream), webhooks, experiments and agent lifecycle — one domain layer with two faces, the
``cluster`` MCP server and the HTTP API (``auraison control serve``)."""
