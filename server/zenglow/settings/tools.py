"""Tool settings: the MCP servers to connect to, and the budgets every tool call runs under.

Which tools a persona may use is the persona's `tools` list (settings/personas.py): built-in
names (`get_time`, `search_documents`), `mcp` (every MCP server's tools), `mcp:<server>`
(one server's) or a tool's own name.
"""

from __future__ import annotations

from typing import Literal

from pydantic import Field, model_validator

from .personas import Section, _invalid


class McpServerSettings(Section):
    """One MCP server: a command run over stdio, or a streamable HTTP URL."""

    transport: Literal["stdio", "http"] = "stdio"
    command: str | None = Field(None, description="stdio: the program to run")
    args: tuple[str, ...] = ()
    env: dict[str, str] = Field(default_factory=dict, description="stdio: extra environment")
    url: str | None = Field(None, description="http: the streamable HTTP endpoint (…/mcp)")
    headers: dict[str, str] = Field(default_factory=dict, description="http: e.g. Authorization")
    connect_timeout_s: float = Field(10.0, gt=0)

    @model_validator(mode="after")
    def _complete(self) -> McpServerSettings:
        if self.transport == "stdio" and not self.command:
            raise _invalid("an MCP server over stdio needs a `command`")
        if self.transport == "http" and not self.url:
            raise _invalid("an MCP server over http needs a `url`")
        return self


class ToolSettings(Section):
    mcp_servers: dict[str, McpServerSettings] = Field(default_factory=dict)
    timeout_s: float = Field(10.0, gt=0, description="the longest a server-side tool may run")
    max_result_chars: int = Field(4000, ge=100, description="longer results are cut here")
    max_rounds: int = Field(3, ge=1, le=10, description="tool rounds in one response")
    filler_after_ms: int = Field(1000, ge=0, description="a tool slower than this gets a filler")
    filler_lines: tuple[str, ...] = (
        "One moment, let me check.",
        "Just a second.",
        "Let me look that up.",
    )
