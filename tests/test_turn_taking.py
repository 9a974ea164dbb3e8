"""Turn-taking over a real WebSocket on real models and recorded speech: semantic end of turn,
the reply's own echo, speech over a reply (an interruption, or only a backchannel)."""

from __future__ import annotations

import asyncio
import contextlib
import re
from collections.abc import AsyncIterator, Iterator

import httpx
import numpy as np
import pytest

from zenglow.app import create_app
from zenglow.settings import BACKCHANNELS
from zenglow.speech.audio import float_to_int16, read_audio, resample
from zenglow.speech.wording import is_echo

from .conftest import engines_with
from .echo_room import Room
from .fakes import LONG_REPLY, ScriptedChat
from .server import Client, LoopbackServer, clip_pcm24, connect, user_text
from .speech import clip, normalise, wer
from .web_lips import REPLY


def over_reply(server) -> dict[str, float]:
    """`zenglow_speech_over_reply_total` by outcome, from the server's /metrics."""
    text = httpx.get(f"http://127.0.0.1:{server.port}/metrics").text
    found = re.findall(r'zenglow_speech_over_reply_total\{outcome="(\w+)"\} (\S+)', text)
    counts = {"interruption": 0.0, "backchannel": 0.0, "echo": 0.0}
    return counts | {k: float(v) for k, v in found}


def turn_detection(td: dict | None) -> dict:
    return {"type": "session.update", "session": {"audio": {"input": {"turn_detection": td}}}}


def spliced(engines, name: str, after_word: int, last_word: int | None, gap_s: float = 0.7):
    """A recorded sentence up to `last_word` (None: all of it) with `gap_s` of its own room
    tone spliced in after `after_word` (words counted from 0 in the full-window word
    timings), and what it says; the audio as PCM16 at 24 kHz."""
    audio = read_audio(clip(name, "setB" if name[0] == "b" else "setA").path)
    words = engines.stt.transcribe_sync(audio, words=True).words
    cut = int((words[after_word].end + words[after_word + 1].start) / 2 * 16000)
    end = len(audio) if last_word is None else int((words[last_word].end + 0.15) * 16000)
    energy = np.convolve(audio**2, np.ones(1600) / 1600, "valid")
    quiet = audio[int(np.argmin(energy)) :][:1600]
    gap = np.tile(quiet, int(np.ceil(gap_s * 16000 / len(quiet))))[: int(gap_s * 16000)]
    tail = np.zeros(3 * 16000, np.float32)
    joined = np.concatenate([audio[:cut], gap, audio[cut:end], tail])
    said = " ".join(w.text for w in words[: None if last_word is None else last_word + 1])
    return float_to_int16(resample(joined, 16000, 24000)), said


# "...in the middle of | the fifteenth century", "...I will say nothing of | my
# antecedents", "He began a confused complaint against the | wizard": each pause stops
# mid-phrase; Smart Turn alone hears the first as finished, its words say otherwise
SPLICES = [("b12", 9, 12), ("a07", 10, 12), ("a08", 6, None)]


@pytest.mark.parametrize(("name", "after_word", "last_word"), SPLICES)
async def test_a_pause_mid_sentence_is_one_turn_with_semantic_vad(
    server, engines, name, after_word, last_word
):
    pcm, reference = spliced(engines, name, after_word, last_word)
    counts = {}
    for td in (
        {"type": "semantic_vad", "eagerness": "auto", "create_response": False},
        {"type": "server_vad", "silence_duration_ms": 500, "create_response": False},
    ):
        async with connect(server.ws_url) as client:
            await client.wait_for("session.created")
            await client.send(turn_detection(td))
            updated = await client.wait_for("session.updated")
            assert updated["session"]["audio"]["input"]["turn_detection"]["type"] == td["type"]
            await client.stream(pcm)
            n_stopped = 1 if td["type"] == "semantic_vad" else 2
            for i in range(n_stopped):
                await client.wait_for(
                    "conversation.item.input_audio_transcription.completed",
                    timeout=60,
                    where=lambda e, i=i: (
                        len(client.of("conversation.item.input_audio_transcription.completed")) > i
                    ),
                )
            await asyncio.sleep(0.5)  # nothing more should follow
        counts[td["type"]] = len(client.of("input_audio_buffer.speech_stopped"))
        texts = client.of("conversation.item.input_audio_transcription.completed")
        said = " ".join(t["transcript"] for t in texts)
        assert wer(reference, said) < 0.35, said
    assert counts == {"semantic_vad": 1, "server_vad": 2}


async def test_semantic_vad_is_reported_as_asked(server):
    async with connect(server.ws_url) as client:
        created = await client.wait_for("session.created")
        assert created["session"]["audio"]["input"]["turn_detection"]["type"] == "server_vad"
        await client.send(turn_detection({"type": "semantic_vad", "eagerness": "low"}))
        updated = await client.wait_for("session.updated")
        td = updated["session"]["audio"]["input"]["turn_detection"]
        assert td == {
            "type": "semantic_vad",
            "eagerness": "low",
            "create_response": True,
            "interrupt_response": True,
        }
        await client.send(turn_detection({"type": "semantic_vad", "eagerness": "sometimes"}))
        error = await client.wait_for("error")
        assert "eagerness" in error["error"]["message"]


async def reply_done(client, first: dict, within: float = 60) -> dict:
    """The `response.done` of the reply whose first audio delta was `first`."""
    rid = first["response_id"]
    return await client.wait_for(
        "response.done", timeout=within, where=lambda e: e["response"]["id"] == rid
    )


@contextlib.asynccontextmanager
async def in_the_room(server, room: Room, seconds: float) -> AsyncIterator[tuple[Client, dict]]:
    """A session whose microphone is the room's for `seconds`, with the scripted reply
    playing from its loudspeaker; yields the client and the reply's first audio delta."""
    async with connect(server.ws_url) as client:
        client.on_event = room.hear
        await client.wait_for("session.created")
        mic = asyncio.create_task(room.mic_loop(client, seconds))
        try:
            yield client, await play_reply_into_the_room(client, room)
        finally:
            mic.cancel()


async def play_reply_into_the_room(client, room: Room) -> dict:
    """Ask for the scripted reply; the room's loudspeaker plays it as it comes."""
    await client.send(user_text("Tell me about the evening."))
    await client.send({"type": "response.create"})
    first = await client.wait_for("response.output_audio.delta", timeout=60)
    return first


@pytest.mark.parametrize(("delay_s", "gain"), [(0.05, 0.7), (0.2, 0.4)])
async def test_the_replys_own_echo_does_not_interrupt_it(scripted_server, delay_s, gain):
    room = Room(delay_s=delay_s, gain=gain)
    async with in_the_room(scripted_server, room, 30.0) as (client, first):
        done = await reply_done(client, first)
        # the loudspeaker plays the last of it, and its echo dies away
        await asyncio.sleep(max(0.0, (room.play_end - room.now()) / 24000) + 1.0)
    assert done["response"]["status"] == "completed"
    assert not client.of("input_audio_buffer.speech_started")
    assert not client.of("input_audio_buffer.committed")
    assert not client.of("conversation.item.input_audio_transcription.completed")
    assert normalise(done["response"]["output"][0]["content"][0]["transcript"]) == normalise(REPLY)


async def test_talking_over_the_echo_interrupts_the_reply(long_server):
    # the user's voice must be heard over the echo: a room where it is quieter than the
    # loudspeaker's echo is one no double-talk test can tell from the echo alone
    room = Room(delay_s=0.12, gain=0.4)
    c = clip("a04")
    async with in_the_room(long_server, room, 40.0) as (client, first):
        await asyncio.sleep(4.0)
        room.say(clip_pcm24(c.path))
        done = await reply_done(client, first, within=30)
        room.flush()
        await client.wait_for("conversation.item.input_audio_transcription.completed", timeout=60)
        await asyncio.sleep(3.0)  # the rest of what the user said, if the VAD split it
    assert done["response"]["status"] == "cancelled"
    assert done["response"]["status_details"]["reason"] == "turn_detected"
    heard = done["response"]["output"][0]["content"][0]["transcript"]
    assert heard and len(heard) < len(LONG_REPLY) / 2
    said = " ".join(
        e["transcript"] for e in client.of("conversation.item.input_audio_transcription.completed")
    )
    # its first words were said over the loudspeaker, which the canceller muffles with the
    # echo (and tiny.en hears "has to print" for "Hester Prynne" anyway); none of the
    # reply's own words may be in it
    assert wer(c.transcript, said) < 0.65, said
    assert not is_echo(said, LONG_REPLY), said


@pytest.fixture(scope="module")
def backchannel_server(engines) -> Iterator[LoopbackServer]:
    """`web_lips.REPLY` every time, from a server that lets backchannels through."""
    vad = engines.settings.vad.model_copy(update={"backchannels": BACKCHANNELS})
    eng = engines_with(engines, vad=vad)
    eng.chats = {
        n: ScriptedChat([w + " " for w in REPLY.split(" ")]) for n in eng.settings.personas
    }
    with LoopbackServer(create_app(eng.settings, eng)) as srv:
        yield srv


async def test_a_backchannel_lets_the_reply_go_on(backchannel_server, engines):
    """The user says "okay" while the reply plays: it carries on, and nobody answers "okay"
    (the corpus has no backchannels: this one is Piper's)."""
    okay = np.concatenate([c.pcm async for c in engines.tts.synthesize("Okay.", sample_rate=24000)])
    room = Room(delay_s=0.1, gain=0.0)  # a client that cancels its own echo
    before = over_reply(backchannel_server)
    async with in_the_room(backchannel_server, room, 30.0) as (client, first):
        await asyncio.sleep(3.0)
        room.say(okay)
        done = await reply_done(client, first)
        await asyncio.sleep(1.5)
    assert done["response"]["status"] == "completed"
    assert normalise(done["response"]["output"][0]["content"][0]["transcript"]) == normalise(REPLY)
    # heard, held for and let go: no turn was announced, nothing answers it
    assert over_reply(backchannel_server)["backchannel"] == before["backchannel"] + 1
    assert not client.of("input_audio_buffer.speech_started")
    assert not client.of("input_audio_buffer.committed")
    assert len(client.of("response.created")) == 1
