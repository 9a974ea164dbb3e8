"""Barge-in, bad input, the session cap, and the official openai SDK, end to end."""

from __future__ import annotations

import asyncio
import base64
import json

import numpy as np
import pytest
import websockets

from zenglow.app import create_app

from .conftest import engines_with
from .fakes import LONG_REPLY
from .server import LoopbackServer, clip_pcm24, connect, user_text
from .speech import clip, wer


async def test_barge_in_cancels_the_reply_and_keeps_what_was_heard(long_server):
    c = clip("a04")
    async with connect(long_server.ws_url) as client:
        await client.wait_for("session.created")
        await client.send(user_text("Tell me a story."))
        await client.send({"type": "response.create"})
        first = await client.wait_for("response.output_audio.delta", timeout=60)
        response_id = first["response_id"]
        await asyncio.sleep(2.0)  # the user listens for a while, then talks over the reply
        talk = asyncio.create_task(client.stream(clip_pcm24(c.path, pad_s=1.5)))
        started = await client.wait_for("input_audio_buffer.speech_started", timeout=30)
        i_started = client.events.index(started)
        done = await client.wait_for(
            "response.done", timeout=30, where=lambda e: e["response"]["id"] == response_id
        )
        i_done = client.events.index(done)
        # cancelled promptly: only events already queued may sit between the two
        assert i_done - i_started < 40, [e["type"] for e in client.events[i_started:i_done]]
        assert done["response"]["status"] == "cancelled"
        assert done["response"]["status_details"]["reason"] == "turn_detected"

        heard = done["response"]["output"][0]["content"][0]["transcript"]
        assert heard and LONG_REPLY.startswith(heard.rstrip(" .")[:-2])
        assert len(heard) < len(LONG_REPLY) / 2  # ~2 s of a ~25 s reply

        await talk
        reply = await client.wait_for(
            "response.done", timeout=90, where=lambda e: e["response"]["id"] != response_id
        )
        assert reply["response"]["status"] == "completed"
        # after the cancelled response ended, none of its audio or visemes came
        for ev in client.events[i_done + 1 :]:
            if ev["type"] in ("response.output_audio.delta", "zenglow.visemes"):
                assert ev["response_id"] != response_id
        states = [e["state"] for e in client.of("zenglow.state")]
        assert "interrupted" in states
        user = client.of("conversation.item.input_audio_transcription.completed")[-1]
        assert wer(c.transcript, user["transcript"]) < 0.3

        # the client says what it actually played: history keeps only that
        item_id = done["response"]["output"][0]["id"]
        await client.send(
            {
                "type": "conversation.item.truncate",
                "item_id": item_id,
                "content_index": 0,
                "audio_end_ms": 800,
            }
        )
        truncated = await client.wait_for("conversation.item.truncated")
        assert truncated["audio_end_ms"] == 800
        await client.send({"type": "conversation.item.retrieve", "item_id": item_id})
        got = await client.wait_for("conversation.item.retrieved")
        kept = got["item"]["content"][0]["transcript"]
        assert len(kept) < len(heard) and LONG_REPLY.startswith(kept)


async def test_response_cancel_from_client(long_server):
    async with connect(long_server.ws_url) as client:
        await client.wait_for("session.created")
        await client.send(user_text("Talk to me."))
        await client.send({"type": "response.create"})
        await client.wait_for("response.output_audio.delta", timeout=60)
        await client.send({"type": "response.cancel"})
        done = await client.wait_for("response.done", timeout=10)
        assert done["response"]["status"] == "cancelled"
        assert done["response"]["status_details"]["reason"] == "client_cancelled"
        n = len(client.events)
        await asyncio.sleep(0.5)
        assert not [e for e in client.events[n:] if e["type"] == "response.output_audio.delta"]


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


BAD_INPUT = [
    ("{not json", "invalid_json"),
    ('["an", "array"]', "invalid_event"),
    (json.dumps({"type": "no.such.event", "event_id": "e1"}), "unknown_event_type"),
    (json.dumps({"type": "input_audio_buffer.append", "audio": "@@not base64@@"}), "invalid_audio"),
    (
        json.dumps({"type": "input_audio_buffer.append", "audio": b64(b"\x01\x02\x03")}),
        "invalid_audio",
    ),
    (
        json.dumps(
            {
                "type": "session.update",
                "session": {
                    "type": "realtime",
                    "audio": {"input": {"format": {"type": "audio/pcmu"}}},
                },
            }
        ),
        "unsupported_audio_format",
    ),
    (
        json.dumps(
            {
                "type": "session.update",
                "session": {
                    "type": "realtime",
                    "audio": {"input": {"turn_detection": {"type": "server_vad", "threshold": 5}}},
                },
            }
        ),
        "invalid_value",
    ),
    (json.dumps({"type": "response.cancel"}), "response_cancel_not_active"),
    (
        json.dumps(
            {
                "type": "conversation.item.truncate",
                "item_id": "nope",
                "content_index": 0,
                "audio_end_ms": 10,
            }
        ),
        "item_not_found",
    ),
    (json.dumps({"type": "conversation.item.delete", "item_id": "nope"}), "item_not_found"),
    (json.dumps({"type": "input_audio_buffer.commit"}), "input_audio_buffer_commit_empty"),
    (
        json.dumps(
            {
                "type": "session.update",
                "session": {"type": "realtime", "zenglow": {"persona": "nobody"}},
            }
        ),
        "invalid_value",
    ),
]


async def test_bad_input_gets_errors_and_the_session_goes_on(server):
    async with connect(server.ws_url) as client:
        await client.wait_for("session.created")
        for n, (raw, code) in enumerate(BAD_INPUT):
            if raw.startswith("{") and '"type"' in raw:
                ev = json.loads(raw)
                ev["event_id"] = f"bad_{n}"
                raw = json.dumps(ev)
            seen = len(client.events)
            await client.send(raw)
            err = await client.wait_for("error", after=seen, timeout=10)
            assert err["error"]["code"] == code, (raw, err)
            assert err["error"]["message"]
            if '"type"' in raw:
                assert err["error"]["event_id"] == f"bad_{n}", err

        seen = len(client.events)
        await client.send("x" * (1 << 20 | 10))  # over the 1 MiB message cap
        err = await client.wait_for("error", after=seen, timeout=10)
        assert err["error"]["code"] == "message_too_large"

        # a second response while one runs is refused, the first completes
        await client.send(user_text("Hi there!"))
        await client.send({"type": "response.create"})
        await client.send({"type": "response.create", "event_id": "twice"})
        err = await client.wait_for("error", where=lambda e: e["error"]["event_id"] == "twice")
        assert err["error"]["code"] == "conversation_already_has_active_response"
        done = await client.wait_for("response.done", timeout=60)
        assert done["response"]["status"] == "completed"


async def test_audio_flood_drops_oldest_and_reports_once(engines):
    eng = engines_with(
        engines,
        server=engines.settings.server.model_copy(
            update={"input_queue_ms": 500, "max_message_bytes": 4 << 20}
        ),
    )
    with LoopbackServer(create_app(eng.settings, eng)) as srv:
        async with connect(srv.ws_url) as client:
            await client.wait_for("session.created")
            noise = np.zeros(24000 * 3, np.int16)  # 3 s at once: 2.5 s over the bound
            for _ in range(3):
                await client.send(
                    {"type": "input_audio_buffer.append", "audio": b64(noise.tobytes())}
                )
            err = await client.wait_for("error", timeout=10)
            assert err["error"]["code"] == "input_audio_buffer_overflow"
            await client.send(user_text("Are you still there?"))
            await client.send({"type": "response.create"})
            await client.wait_for("response.done", timeout=60)
            errors = client.of("error")
    assert len(errors) == 1, errors


async def test_session_cap_refuses_with_a_close_code(engines):
    eng = engines_with(
        engines, server=engines.settings.server.model_copy(update={"max_sessions": 1})
    )
    with LoopbackServer(create_app(eng.settings, eng)) as srv:
        async with connect(srv.ws_url) as first:
            await first.wait_for("session.created")
            async with websockets.connect(srv.ws_url) as second:
                msg = json.loads(await second.recv())
                assert msg["type"] == "error"
                assert msg["error"]["code"] == "session_limit_reached"
                with pytest.raises(websockets.ConnectionClosed) as closed:
                    await second.recv()
                assert closed.value.rcvd.code == 1013
                assert "busy" in closed.value.rcvd.reason


async def test_official_openai_sdk_holds_a_spoken_conversation(server):
    from openai import AsyncOpenAI

    c = clip("a09")
    pcm = clip_pcm24(c.path, pad_s=1.5)
    client = AsyncOpenAI(api_key="sk-local", websocket_base_url=f"ws://127.0.0.1:{server.port}/v1")
    types: list[str] = []
    async with client.realtime.connect(model="jarvis") as conn:
        await conn.session.update(session={"type": "realtime", "output_modalities": ["audio"]})

        async def speak() -> None:
            for i in range(0, len(pcm), 960):
                await conn.input_audio_buffer.append(audio=b64(pcm[i : i + 960].tobytes()))
                await asyncio.sleep(0.04)

        talk = asyncio.create_task(speak())
        transcript, audio_bytes = "", 0
        async for event in conn:
            types.append(event.type)
            if event.type == "conversation.item.input_audio_transcription.completed":
                transcript = event.transcript
            elif event.type == "response.output_audio.delta":
                audio_bytes += len(base64.b64decode(event.delta))
            elif event.type == "response.done":
                status = event.response.status
                break
        await talk
    assert types[0] == "session.created"
    assert "session.updated" in types and "input_audio_buffer.speech_stopped" in types
    assert wer(c.transcript, transcript) < 0.25
    assert status == "completed"
    assert audio_bytes > 24000  # more than half a second of speech
