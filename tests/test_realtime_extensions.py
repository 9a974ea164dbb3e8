"""Extensions on request, over a real WebSocket: a stock client sees GA events only; one that
asks (`?extensions=zenglow`) also gets `zenglow.*` and the session's `zenglow` part, which
lists what an update asked for and the session does not do.  A `session.update` with a bad
field is refused whole, and the error says so."""

from __future__ import annotations

from typing import Any

from zenglow.conversation import events as ev
from zenglow.engines.base import VisemeCue
from zenglow.transports.realtime.client_events import REFUSED
from zenglow.transports.realtime.encoder import RealtimeEncoder

from .server import connect
from .test_realtime_codec import SERVER_EVENT

# The first session.update of the Agents SDK for Python, as it sends it
AGENTS_SDK_SESSION = {
    "type": "realtime",
    "audio": {
        "input": {
            "format": {"rate": 24000, "type": "audio/pcm"},
            "transcription": {"model": "gpt-4o-mini-transcribe"},
            "turn_detection": {"type": "semantic_vad", "interrupt_response": True},
        },
        "output": {"format": {"rate": 24000, "type": "audio/pcm"}, "voice": "ash"},
    },
    "instructions": "Answer briefly.",
    "model": "gpt-realtime",
    "output_modalities": ["audio"],
    "tools": [],
    "tracing": "auto",
}


def one_turn() -> list[ev.SessionEvent]:
    """A session's facts for a spoken reply, every kind that has a `zenglow.*` side."""
    config = ev.SessionConfig(id="sess_1", model="jarvis", ignored=("session.tracing",))
    cue = VisemeCue("aa", 0.0, 20.0)
    return [
        ev.SessionStarted(config),
        ev.StateChanged("thinking"),
        ev.ResponseStarted("resp_1", "item_1", None, "jarvis", ("audio",)),
        ev.TextOut("resp_1", "item_1", "Hi."),
        ev.AudioOut("resp_1", "item_1", b"\x00\x00" * 480, 0.0, (cue,)),
        ev.PersonaChanged("resp_1", "leonardo", "escalation"),
        ev.ResponseDone("resp_1", "item_1", "completed", "Hi."),
        ev.TurnMetrics("resp_1", {"stt_ms": 90.0}),
        ev.SessionUpdated(config),
    ]


def test_the_encoder_sends_extensions_only_on_request() -> None:
    stock = [w for e in one_turn() for w in RealtimeEncoder().encode(e)]
    asked = [w for e in one_turn() for w in RealtimeEncoder(extensions=True).encode(e)]
    assert [w["type"] for w in asked if not w["type"].startswith("zenglow.")] == [
        w["type"] for w in stock
    ]
    assert {w["type"] for w in asked} - {w["type"] for w in stock} == {
        "zenglow.state", "zenglow.persona", "zenglow.visemes", "zenglow.turn_metrics",
    }  # fmt: skip
    for w in stock:
        SERVER_EVENT.validate_python(w, strict=True)
        assert "zenglow" not in w.get("session", {})
    sessions = [w["session"]["zenglow"] for w in asked if "session" in w]
    assert sessions == [{"persona": "auto", "ignored": ["session.tracing"]}] * 2


async def update(client: Any, session: dict[str, Any]) -> dict[str, Any]:
    """Send one session.update; the session.updated or error that answers it."""
    n = len(client.events)
    await client.send({"type": "session.update", "event_id": "upd", "session": session})
    return await client.wait_for(("session.updated", "error"), after=n, timeout=10)


async def test_a_stock_client_gets_no_extensions(server):
    async with connect(server.stock_url) as client:
        created = await client.wait_for("session.created")
        updated = await update(client, AGENTS_SDK_SESSION)
    assert "zenglow" not in created["session"] and "zenglow" not in updated["session"]
    # zenglow.state "listening" follows session.created for a client that asks, so it
    # would have come before the answer to the update
    assert [e["type"] for e in client.events] == ["session.created", "session.updated"]
    for event in client.events:
        SERVER_EVENT.validate_python(event, strict=True)


async def test_session_updated_says_what_the_session_does(server):
    async with connect(server.ws_url) as client:
        created = await client.wait_for("session.created")
        await client.wait_for("zenglow.state")
        updated = (await update(client, AGENTS_SDK_SESSION))["session"]
    assert created["session"]["zenglow"] == {"persona": "auto", "ignored": []}
    assert updated["zenglow"]["ignored"] == [
        "session.model",
        "session.tracing",
        "session.audio.input.transcription.model",  # the server's Whisper transcribes
    ]
    assert updated["audio"]["input"]["turn_detection"]["type"] == "semantic_vad"  # Smart Turn
    assert updated["audio"]["input"]["noise_reduction"] is None
    assert updated["audio"]["output"]["voice"] == "ash"  # an alias: the persona's own voice
    assert updated["instructions"] == "Answer briefly." and updated["tools"] == []
    assert updated["tracing"] is None
    SERVER_EVENT.validate_python(client.of("session.updated")[0], strict=True)


async def test_a_bad_field_refuses_the_whole_update(server):
    async with connect(server.ws_url) as client:
        await client.wait_for("session.created")
        bad_vad = {"input": {"turn_detection": {"type": "server_vad", "threshold": 1.5}}}
        err = await update(
            client,
            {"type": "realtime", "instructions": "Be terse.", "output_modalities": ["text"],
             "audio": bad_vad},
        )  # fmt: skip
        assert err["type"] == "error", err
        assert err["error"]["param"] == "session.audio.input.turn_detection.threshold"
        assert err["error"]["event_id"] == "upd" and err["error"]["message"].endswith(REFUSED)
        after = (await update(client, {"type": "realtime", "max_output_tokens": 50}))["session"]
    assert after["instructions"] == "" and after["output_modalities"] == ["audio"]
    assert after["max_output_tokens"] == 50
    assert len(client.of("session.updated")) == 1
