"""AgentOps: one policy engine between every agent and every tool.

The same ``AgentOps`` engine enforces guardrails, approvals, quotas and backpressure, and
captures traces, at three points: the MCP gateway (FastMCP middleware), in-process Pydantic AI
agents (``AgentOpsCapability``) and Claude Code (the ``PreToolUse`` hook).
"""

from .decision import Decision, Identity, ToolCall
from .engine import AgentOps
from .errors import AgentOpsError, ApprovalPending, PolicyError, ToolDenied, ToolShed
from .policy import Policy, load_policy

__all__ = [
    "AgentOps",
    "AgentOpsError",
    "ApprovalPending",
    "Decision",
    "Identity",
    "Policy",
    "PolicyError",
    "ToolCall",
    "ToolDenied",
    "ToolShed",
    "load_policy",
]
