"""Auraison: an open agent framework for robotics and ML platforms.

Four planes (user, control, data, management), each an MCP server; agents compose their tools
through one AgentOps layer. The design card's folders map into this namespace:
``auraison.sim``, ``auraison.geometry``, ``auraison.agentops``, ``auraison.lakehouse``,
``auraison.mcp_servers`` …
"""

__version__ = "0.1.0"
