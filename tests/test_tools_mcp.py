"""`ServerTools` on its own: an MCP server over streamable HTTP (the `mcp` package's own
server, in a subprocess), persona tool lists, and the budgets and errors of every run."""

from __future__ import annotations

import asyncio
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from zenglow.settings import McpServerSettings, ToolSettings
from zenglow.tools.registry import ServerTools
from zenglow.tools.specs import ToolCall, ToolSpec

from .ollama_server import unused_port

HERE = Path(__file__).parent


@pytest.fixture(scope="module")
def http_mcp() -> Iterator[str]:
    port = unused_port()
    proc = subprocess.Popen(
        [sys.executable, str(HERE / "mcp_server.py"), "http", str(port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
                break
            except OSError:
                if time.monotonic() > deadline or proc.poll() is not None:
                    raise RuntimeError("the MCP server did not start") from None
                time.sleep(0.1)
        yield f"http://127.0.0.1:{port}/mcp"
    finally:
        proc.terminate()
        proc.wait(10)


@pytest.mark.parametrize("headers", [{}, {"Authorization": "Bearer token"}])
async def test_an_mcp_server_over_streamable_http(http_mcp: str, headers: dict[str, str]) -> None:
    server = McpServerSettings(transport="http", url=http_mcp, headers=headers)
    tools = ServerTools(ToolSettings(mcp_servers={"home": server}))
    await tools.start()
    try:
        offered = {t.name: t for t in tools.for_persona(["mcp:home"])}
        assert {"HassTurnOff", "open_garage"} <= set(offered)
        spec = offered["HassTurnOff"]
        assert spec.parameters["required"] == ["name"] and spec.where == "server"
        done = await tools.run(ToolCall("c1", "HassTurnOff", '{"name": "lights"}'), spec)
        assert done.ok and done.output == "Done: the lights are now switched off."
    finally:
        await tools.aclose()


def test_a_server_needs_what_its_transport_needs() -> None:
    with pytest.raises(ValueError, match="needs a `command`"):
        McpServerSettings()
    with pytest.raises(ValueError, match="needs a `url`"):
        McpServerSettings(transport="http")


async def _long(args: dict[str, Any]) -> str:
    return "x" * 10_000


async def _raises(args: dict[str, Any]) -> str:
    raise KeyError("the sensor")


async def _sleeps(args: dict[str, Any]) -> str:
    await asyncio.sleep(30)
    return "late"


@pytest.mark.parametrize(
    ("name", "arguments", "ok", "says"),
    [
        ("long", "{}", True, "[cut: the result was too long]"),
        ("raises", "{}", False, "raises failed: KeyError"),
        ("sleeps", "{}", False, "did not answer within 0.2 s"),
        ("nowhere", "{}", False, "there is no tool named 'nowhere'"),
        ("get_time", '{"timezone": 3}', False, "do not fit the schema"),
        ("get_time", '{"timezone": "Mars/Olympus"}', False, "unknown time zone"),
        ("get_time", '{"timezone": "Asia/Tokyo"}', True, "(JST)"),
    ],
)
async def test_every_run_keeps_its_budget_and_reports_what_went_wrong(
    name: str, arguments: str, ok: bool, says: str
) -> None:
    tools = ServerTools(ToolSettings(timeout_s=0.2, max_result_chars=100))
    for tool, run in (("long", _long), ("raises", _raises), ("sleeps", _sleeps)):
        tools.add(ToolSpec(tool, where="server"), run)
    specs = {t.name: t for t in tools.for_persona(["get_time", "long", "raises", "sleeps"])}
    done = await tools.run(ToolCall("c1", name, arguments), specs.get(name))
    assert done.ok is ok and says in done.output
    if name == "long":
        assert len(done.output) < 150


def test_search_documents_is_offered_only_with_a_knowledge_base() -> None:
    tools = ServerTools(ToolSettings())
    assert [t.name for t in tools.for_persona(["get_time", "search_documents"])] == ["get_time"]

    class Docs:
        async def search(self, query: str, k: int | None = None) -> list[Any]:
            return []

    tools.use_knowledge(Docs())
    names = [t.name for t in tools.for_persona(["search_documents", "get_time"])]
    assert names == ["search_documents", "get_time"]
    done = asyncio.run(tools.run(ToolCall("c", "search_documents", '{"query": "warranty"}'),
                                 tools.builtin["search_documents"][0]))  # fmt: skip
    assert done.ok and done.output == "Nothing in the documents answers that."


async def test_doctor_lists_the_mcp_servers_and_unknown_tool_names() -> None:
    from zenglow.ops.doctor import tool_checks
    from zenglow.settings import load_settings

    from .test_tools_server import GONE, MCP_SERVER

    s = load_settings(None)
    personas = dict(s.personas)
    personas["jarvis"] = personas["jarvis"].model_copy(update={"tools": ("get_time", "lamp")})
    tools = ToolSettings(mcp_servers={"home": MCP_SERVER, "gone": GONE})
    s = s.model_copy(update={"tools": tools, "personas": personas})
    rows = {r.component: r for r in await tool_checks(s, timeout_s=20)}
    assert rows["mcp:home"].status == "OK" and "HassTurnOff" in rows["mcp:home"].detail
    assert rows["mcp:gone"].status == "WARN" and rows["mcp:gone"].detail.startswith("down: ")
    assert (
        rows["tools:jarvis"].status == "WARN"
        and "no tool named lamp" in rows["tools:jarvis"].detail
    )
    assert "tools:leonardo" not in rows
