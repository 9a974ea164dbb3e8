"""Function calling: tool definitions and calls (`specs`), which tool a request asks for
(`choosing`, the embedded model's router), the built-in tools (`builtin`), MCP servers'
tools (`mcp_servers`), and `ServerTools` (`registry`), which runs server-side tools within
their budgets.  Client-defined tools never run here: they are the Realtime client's.
"""
