"""Jarvis hands analytical turns to Leonardo: spoken handoff, persona events, his own voice."""

from __future__ import annotations

import dataclasses
from collections.abc import AsyncIterator, Iterator

import numpy as np
import pytest

from zenglow.app import create_app
from zenglow.engines.base import SpeechChunk, Voice
from zenglow.settings.voices import SessionVoiceSettings, default_voices
from zenglow.transports.realtime.client_events import REFUSED

from .conftest import engines_with
from .server import LoopbackServer, connect, user_text
from .speech import wer


class VoiceLog:
    """The real Piper engine, noting which voice spoke each sentence."""

    def __init__(self, tts) -> None:  # type: ignore[no-untyped-def]
        self.tts = tts
        self.load = tts.load
        self.spoken: list[tuple[str, Voice | None]] = []

    def synthesize(
        self, text: str, *, voice: Voice | None = None, sample_rate: int | None = None
    ) -> AsyncIterator[SpeechChunk]:
        self.spoken.append((text, voice))
        return self.tts.synthesize(text, voice=voice, sample_rate=sample_rate)


@pytest.fixture(scope="module")
def voiced(engines) -> Iterator[tuple[LoopbackServer, VoiceLog]]:
    """The real voices, OpenAI's `ash` an alias of `joe-calm`; the voice of each sentence noted."""
    log = VoiceLog(engines.tts)
    voices = {**default_voices(), "joe-calm": SessionVoiceSettings(speed=0.9, aliases=["ash"])}
    eng = dataclasses.replace(engines_with(engines, voices=voices), tts=log)
    with LoopbackServer(create_app(eng.settings, eng)) as srv:
        yield srv, log


async def speak(engines, text: str) -> np.ndarray:
    """A spoken question: Piper's voice at 24 kHz, then silence to end the turn."""
    parts = [c.pcm async for c in engines.tts.synthesize(text, sample_rate=24000)]
    return np.concatenate([*parts, np.zeros(24000 * 2, np.int16)])


async def test_spoken_analytical_question_is_escalated_with_a_handoff(voiced, engines):
    server, log = voiced
    question = "Can you explain step by step why the sky is blue?"
    async with connect(server.ws_url) as client:
        await client.wait_for("session.created")
        await client.stream(await speak(engines, question))
        done = await client.wait_for("response.done", timeout=90)
    heard = client.of("conversation.item.input_audio_transcription.completed")[0]["transcript"]
    assert wer(question, heard) < 0.3

    personas = [(e["persona"], e["reason"]) for e in client.of("zenglow.persona")]
    assert personas == [("jarvis", "handoff"), ("leonardo", "analytical")]
    # the persona events come before the audio of each part
    types = [e["type"] for e in client.events]
    i_jarvis = types.index("zenglow.persona")
    i_leo = types.index("zenglow.persona", i_jarvis + 1)
    assert types.index("response.output_audio.delta") > i_jarvis
    assert "response.output_audio.delta" in types[i_leo:]

    transcript = done["response"]["output"][0]["content"][0]["transcript"]
    handoff = transcript.split(".")[0]
    assert "Leonardo" in handoff and len(transcript) > len(handoff) + 5
    assert done["response"]["status"] == "completed"

    # Jarvis's voice says the handoff, Leonardo's (slower, per the persona) the answer
    jarvis = engines.settings.persona("jarvis").voice.speed
    leonardo = engines.settings.persona("leonardo").voice.speed
    assert jarvis != leonardo
    said = [(text, voice.speed) for text, voice in log.spoken if voice is not None]
    first = next(i for i, (text, _) in enumerate(said) if text.startswith(handoff.strip()))
    assert said[first][1] == pytest.approx(jarvis)
    assert said[first + 1 :] and all(
        speed == pytest.approx(leonardo) for _, speed in said[first + 1 :]
    )


async def test_addressing_leonardo_needs_no_handoff(server):
    async with connect(server.ws_url) as client:
        await client.wait_for("session.created")
        await client.send(user_text("Leonardo, what is your favourite colour?"))
        await client.send({"type": "response.create"})
        done = await client.wait_for("response.done", timeout=60)
    assert [(e["persona"], e["reason"]) for e in client.of("zenglow.persona")] == [
        ("leonardo", "addressed")
    ]
    assert done["response"]["status"] == "completed"


async def test_small_talk_stays_with_jarvis_and_a_pinned_persona_always_answers(server):
    async with connect(server.ws_url) as client:
        await client.wait_for("session.created")
        for text in ("Good morning!", "Why is the sea salty?"):
            await client.send(user_text(text))
            if text.startswith("Why"):
                await client.send(
                    {
                        "type": "session.update",
                        "session": {"type": "realtime", "zenglow": {"persona": "jarvis"}},
                    }
                )
                await client.wait_for("session.updated")
            n = len(client.events)
            await client.send({"type": "response.create"})
            await client.wait_for("response.done", timeout=60, after=n)
    assert [(e["persona"], e["reason"]) for e in client.of("zenglow.persona")] == [
        ("jarvis", "default"),
        ("jarvis", "pinned"),
    ]


async def test_a_session_picks_a_voice_for_its_persona(voiced):
    """An unknown voice refuses the whole update (its instructions too) and says so; OpenAI's
    `ash` is taken, and speaks in the voice whose alias it is."""
    server, log = voiced
    async with connect(server.ws_url) as client:
        await client.wait_for("session.created")
        voice = {"audio": {"output": {"voice": "nova-x"}}}
        refused = {"type": "realtime", "instructions": "Speak like a pirate.", **voice}
        await client.send({"type": "session.update", "event_id": "v1", "session": refused})
        err = (await client.wait_for("error"))["error"]
        assert (err["code"], err["param"], err["event_id"]) == (
            "invalid_value", "session.audio.output.voice", "v1",
        )  # fmt: skip
        assert "'nova-x'" in err["message"] and "joe-calm" in err["message"]
        assert "ash" in err["message"] and err["message"].endswith(REFUSED)
        await client.send(
            {
                "type": "session.update",
                "session": {"type": "realtime", "audio": {"output": {"voice": "ash"}}},
            }
        )
        updated = await client.wait_for("session.updated")
        assert updated["session"]["audio"]["output"]["voice"] == "ash"
        assert updated["session"]["instructions"] == ""  # nothing of the refused one
        assert len(client.of("session.updated")) == 1
        n = len(log.spoken)
        await client.send(user_text("Hello there!"))
        await client.send({"type": "response.create"})
        await client.wait_for("response.done", timeout=60)
    speeds = {voice.speed for _, voice in log.spoken[n:] if voice is not None}
    assert speeds and all(speed == pytest.approx(0.9) for speed in speeds)


def test_personas_are_listed_with_their_avatars(server):
    import httpx

    body = httpx.get(f"http://127.0.0.1:{server.port}/v1/personas").json()
    assert body["default"] == "jarvis"
    looks = {p["name"]: p["avatar"]["look"] for p in body["personas"]}
    assert looks == {"jarvis": "mira", "leonardo": "mira-analyst"}
    assert "joe-calm" in body["voices"]
