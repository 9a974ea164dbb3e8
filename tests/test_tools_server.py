"""Server-side tools on a real server and the embedded model: an MCP server (written with
the `mcp` package, run as a subprocess) and the built-in tools, from speech and text; the
avatar's `working` state and filler line; tools that fail, time out, or whose server is
down at start or dies mid-call."""

from __future__ import annotations

import asyncio
import re
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from zenglow.app import create_app
from zenglow.engines.loader import Engines
from zenglow.settings import McpServerSettings, ToolSettings
from zenglow.tools.registry import ServerTools
from zenglow.tools.specs import ToolSpec

from .conftest import engines_with
from .server import LoopbackServer, connect, user_text

HERE = Path(__file__).parent
MCP_SERVER = McpServerSettings(command=sys.executable, args=(str(HERE / "mcp_server.py"),))
GONE = McpServerSettings(command=sys.executable, args=("-c", "raise SystemExit(2)"))
MAILBOX = ToolSpec("check_mailbox", "Checks the mailbox for letters.", where="server")


async def _slow_mailbox(args: dict[str, Any]) -> str:
    await asyncio.sleep(1.6)
    return "There are two letters in the mailbox."


@pytest.fixture(scope="module")
def tools_server(engines: Engines) -> Iterator[LoopbackServer]:
    """Jarvis with get_time, the home MCP server, a dead MCP server and a slow tool."""
    tools = ToolSettings(
        mcp_servers={"home": MCP_SERVER, "gone": GONE}, timeout_s=4.0, filler_after_ms=800
    )
    personas = dict(engines.settings.personas)
    personas["jarvis"] = personas["jarvis"].model_copy(
        update={"tools": ("get_time", "mcp", "check_mailbox")}
    )
    eng = engines_with(engines, tools=tools, personas=personas)
    eng.tools = ServerTools(tools)
    eng.tools.add(MAILBOX, _slow_mailbox)
    with LoopbackServer(create_app(eng.settings, eng)) as srv:
        yield srv


async def ask(srv: LoopbackServer, text: str) -> list[dict[str, Any]]:
    """Type `text`, ask for a spoken reply; every event up to its response.done."""
    async with connect(srv.ws_url) as c:
        await c.send(user_text(text))
        await c.send({"type": "response.create"})
        await c.wait_for("response.done", timeout=120)
        await c.wait_for("zenglow.state", where=lambda e: e["state"] == "listening")
        return list(c.events)


def tool_events(events: list[dict[str, Any]]) -> list[tuple[str, str]]:
    return [(e["name"], e["status"]) for e in events if e["type"] == "zenglow.tool"]


def states(events: list[dict[str, Any]]) -> list[str]:
    return [e["state"] for e in events if e["type"] == "zenglow.state"]


def reply_of(events: list[dict[str, Any]]) -> str:
    done = [e for e in events if e["type"] == "response.done"][-1]["response"]
    assert done["status"] == "completed", done
    [message] = [o for o in done["output"] if o["type"] == "message"]
    return message["content"][0]["transcript"]


def test_a_dead_mcp_server_does_not_stop_the_start(tools_server: LoopbackServer) -> None:
    servers = tools_server.server.config.app.state.runtime.engines.tools.servers
    assert servers["home"].up and "HassTurnOff" in servers["home"].tools
    assert not servers["gone"].up and servers["gone"].problem


async def test_a_spoken_request_calls_the_mcp_tool_and_speaks_its_result(
    tools_server: LoopbackServer, engines: Engines
) -> None:
    pcm = [c.pcm async for c in engines.tts.synthesize(
        "Please turn off the kitchen lights.", sample_rate=24000
    )]  # fmt: skip
    audio = np.concatenate([*pcm, np.zeros(24000 * 2, np.int16)])
    async with connect(tools_server.ws_url) as c:
        await c.wait_for("session.created")
        await c.stream(audio)
        heard = await c.wait_for("conversation.item.input_audio_transcription.completed")
        await c.wait_for("response.done", timeout=120)
        events = list(c.events)
    assert "light" in heard["transcript"].lower()
    assert tool_events(events) == [("HassTurnOff", "running"), ("HassTurnOff", "completed")]
    done = [e for e in events if e["type"] == "zenglow.tool"][-1]
    assert done["output"].startswith("Done: the") and "switched off" in done["output"]
    assert "working" in states(events)
    said = reply_of(events)
    assert said.strip()
    assert [e for e in events if e["type"] == "response.output_audio.delta"]
    print("reply:", said)


async def test_the_time_is_told(tools_server: LoopbackServer) -> None:
    events = await ask(tools_server, "What time is it?")
    assert tool_events(events) == [("get_time", "running"), ("get_time", "completed")]
    output = [e for e in events if e["type"] == "zenglow.tool"][-1]["output"]
    assert re.match(r"It is \d{1,2}:\d\d [AP]M on \w+day", output)
    assert reply_of(events).strip()


async def test_a_slow_tool_gets_a_filler_line_while_the_avatar_works(
    tools_server: LoopbackServer,
) -> None:
    events = await ask(tools_server, "Can you check the mailbox for letters?")
    assert tool_events(events) == [("check_mailbox", "running"), ("check_mailbox", "completed")]
    seen = states(events)
    assert seen.index("working") < len(seen) - 1 - seen[::-1].index("speaking")
    said = reply_of(events)
    fillers = ToolSettings().filler_lines
    assert any(said.startswith(line) for line in fillers), said
    # the filler is spoken while the tool works: its transcript comes before the result
    kinds = [e["type"] for e in events]
    first_text = kinds.index("response.output_audio_transcript.delta")
    tool_done = [i for i, e in enumerate(events) if e["type"] == "zenglow.tool"][-1]
    assert first_text < tool_done


@pytest.mark.parametrize(
    ("request_text", "tool", "told"),
    [
        ("Open the garage door, please.", "open_garage", "failed"),
        ("Water the garden plants.", "water_garden", "did not answer within 4 s"),
    ],
)
async def test_a_tool_that_fails_or_times_out_is_reported_and_the_session_goes_on(
    tools_server: LoopbackServer, request_text: str, tool: str, told: str
) -> None:
    events = await ask(tools_server, request_text)
    assert tool_events(events) == [(tool, "running"), (tool, "failed")]
    assert told in [e for e in events if e["type"] == "zenglow.tool"][-1]["output"]
    said = reply_of(events)
    assert f"Sorry, {tool.replace('_', ' ')} did not work just now." in said
    again = await ask(tools_server, "What time is it?")
    assert tool_events(again)[-1] == ("get_time", "completed")


async def test_an_mcp_server_that_dies_mid_call_is_reported_and_comes_back(
    tools_server: LoopbackServer,
) -> None:
    events = await ask(tools_server, "Reboot the home router.")
    assert tool_events(events) == [("reboot_router", "running"), ("reboot_router", "failed")]
    output = [e for e in events if e["type"] == "zenglow.tool"][-1]["output"]
    assert "the MCP server 'home' failed" in output
    assert "Sorry, reboot router did not work just now." in reply_of(events)
    home = tools_server.server.config.app.state.runtime.engines.tools.servers["home"]
    for _ in range(100):  # connected again in the background
        if home.up:
            break
        await asyncio.sleep(0.1)
    events = await ask(tools_server, "Please turn off the kitchen lights.")
    assert tool_events(events)[-1] == ("HassTurnOff", "completed")


@pytest.fixture(scope="module")
def documents_server(
    engines: Engines, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[LoopbackServer]:
    """Jarvis with search_documents over the server's knowledge base (MiniLM, SQLite)."""
    from zenglow.knowledge.service import Knowledge
    from zenglow.settings import KnowledgeSettings

    from .knowledge_corpus import write_corpus

    corpus = write_corpus(tmp_path_factory.mktemp("corpus"))
    knowledge = Knowledge(KnowledgeSettings(data_dir=tmp_path_factory.mktemp("index")))
    asyncio.run(knowledge.ingest(corpus / "manual.pdf"))
    personas = dict(engines.settings.personas)
    personas["jarvis"] = personas["jarvis"].model_copy(update={"tools": ("search_documents",)})
    personas["leonardo"] = personas["leonardo"].model_copy(update={"tools": ("get_time",)})
    eng = engines_with(engines, personas=personas)
    eng.knowledge = knowledge
    eng.tools = ServerTools(eng.settings.tools, knowledge=knowledge)
    with LoopbackServer(create_app(eng.settings, eng)) as srv:
        yield srv
    asyncio.run(knowledge.aclose())


async def pinned_turn(server: LoopbackServer, persona: str, text: str) -> list[dict]:
    """One typed turn answered by `persona`, pinned; every event of the session."""
    async with connect(server.ws_url) as c:
        pin = {"type": "realtime", "zenglow": {"persona": persona}}
        await c.send({"type": "session.update", "session": pin})
        await c.wait_for("session.updated")
        await c.send(user_text(text))
        await c.send({"type": "response.create"})
        await c.wait_for("response.done", timeout=120)
        return list(c.events)


async def test_a_persona_looks_things_up_with_search_documents(
    documents_server: LoopbackServer,
) -> None:
    """Jarvis, pinned, answers himself (Leonardo's answers are grounded without a tool)."""
    events = await pinned_turn(
        documents_server, "jarvis", "Search the documents: what does fault code E22 mean?"
    )
    assert tool_events(events) == [
        ("search_documents", "running"),
        ("search_documents", "completed"),
    ]
    output = [e for e in events if e["type"] == "zenglow.tool"][-1]["output"]
    assert output.startswith("[Orrery-7 Buoy Field Maintenance Manual")
    assert reply_of(events).strip()


async def test_a_grounded_answer_calls_no_tool(documents_server: LoopbackServer) -> None:
    events = await pinned_turn(
        documents_server, "leonardo", "According to the manual, what does fault code E22 mean?"
    )
    assert tool_events(events) == [] and not [e for e in events if e["type"] == "error"]
    assert [e for e in events if e["type"] == "zenglow.citations"]
    assert "water" in reply_of(events).lower()
