"""mcp_servers."""
