"""The robot-data tests share the control-plane tests' local Ray head (one per session)."""

from tests.integration.cluster.conftest import ray_head  # noqa: F401  (a fixture, used by name)
