"""Limits that cannot be jammed, and the holes found when tried as an attacker would: each
test here failed before its fix."""

from __future__ import annotations

import asyncio
import io
import re
from collections.abc import Iterator

import httpx
import numpy as np
import pytest
import soundfile as sf
from aiortc import RTCPeerConnection
from aiortc.mediastreams import AudioStreamTrack, VideoStreamTrack
from pydantic import SecretStr

from zenglow.app import create_app
from zenglow.engines.loader import Engines
from zenglow.settings import AuthSettings, LimitSettings

from .conftest import engines_with
from .fakes import ScriptedChat
from .server import PUSH_TO_TALK, LoopbackServer, append_event, connect, user_text
from .webrtc_peer import Peer

KEY_A = "limits-key-a-0123456789"
KEY_B = "limits-key-b-0123456789"


def base(srv: LoopbackServer) -> str:
    return f"http://127.0.0.1:{srv.port}"


async def until(cond, within: float, what: str) -> None:  # type: ignore[no-untyped-def]
    loop = asyncio.get_running_loop()
    deadline = loop.time() + within
    while not cond():
        if loop.time() > deadline:
            raise TimeoutError(f"waited {within} s for {what}")
        await asyncio.sleep(0.05)


@pytest.fixture(scope="module")
def tight(engines: Engines) -> Iterator[LoopbackServer]:
    """Two keys; small limits; a scripted chat that answers slowly enough to overlap."""
    eng = engines_with(
        engines,
        auth=AuthSettings(api_keys=[SecretStr(KEY_A), SecretStr(KEY_B)]),
        limits=LimitSettings(
            sessions_per_client=2,
            events_per_s=30,
            commits_per_s=2,
            rest_in_flight=1,
            max_items=12,
            max_item_chars=10_000,
            audio_burst_s=3,
        ),
        server=engines.settings.server.model_copy(update={"idle_timeout_s": 30.0}),
    )
    words = [w + " " for w in "Fine, thank you for asking.".split()]
    eng.chats = {name: ScriptedChat(words, delay_s=0.2) for name in eng.settings.personas}
    with LoopbackServer(create_app(eng.settings, eng)) as srv:
        yield srv


def auth(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}


def refusals(srv: LoopbackServer, where: str, code: str) -> float:
    """zenglow_refusals_total{where, code} as the server's /metrics tells it."""
    text = httpx.get(f"{base(srv)}/metrics", headers=auth(KEY_A)).text
    line = f'zenglow_refusals_total{{code="{code}",where="{where}"}} '
    return sum(float(x.removeprefix(line)) for x in text.splitlines() if x.startswith(line))


async def text_turn(client, text: str = "How are you?") -> dict:  # type: ignore[no-untyped-def]
    seen = len(client.events)
    await client.send(user_text(text))
    await client.send({"type": "response.create", "response": {"output_modalities": ["text"]}})
    return await client.wait_for("response.done", after=seen, timeout=60)


async def test_one_client_cannot_take_every_session(tight: LoopbackServer) -> None:
    a1 = connect(tight.ws_url, additional_headers=auth(KEY_A))
    a2 = connect(tight.ws_url, additional_headers=auth(KEY_A))
    async with a1 as c1, a2 as c2:
        await c1.wait_for("session.created")
        await c2.wait_for("session.created")
        async with connect(tight.ws_url, additional_headers=auth(KEY_A)) as c3:
            refused = await c3.wait_for("error")
            assert refused["error"]["code"] == "rate_limit_exceeded"
            assert "sessions_per_client" in refused["error"]["message"]
        async with connect(tight.ws_url, additional_headers=auth(KEY_B)) as other:
            await other.wait_for("session.created")  # another key is not locked out
    await until(lambda: tight.live()[1] == 0, 10, "the sessions to be freed")


async def test_a_flood_of_events_is_dropped_with_one_error_and_the_session_goes_on(
    tight: LoopbackServer,
) -> None:
    async with connect(tight.ws_url, additional_headers=auth(KEY_A)) as client:
        await client.wait_for("session.created")
        for i in range(300):
            await client.send({"type": "input_audio_buffer.clear", "event_id": f"e{i}"})
        await client.wait_for("error", where=lambda e: e["error"]["code"] == "rate_limit_exceeded")
        await asyncio.sleep(0.3)
        limited = [e for e in client.of("error") if e["error"]["code"] == "rate_limit_exceeded"]
        assert 1 <= len(limited) <= 3  # reported, not echoed once per dropped event
        cleared = len(client.of("input_audio_buffer.cleared"))
        assert 30 <= cleared < 300
        assert refusals(tight, "events", "rate_limit_exceeded") >= 300 - cleared  # all counted
        await asyncio.sleep(2.5)  # the budget refills
        done = await text_turn(client)
        assert done["response"]["status"] == "completed"


async def test_audio_faster_than_real_time_is_refused(tight: LoopbackServer) -> None:
    async with connect(tight.ws_url, additional_headers=auth(KEY_A)) as client:
        await client.wait_for("session.created")
        second = np.zeros(24000, np.int16)
        for _ in range(8):  # 8 s of audio at once; the burst is 3 s at 4x real time
            await client.send(append_event(second))
        error = await client.wait_for(
            "error", where=lambda e: e["error"]["code"] == "rate_limit_exceeded"
        )
        assert "real time" in error["error"]["message"]
        await asyncio.sleep(1.5)
        assert (await text_turn(client))["response"]["status"] == "completed"


async def test_commits_and_responses_are_metered(tight: LoopbackServer) -> None:
    async with connect(tight.ws_url, additional_headers=auth(KEY_A)) as client:
        await client.wait_for("session.created")
        for _ in range(10):
            await client.send({"type": "response.cancel"})
            await client.send({"type": "input_audio_buffer.commit"})
        error = await client.wait_for(
            "error", where=lambda e: e["error"]["code"] == "rate_limit_exceeded"
        )
        assert "commits" in error["error"]["message"]


async def test_items_have_a_count_and_a_size_cap(tight: LoopbackServer) -> None:
    async with connect(tight.ws_url, additional_headers=auth(KEY_A)) as client:
        await client.wait_for("session.created")
        for i in range(12):
            await client.send(user_text(f"note {i}"))
        await client.wait_for(
            "conversation.item.added", where=lambda e: e["item"]["content"][0]["text"] == "note 11"
        )
        await client.send(user_text("one too many", "over"))
        error = await client.wait_for("error")
        assert error["error"]["code"] == "conversation_too_large"
        assert error["error"]["event_id"] == "over"
    async with connect(tight.ws_url, additional_headers=auth(KEY_A)) as client:
        await client.wait_for("session.created")
        await client.send(user_text("x" * 6000))
        await client.send(user_text("y" * 6000, "big"))
        error = await client.wait_for("error")
        assert error["error"]["code"] == "conversation_too_large"
        assert "max_item_chars" in error["error"]["message"]


def test_rest_requests_in_flight_per_client(tight: LoopbackServer) -> None:
    async def go() -> list[int]:
        async with httpx.AsyncClient(base_url=base(tight), timeout=60) as h:
            slow = h.post("/jarvis/think", json={"prompt": "hi"}, headers=auth(KEY_A))
            task = asyncio.ensure_future(slow)
            await asyncio.sleep(0.3)  # the first is streaming its reply
            second = await h.get("/v1/personas", headers=auth(KEY_A))
            other = await h.get("/v1/personas", headers=auth(KEY_B))
            first = await task
            return [first.status_code, second.status_code, other.status_code]

    before = refusals(tight, "http", "rate_limit_exceeded")
    assert asyncio.run(go()) == [200, 429, 200]
    assert refusals(tight, "http", "rate_limit_exceeded") == before + 1
    unauthorized = refusals(tight, "http", "missing_api_key")
    assert httpx.get(f"{base(tight)}/v1/personas").status_code == 401
    assert refusals(tight, "http", "missing_api_key") == unauthorized + 1


async def test_bad_turn_detection_values_are_errors_not_a_dead_session(
    tight: LoopbackServer,
) -> None:
    async with connect(tight.ws_url, additional_headers=auth(KEY_A)) as client:
        await client.wait_for("session.created")
        for i, td in enumerate(
            [
                {"type": "server_vad", "threshold": 0},
                {"type": "server_vad", "silence_duration_ms": 0},
            ]
        ):
            update = {"type": "session.update", "event_id": f"u{i}"}
            update["session"] = {"type": "realtime", "audio": {"input": {"turn_detection": td}}}
            await client.send(update)
            error = await client.wait_for(
                "error", where=lambda e, i=i: e["error"]["event_id"] == f"u{i}"
            )
            assert error["error"]["code"] == "invalid_value"
        assert (await text_turn(client))["response"]["status"] == "completed"


async def test_idle_sessions_are_closed(engines: Engines) -> None:
    eng = engines_with(
        engines, server=engines.settings.server.model_copy(update={"idle_timeout_s": 1.0})
    )
    with LoopbackServer(create_app(eng.settings, eng)) as srv:
        async with connect(srv.ws_url) as client:
            await client.wait_for("session.created")
            error = await client.wait_for("error", timeout=10)
            assert error["error"]["code"] == "idle_timeout"
            await until(lambda: srv.live()[1] == 0, 10, "the idle session to close")


def test_listen_refuses_hours_of_audio_before_decoding_them(server: LoopbackServer) -> None:
    """A small FLAC of silence that would decode to about 52 hours (33 GiB as float32)."""
    buf = io.BytesIO()
    rate = 8000
    with sf.SoundFile(buf, "w", samplerate=rate, channels=1, format="FLAC") as f:
        block = np.zeros(rate * 600, np.int16)
        for _ in range(6 * 52):
            f.write(block)
    data = buf.getvalue()
    assert len(data) < 25 << 20
    r = httpx.post(
        f"{base(server)}/jarvis/listen", files={"file": ("silence.flac", data)}, timeout=120
    )
    assert r.status_code == 413 and "max_audio_s" in r.json()["detail"]


def test_call_bodies_are_capped_before_they_are_read(server: LoopbackServer) -> None:
    big = b"v=0\r\n" + b"a=x\r\n" * 400_000  # 2.4 MB, over max_message_bytes
    r = httpx.post(
        f"{base(server)}/v1/realtime/calls",
        content=big,
        headers={"content-type": "application/sdp"},
        timeout=60,
    )
    assert r.status_code == 413 and r.json()["error"]["code"] == "request_too_large"

    def chunks() -> Iterator[bytes]:  # no Content-Length: counted while read
        yield b"v=0\r\n"
        for _ in range(400):
            yield b"a=x\r\n" * 1000

    r = httpx.post(
        f"{base(server)}/v1/realtime/calls",
        content=chunks(),
        headers={"content-type": "application/sdp"},
        timeout=60,
    )
    assert r.status_code == 413
    r = httpx.post(  # a file-type sdp part of a multipart offer
        f"{base(server)}/v1/realtime/calls",
        files={"sdp": ("offer.sdp", big, "application/sdp")},
        timeout=60,
    )
    assert r.status_code == 413
    assert server.live() == (0, 0)


async def offer_with(kinds: tuple[str, ...]) -> str:
    pc = RTCPeerConnection()
    if "audio" in kinds:
        pc.addTrack(AudioStreamTrack())
    if "video" in kinds:
        pc.addTrack(VideoStreamTrack())
    pc.createDataChannel("oai-events")
    await pc.setLocalDescription(await pc.createOffer())
    sdp = pc.localDescription.sdp
    await pc.close()
    return sdp


def break_codecs(sdp: str, kind: str) -> str:
    out, inside = [], False
    for line in sdp.split("\r\n"):
        if line.startswith("m="):
            inside = line.startswith(f"m={kind}")
        if inside and line.startswith("a=rtpmap:"):
            line = re.sub(r"a=rtpmap:(\d+) \S+", r"a=rtpmap:\1 FOO/90000", line)
        out.append(line)
    return "\r\n".join(out)


async def test_unanswerable_offers_never_hold_a_slot(server: LoopbackServer) -> None:
    unknown_audio = break_codecs(await offer_with(("audio",)), "audio")
    unknown_video = break_codecs(await offer_with(("audio", "video")), "video")
    async with httpx.AsyncClient(base_url=base(server), timeout=60) as h:
        for _ in range(12):  # more than max_calls
            for sdp, code in ((unknown_audio, "no_common_codec"), (unknown_video, "invalid_sdp")):
                r = await h.post(
                    "/v1/realtime/calls", content=sdp, headers={"content-type": "application/sdp"}
                )
                assert r.status_code == 400 and r.json()["error"]["code"] == code, r.text
        assert (await h.get("/ready")).status_code == 200
    assert server.live() == (0, 0)
    peer = Peer()
    try:
        assert (await peer.call(base(server))).status_code == 201
        await peer.wait_for("session.created", timeout=30)
        await peer.hang_up(base(server))
    finally:
        await peer.close()
    await until(lambda: server.live() == (0, 0), 30, "the call to be freed")


async def test_concurrent_offers_cannot_pass_the_cap_together(engines: Engines) -> None:
    eng = engines_with(engines, webrtc=engines.settings.webrtc.model_copy(update={"max_calls": 2}))
    with LoopbackServer(create_app(eng.settings, eng)) as srv:
        peers = [Peer() for _ in range(4)]
        try:
            answers = await asyncio.gather(*(p.call(base(srv)) for p in peers))
            codes = sorted(r.status_code for r in answers)
            assert codes == [201, 201, 429, 429]
        finally:
            for p in peers:
                await p.close()


async def test_a_failing_transcriber_fails_one_turn_not_the_session(
    server: LoopbackServer, engines: Engines, monkeypatch: pytest.MonkeyPatch
) -> None:
    def out_of_memory(*args: object, **kwargs: object) -> None:
        raise RuntimeError("CUDA failed with error out of memory")

    async with connect(server.ws_url) as client:
        await client.wait_for("session.created")
        await client.send(PUSH_TO_TALK)
        await client.wait_for("session.updated")
        monkeypatch.setattr(engines.stt, "transcribe_sync", out_of_memory)
        await client.send(append_event(np.zeros(24000, np.int16)))
        await client.send({"type": "input_audio_buffer.commit"})
        failed = await client.wait_for("conversation.item.input_audio_transcription.failed")
        error = await client.wait_for("error")
        assert error["error"]["code"] == "transcription_failed"
        assert failed["item_id"] in error["error"]["message"]
        monkeypatch.undo()
        seen = len(client.events)
        await client.send(user_text("Still there?"))
        await client.send({"type": "response.create", "response": {"output_modalities": ["text"]}})
        done = await client.wait_for("response.done", after=seen, timeout=120)
        assert done["response"]["status"] in ("completed", "incomplete")


@pytest.fixture(scope="module")
def scripted(engines: Engines) -> Iterator[LoopbackServer]:
    eng = engines_with(engines)
    eng.chats = {name: ScriptedChat(["Noted."]) for name in eng.settings.personas}
    with LoopbackServer(create_app(eng.settings, eng)) as srv:
        yield srv


async def test_a_huge_typed_turn_is_routed_from_its_start_and_kept_whole(
    scripted: LoopbackServer,
) -> None:
    text = "Leonardo, " + "please read this. " * 50_000  # ~850 KB
    async with connect(scripted.ws_url) as client:
        await client.wait_for("session.created")
        seen = len(client.events)
        await client.send(user_text(text, "huge"))
        await client.send({"type": "response.create", "response": {"output_modalities": ["text"]}})
        done = await client.wait_for("response.done", after=seen, timeout=60)
        assert done["response"]["status"] == "completed"
        persona = client.of("zenglow.persona")[-1]
        assert persona["persona"] == "leonardo"  # the address at the start was heard
    chat = scripted.server.config.app.state.runtime.engines.chats["leonardo"]
    said = chat.calls[-1][-1]["content"]
    assert said.startswith("please read this.") and len(said) > 800_000


def test_ready_says_why_it_cannot_serve_and_recovers(
    server: LoopbackServer, engines: Engines, monkeypatch: pytest.MonkeyPatch
) -> None:
    url = f"{base(server)}/ready"
    assert httpx.get(url).status_code == 200
    pools = [engines.chats[name] for name in engines.settings.personas]
    endpoints = [e for pool in pools for e in pool.endpoints]  # type: ignore[attr-defined]
    for e in endpoints:
        monkeypatch.setattr(e, "healthy", False)
    r = httpx.get(url)
    assert r.status_code == 503 and "no chat endpoint is up" in r.json()["problems"][0]
    monkeypatch.undo()
    assert httpx.get(url).status_code == 200
    monkeypatch.setattr(type(engines.stt), "busy_for", property(lambda self: 500.0))
    r = httpx.get(url)
    assert r.status_code == 503 and "speech-to-text worker" in r.json()["problems"][0]
    monkeypatch.undo()
    assert httpx.get(url).status_code == 200
