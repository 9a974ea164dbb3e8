"""End to end over a real WebSocket: real speech in, real models, spoken reply out."""

from __future__ import annotations

import asyncio
import base64

import numpy as np

from zenglow.engines.base import VISEMES

from .server import PUSH_TO_TALK, clip_pcm24, connect, user_text
from .speech import clip, wer


def audio_ms(deltas: list[dict]) -> float:
    return sum(len(base64.b64decode(d["delta"])) // 2 for d in deltas) / 24.0


async def test_spoken_turn_gets_transcript_audio_and_visemes(server):
    c = clip("a04")  # 4.8 s of read speech
    async with connect(server.ws_url) as client:
        await client.wait_for("session.created")
        await client.stream(clip_pcm24(c.path, pad_s=1.5))
        done = await client.wait_for("response.done", timeout=90)
        metrics = await client.wait_for("zenglow.turn_metrics", timeout=10)

    types = [e["type"] for e in client.events]
    order = [
        "input_audio_buffer.speech_started",
        "input_audio_buffer.speech_stopped",
        "input_audio_buffer.committed",
        "conversation.item.input_audio_transcription.completed",
        "response.created",
        "response.output_audio.delta",
        "response.output_audio.done",
        "response.done",
    ]
    positions = [types.index(t) for t in order]
    assert positions == sorted(positions), types
    assert types.count("input_audio_buffer.speech_started") == 1

    transcript = client.of("conversation.item.input_audio_transcription.completed")[0]
    # tiny.en scores 9% on this clip offline ("Prin" for "Prynne"); the streamed, VAD-cut
    # version in the turn's fitted window hears "has to print" for "Hester Prynne" (27%).
    # 30% still catches a broken pipeline.
    assert wer(c.transcript, transcript["transcript"]) < 0.3

    assert done["response"]["status"] == "completed"
    deltas = client.of("response.output_audio.delta")
    total_ms = audio_ms(deltas)
    assert total_ms > 500
    spoken = "".join(e["delta"] for e in client.of("response.output_audio_transcript.delta"))
    assert spoken.strip()
    assert done["response"]["output"][0]["content"][0]["transcript"] == spoken.strip()

    cues = client.of("zenglow.visemes")
    assert cues, "no viseme cues"
    ends = []
    for ev in cues:
        assert ev["response_id"] == done["response"]["id"]
        assert all(q["viseme"] in VISEMES for q in ev["cues"])
        starts = [q["start_ms"] for q in ev["cues"]]
        assert starts == sorted(starts) and starts[0] == 0
        ends.append(ev["audio_offset_ms"] + ev["cues"][-1]["end_ms"])
    assert [e["audio_offset_ms"] for e in cues] == sorted(e["audio_offset_ms"] for e in cues)
    assert abs(ends[-1] - total_ms) < 50, (ends[-1], total_ms)  # cues span the whole audio

    m = metrics["metrics"]
    assert m["voice_to_voice_ms"] is not None and m["voice_to_voice_ms"] > 0
    assert m["endpoint_ms"] is not None and m["llm_first_token_ms"] is not None
    states = [e["state"] for e in client.of("zenglow.state")]
    assert states[:2] == ["listening", "user_speaking"]
    assert "thinking" in states and "speaking" in states


async def test_typed_text_gets_a_spoken_reply(server):
    async with connect(server.ws_url) as client:
        await client.wait_for("session.created")
        await client.send(user_text("Hello! How are you today?"))
        added = await client.wait_for("conversation.item.added")
        assert added["item"]["role"] == "user"
        await client.send({"type": "response.create"})
        done = await client.wait_for("response.done", timeout=60)
    assert done["response"]["status"] == "completed"
    assert audio_ms(client.of("response.output_audio.delta")) > 300
    assert client.of("zenglow.persona")[0]["persona"] == "jarvis"


async def test_text_only_modality_streams_text(server):
    async with connect(server.ws_url) as client:
        await client.wait_for("session.created")
        await client.send(
            {
                "type": "session.update",
                "session": {"type": "realtime", "output_modalities": ["text"]},
            }
        )
        updated = await client.wait_for("session.updated")
        assert updated["session"]["output_modalities"] == ["text"]
        await client.send(user_text("Tell me about the sea."))
        await client.send({"type": "response.create"})
        done = await client.wait_for("response.done", timeout=60)
    text = "".join(e["delta"] for e in client.of("response.output_text.delta"))
    assert text.strip() and done["response"]["output"][0]["content"][0]["text"] == text.strip()
    assert not client.of("response.output_audio.delta")


async def test_push_to_talk_commit(server):
    c = clip("a09")
    async with connect(server.ws_url) as client:
        await client.wait_for("session.created")
        await client.send(PUSH_TO_TALK)
        await client.wait_for("session.updated")
        await client.stream(clip_pcm24(c.path), realtime=False)
        await client.send({"type": "input_audio_buffer.commit"})
        await client.send({"type": "response.create"})
        done = await client.wait_for("response.done", timeout=60)
        text = client.of("conversation.item.input_audio_transcription.completed")[0]
    assert not client.of("input_audio_buffer.speech_started")  # no server VAD
    assert wer(c.transcript, text["transcript"]) < 0.25
    assert done["response"]["status"] == "completed"
    # the reply was made after the transcript it answers
    types = [e["type"] for e in client.events]
    assert types.index("conversation.item.input_audio_transcription.completed") < types.index(
        "response.created"
    )


async def test_two_sessions_at_once(server):
    async def talk(text: str) -> dict:
        async with connect(server.ws_url) as client:
            await client.wait_for("session.created")
            await client.send(user_text(text))
            await client.send({"type": "response.create"})
            return await client.wait_for("response.done", timeout=90)

    a, b = await asyncio.gather(talk("Good morning!"), talk("What is your name?"))
    assert a["response"]["status"] == b["response"]["status"] == "completed"
    assert a["response"]["id"] != b["response"]["id"]


def test_silence_is_not_a_turn(engines):
    from zenglow.conversation.listener import Listener
    from zenglow.speech.vad import TurnConfig

    listener = Listener(engines.new_vad(), TurnConfig())
    listener.push(np.zeros(24000 * 3, np.int16))

    async def one() -> list:
        return (await listener.next_batch()).events

    assert asyncio.run(one()) == []


async def test_a_pause_inside_a_turn_does_not_end_it(server):
    """A ~300 ms pause (a speculative reply starts as soon as a pause does; the turn ends
    only after 500 ms): one turn, one reply, answering the whole utterance."""
    first, second = clip("a09"), clip("a04")
    head = clip_pcm24(first.path)[: int(2.6 * 24000)]  # Silero: voiced until ~2.55 s
    tail = clip_pcm24(second.path, pad_s=1.5)[int(0.4 * 24000) :]  # voiced from ~0.48 s
    pcm = np.concatenate([head, np.zeros(int(0.15 * 24000), np.int16), tail])
    async with connect(server.ws_url) as client:
        await client.wait_for("session.created")
        await client.stream(pcm)
        await client.wait_for("response.done", timeout=90)
        await asyncio.sleep(1.0)  # nothing more should follow
    assert len(client.of("input_audio_buffer.speech_started")) == 1
    assert len(client.of("input_audio_buffer.speech_stopped")) == 1
    assert len(client.of("response.created")) == 1
    text = client.of("conversation.item.input_audio_transcription.completed")[0]["transcript"]
    assert wer(first.transcript + " " + second.transcript, text) < 0.3
    # the only reply came after the user finished
    types = [e["type"] for e in client.events]
    assert types.index("input_audio_buffer.speech_stopped") < types.index("response.created")
    assert types.index("input_audio_buffer.speech_stopped") < types.index(
        "response.output_audio.delta"
    )


async def test_turn_detection_settings_are_honoured(server):
    """create_response off: the turn is committed and transcribed, nobody answers.  (That a
    changed silence applies to the detector is tested in test_vad.)"""
    c = clip("a09")
    async with connect(server.ws_url) as client:
        await client.wait_for("session.created")
        await client.send(
            {
                "type": "session.update",
                "session": {
                    "type": "realtime",
                    "audio": {
                        "input": {
                            "turn_detection": {
                                "type": "server_vad",
                                "silence_duration_ms": 800,
                                "create_response": False,
                            }
                        }
                    },
                },
            }
        )
        updated = await client.wait_for("session.updated")
        td = updated["session"]["audio"]["input"]["turn_detection"]
        assert td["silence_duration_ms"] == 800 and td["create_response"] is False
        await client.stream(clip_pcm24(c.path, pad_s=1.5))
        done = await client.wait_for("conversation.item.input_audio_transcription.completed")
        stopped = client.of("input_audio_buffer.speech_stopped")[0]
        await asyncio.sleep(1.0)
    assert wer(c.transcript, done["transcript"]) < 0.25
    assert not client.of("response.created")
    assert 2300 < stopped["audio_end_ms"] < 2900  # speech ends at ~2.55 s


async def test_speaking_again_right_after_the_end_of_a_turn(server):
    """The user goes on just after the turn ended: the first reply is dropped, cut or done; both
    user turns keep their transcripts, and every response.created has one response.done."""
    first, second = clip("a09"), clip("a04")
    head = clip_pcm24(first.path)[: int(2.6 * 24000)]
    tail = clip_pcm24(second.path, pad_s=1.5)[int(0.4 * 24000) :]
    pcm = np.concatenate([head, np.zeros(int(0.7 * 24000), np.int16), tail])
    async with connect(server.ws_url) as client:
        await client.wait_for("session.created")
        await client.stream(pcm)
        first_stop = await client.wait_for("input_audio_buffer.speech_stopped", timeout=60)
        second_stop = await client.wait_for(
            "input_audio_buffer.speech_stopped",
            timeout=60,
            after=client.events.index(first_stop) + 1,
        )
        await client.wait_for(  # the reply to the whole thing
            "response.done",
            timeout=90,
            after=client.events.index(second_stop),
            where=lambda e: e["response"]["status"] == "completed",
        )
    story = [
        (e["type"], e.get("state") or e.get("transcript") or e.get("response", {}).get("status"))
        for e in client.events
        if "delta" not in e["type"] and "viseme" not in e["type"]
    ]
    assert len(client.of("input_audio_buffer.speech_stopped")) == 2, story
    texts = [
        e["transcript"] for e in client.of("conversation.item.input_audio_transcription.completed")
    ]
    assert len(texts) == 2, story
    assert wer(first.transcript, texts[0]) < 0.3 and wer(second.transcript, texts[1]) < 0.3, story
    created = [e["response"]["id"] for e in client.of("response.created")]
    done = [e["response"]["id"] for e in client.of("response.done")]
    assert created == done, story  # nothing ends that did not start, nothing is left open
