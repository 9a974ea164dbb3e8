"""A persona's backend dies mid-reply: the other persona finishes the turn, and says so."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator

import pytest

from zenglow.app import create_app
from zenglow.engines.loader import build_pools
from zenglow.settings import load_settings

from .ollama_server import OllamaServer, Script
from .server import LoopbackServer, connect, user_text

JARVIS_WORDS = ["The", " weather", " today", " is", " mild", " and", " the", " sky"]
LEO_WORDS = [" is", " mostly", " clear", " over", " the", " hills", "."]


@pytest.fixture(scope="module")
def failing(engines) -> Iterator[tuple[LoopbackServer, OllamaServer, OllamaServer]]:
    jarvis = OllamaServer(
        Script(tokens=JARVIS_WORDS, models=("phi3:mini",), die_after=5, token_delay=0.02)
    ).start()
    leo = OllamaServer(Script(tokens=LEO_WORDS, models=("mistral:7b",), token_delay=0.02)).start()
    settings = load_settings(
        None,
        personas={
            "jarvis": {
                "display_name": "Jarvis",
                "system_prompt": "You are Jarvis.",
                "chat": {
                    "endpoints": [{"kind": "ollama", "model": "phi3:mini", "url": jarvis.url}]
                },
            },
            "leonardo": {
                "display_name": "Leonardo",
                "system_prompt": "You are Leonardo.",
                "chat": {"endpoints": [{"kind": "ollama", "model": "mistral:7b", "url": leo.url}]},
            },
        },
    )
    pools = build_pools(settings, engines.metrics)
    eng = dataclasses.replace(engines, settings=settings, chats=dict(pools))
    try:
        with LoopbackServer(create_app(settings, eng)) as srv:
            yield srv, jarvis, leo
    finally:
        jarvis.stop()
        leo.stop()


async def test_dead_backend_mid_reply_fails_over_to_the_other_persona(failing):
    server, _jarvis, leo = failing
    async with connect(server.ws_url) as client:
        await client.wait_for("session.created")
        await client.send(user_text("How is the weather?"))
        await client.send({"type": "response.create"})
        done = await client.wait_for("response.done", timeout=60)

    assert done["response"]["status"] == "completed"
    personas = [(e["persona"], e["reason"]) for e in client.of("zenglow.persona")]
    assert personas == [("jarvis", "default"), ("leonardo", "failover")]
    transcript = done["response"]["output"][0]["content"][0]["transcript"]
    # what Jarvis said before his backend died, the notice, then Leonardo's continuation
    assert transcript.startswith("The weather today is mild")
    assert "can't answer right now" in transcript and "Leonardo will take over" in transcript
    assert transcript.endswith("Leonardo will take over. is mostly clear over the hills.")
    # Leonardo was asked to continue Jarvis's words, not to start again
    body = leo.chats()[-1].body
    assert body["messages"][-1]["role"] == "assistant"
    assert body["messages"][-1]["content"].startswith("The weather today is mild")
    assert client.of("response.output_audio.delta")
