"""MCP servers' tools, through the `mcp` package: a command over stdio, or streamable HTTP.

Each server is held open by its own task (`connection_loop`); a server that is down at start,
or dies (the next call finds out, and fails with a clear error), is connected again with
backoff while the rest of the server goes on.  The tools it last
listed stay offered: calling one while it is down is a clear `ToolError`, not a hang.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from typing import Any

from ..settings.tools import McpServerSettings
from .specs import NAME, ToolError, ToolSpec

log = logging.getLogger(__name__)

RETRY_FIRST_S, RETRY_MAX_S = 1.0, 30.0


def _target(settings: McpServerSettings, stack: contextlib.AsyncExitStack) -> Any:
    """What `mcp.Client` connects to: a URL, an HTTP transport with headers, or a command."""
    if settings.transport == "http":
        assert settings.url is not None
        if not settings.headers:
            return settings.url
        import httpx2
        from mcp.client.streamable_http import streamable_http_client

        timeout = httpx2.Timeout(30.0, read=300.0)  # the MCP transports' own defaults
        http = httpx2.AsyncClient(headers=settings.headers, timeout=timeout)
        stack.push_async_callback(http.aclose)
        return streamable_http_client(settings.url, http_client=http)
    from mcp.client.stdio import StdioServerParameters, get_default_environment

    assert settings.command is not None
    env = {**get_default_environment(), **settings.env}
    return StdioServerParameters(command=settings.command, args=list(settings.args), env=env)


def result_text(result: Any) -> str:
    """An MCP `CallToolResult` as text (text parts joined; other parts named)."""
    parts = []
    for block in result.content or []:
        text = getattr(block, "text", None)
        parts.append(text if isinstance(text, str) else f"[{getattr(block, 'type', 'content')}]")
    if not parts and result.structured_content is not None:
        parts.append(str(result.structured_content))
    return "\n".join(parts)


class McpServer:
    """One configured MCP server: its connection, its tools, and calls to them."""

    def __init__(self, name: str, settings: McpServerSettings) -> None:
        self.name, self.settings = name, settings
        self.tools: dict[str, ToolSpec] = {}
        self.problem: str | None = "not connected yet"
        self._client: Any = None
        self._listed = asyncio.Event()  # the first attempt to connect has ended
        self._broken = asyncio.Event()  # a call found the connection dead: connect again
        self._was_up = False

    @property
    def up(self) -> bool:
        return self._client is not None

    async def wait_listed(self, timeout_s: float) -> None:
        try:
            async with asyncio.timeout(timeout_s):
                await self._listed.wait()
        except TimeoutError:
            pass

    async def connection_loop(self) -> None:
        delay = RETRY_FIRST_S
        while True:
            try:
                await self._connected()
            except asyncio.CancelledError:
                raise
            except BaseException as exc:  # anyio groups, OS and protocol errors
                self.problem = _describe(exc)
                log.warning("MCP server %s is down: %s", self.name, self.problem)
            finally:
                self._client = None
                self._listed.set()
            if self._was_up:  # it worked until now: connect again at once
                self._was_up, delay = False, RETRY_FIRST_S
                continue
            await asyncio.sleep(delay)
            delay = min(delay * 2, RETRY_MAX_S)

    async def _connected(self) -> None:
        from mcp import Client

        async with contextlib.AsyncExitStack() as stack:
            target = _target(self.settings, stack)
            client = Client(target, read_timeout_seconds=self.settings.connect_timeout_s)
            async with asyncio.timeout(self.settings.connect_timeout_s):
                await client.__aenter__()
            await self._held(client)

    async def _held(self, client: Any) -> None:
        try:
            async with asyncio.timeout(self.settings.connect_timeout_s):
                listed = await client.list_tools()
            self.tools = {t.name: spec for t in listed.tools if (spec := self._spec(t))}
            self._client, self.problem, self._was_up = client, None, True
            self._listed.set()
            log.info(
                "MCP server %s: %d tools: %s", self.name, len(self.tools), ", ".join(self.tools)
            )
            self._broken.clear()
            await self._broken.wait()  # held open until a call finds it dead
            raise ConnectionError(self.problem or "the connection broke")
        finally:
            self._client = None
            await client.__aexit__(None, None, None)

    def _spec(self, tool: Any) -> ToolSpec | None:
        if not NAME.match(tool.name):
            log.warning(
                "MCP server %s: tool %r has a name models cannot call", self.name, tool.name
            )
            return None
        schema = dict(tool.input_schema or {"type": "object"})
        return ToolSpec(tool.name, tool.description or "", schema, where="server")

    async def call(self, name: str, args: dict[str, Any], timeout_s: float) -> str:
        client = self._client
        if client is None:
            raise ToolError(f"the MCP server {self.name!r} is not connected ({self.problem})")
        try:
            async with asyncio.timeout(timeout_s):
                result = await client.call_tool(name, args, read_timeout_seconds=timeout_s)
        except TimeoutError:
            raise
        except Exception as exc:  # whatever the transport or the server raised
            self.problem = _describe(exc)
            self._broken.set()  # connect again for the next call
            raise ToolError(f"the MCP server {self.name!r} failed: {self.problem}") from exc
        text = result_text(result)
        if result.is_error:
            raise ToolError(text or f"{name} failed on the MCP server {self.name!r}")
        return text


def _describe(exc: BaseException) -> str:
    """The innermost useful message of an exception (anyio wraps them in groups)."""
    while isinstance(exc, BaseExceptionGroup) and exc.exceptions:
        exc = exc.exceptions[0]
    text = str(exc).strip() or type(exc).__name__
    return text[:300]
