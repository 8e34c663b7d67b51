"""Pydantic AI agents (navigator, operator, analyst) that reach every tool through the gateway,
so AgentOps applies; an offline stand-in model runs them with no API key."""

from .runner import RunResult, run, run_sync

__all__ = ["RunResult", "run", "run_sync"]
