"""WebRTC calls: the pure pieces first, then an aiortc peer against a real server on loopback."""

from __future__ import annotations

import asyncio
import json
import math
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import av
import numpy as np
import pytest
from aiortc.mediastreams import MediaStreamError

from zenglow.app import create_app
from zenglow.bench import runner as bench
from zenglow.bench.client import Tracker
from zenglow.engines.base import VISEMES
from zenglow.transports.webrtc.media import FRAME, MicDecoder, PcmTrack, PlayoutBuffer
from zenglow.transports.webrtc.offer import OfferError, check_sdp, offer_from_parts, session_patch

from .conftest import engines_with
from .fakes import FakeClock
from .server import LoopbackServer, clip_pcm24, connect, user_text
from .speech import clip, wer
from .test_realtime_codec import SERVER_EVENT
from .webrtc_peer import Peer, rms, speech_frames

MINIMAL_SDP = "v=0\r\no=- 1 1 IN IP4 0.0.0.0\r\ns=-\r\nt=0 0\r\n"


def tone(ms: float, rate: int = 24000, hz: float = 440.0, level: float = 0.5) -> np.ndarray:
    t = np.arange(int(rate * ms / 1000)) / rate
    return np.round(level * 32767 * np.sin(2 * math.pi * hz * t)).astype(np.int16)


# --- pure pieces ------------------------------------------------------------------------


def test_playout_buffer_gives_blocks_and_says_where_segments_start() -> None:
    buf = PlayoutBuffer(capacity=1000)
    buf.push(np.full(300, 1, np.int16), "a")
    buf.push(np.full(100, 2, np.int16), "b")
    buf.push(np.zeros(0, np.int16), "empty")  # ignored
    block, starts = buf.take(250)
    assert starts == [("a", 0)] and (block == 1).all() and buf.queued == 150
    block, starts = buf.take(250)
    assert starts == [("b", 50)]
    assert (block[:50] == 1).all() and (block[50:150] == 2).all() and (block[150:] == 0).all()
    assert buf.queued == 0
    assert buf.take(10)[1] == []


def test_playout_buffer_drops_the_oldest_past_its_capacity_and_flushes_by_tag() -> None:
    buf = PlayoutBuffer(capacity=500)
    buf.push(np.full(400, 1, np.int16), "old")
    buf.push(np.full(300, 2, np.int16), "new")
    assert (buf.queued, buf.dropped) == (500, 200)
    block, starts = buf.take(500)
    assert starts == [("new", 200)]  # the cut segment reports no start
    assert (block[:200] == 1).all() and (block[200:] == 2).all()
    buf.push(np.full(100, 3, np.int16), "x")
    buf.push(np.full(100, 4, np.int16), "y")
    assert buf.flush(lambda tag: tag == "x") == 100
    assert buf.take(100)[1] == [("y", 0)]
    buf.push(np.full(100, 5, np.int16), "z")
    assert buf.flush() == 100 and buf.queued == 0


def test_offers_are_checked_before_anything_is_built() -> None:
    audio = MINIMAL_SDP + "m=audio 9 UDP/TLS/RTP/SAVPF 111\r\na=rtpmap:111 opus/48000/2\r\n"
    cases: list[tuple[Callable[[], object], str]] = [
        (lambda: check_sdp("hello"), "invalid_sdp"),
        (lambda: check_sdp("  "), "missing_offer"),
        (lambda: check_sdp("v=0\r\nm=audio x"), "invalid_sdp"),
        (lambda: check_sdp(MINIMAL_SDP + "m=application 9 UDP/DTLS/SCTP webrtc-datachannel\r\n"),
         "no_audio_in_offer"),
        (lambda: offer_from_parts(None, None, None), "missing_offer"),
        (lambda: offer_from_parts(audio, "{oops", None), "invalid_session"),
        (lambda: offer_from_parts(audio, "[1]", None), "invalid_session"),
        (lambda: session_patch({"audio": {"output": {"speed": 9}}}, 1 << 20), "invalid_session"),
        (lambda: session_patch({"type": "transcription"}, 1 << 20), "invalid_session"),
    ]  # fmt: skip
    for make, code in cases:
        with pytest.raises(OfferError) as err:
            make()
        assert err.value.code == code and err.value.status == 400, err.value.message
    offer = offer_from_parts(audio.encode(), '{"model": "leonardo", "instructions": "Hi"}', None)
    assert offer.persona == "leonardo" and offer.session == {"instructions": "Hi"}
    query_wins = offer_from_parts(audio, {"model": "x"}, "jarvis")
    assert query_wins.persona == "jarvis" and query_wins.session == {"model": "x"}
    patch = session_patch(query_wins.session, 1 << 20)
    assert patch is not None and patch.ignored == ("session.model",)  # not honoured
    patch = session_patch({"type": "realtime", "instructions": "Be brief."}, 1 << 20)
    assert patch is not None and patch.instructions == "Be brief."


def test_bench_webrtc_pieces() -> None:
    ext = "extensions=zenglow"
    assert bench.calls_url("127.0.0.1:8000") == f"http://127.0.0.1:8000/v1/realtime/calls?{ext}"
    assert bench.calls_url("https://h:1/") == f"https://h:1/v1/realtime/calls?{ext}"
    assert bench.calls_url("ws://h:1/v1/realtime?model=leonardo") == (
        f"http://h:1/v1/realtime/calls?model=leonardo&{ext}"
    )
    track = Tracker()
    track.on_remote_audio(480, 1.0)  # no reply yet: not counted
    track.on_event({"type": "response.created", "response": {"id": "r1"}}, 2.0)
    track.on_remote_audio(480, 2.5)
    track.on_remote_audio(480, 2.52)
    reply = track.last_reply()
    assert reply is not None and reply.first_audio_at == 2.5 and reply.audio_bytes == 1920


def test_mic_decoder_makes_24k_mono_from_48k_stereo_frames() -> None:
    left = tone(200, 48000, 440.0, 0.4)
    decoder = MicDecoder()
    out = []
    for i in range(0, len(left), 960):
        part = left[i : i + 960]
        frame = av.AudioFrame.from_ndarray(
            np.stack([part, part], axis=1).reshape(1, -1), format="s16", layout="stereo"
        )
        frame.sample_rate = 48000
        out.append(decoder.feed(frame))
    pcm = np.concatenate(out)
    assert pcm.dtype == np.int16 and 4000 <= len(pcm) <= 4800  # 200 ms, less the filter delay
    assert rms(pcm[1000:]) == pytest.approx(0.4 / math.sqrt(2), rel=0.05)
    planar = av.AudioFrame.from_ndarray(np.zeros((2, 480), np.float32), format="fltp",
                                        layout="stereo")  # fmt: skip
    planar.sample_rate = 24000
    assert len(MicDecoder().feed(planar)) == 480


async def test_pcm_track_paces_frames_and_says_where_audio_plays() -> None:
    clock = FakeClock()
    starts: list[tuple[object, int]] = []
    track = PcmTrack(on_start=lambda tag, at: starts.append((tag, at)), clock=clock,
                     sleep=clock.sleep)  # fmt: skip
    t0 = clock.now()
    frames = [await track.recv() for _ in range(3)]
    track.push(tone(100), "chunk")
    frames += [await track.recv() for _ in range(17)]
    assert clock.now() - t0 == pytest.approx(19 * 0.020)  # one frame per 20 ms, the first at once
    assert [f.pts for f in frames] == [i * FRAME for i in range(20)]
    assert all(f.sample_rate == 48000 and f.samples == FRAME for f in frames)
    pcm = np.concatenate([f.to_ndarray()[0] for f in frames])
    ((tag, at),) = starts
    onset = int(np.argmax(np.abs(pcm) > 0.1 * 32767))
    assert tag == "chunk" and at >= 3 * FRAME and abs(onset - at) <= 24  # within 0.5 ms
    assert rms(pcm[at + 480 : at + 4000]) == pytest.approx(0.5 / math.sqrt(2), rel=0.05)


async def test_pcm_track_flush_silences_the_next_frame_and_keeps_positions() -> None:
    clock = FakeClock()
    starts: list[tuple[object, int]] = []
    drained: list[bool] = []
    track = PcmTrack(
        on_start=lambda tag, at: starts.append((tag, at)),
        on_drain=lambda: drained.append(True),
        clock=clock,
        sleep=clock.sleep,
    )
    track.push(tone(2000), "long")
    loud = [await track.recv() for _ in range(5)]
    assert rms(loud[-1].to_ndarray()[0]) > 0.2
    assert track.flush() > 0 and not drained
    after = [await track.recv() for _ in range(5)]
    assert all(not f.to_ndarray().any() for f in after)  # silent from the very next frame
    track.push(tone(100), "next")
    frames = [await track.recv() for _ in range(10)]
    pcm = np.concatenate([f.to_ndarray()[0] for f in frames])
    at = starts[-1][1] - frames[0].pts
    onset = int(np.argmax(np.abs(pcm) > 0.1 * 32767))
    assert starts[-1][0] == "next" and abs(onset - at) <= 24
    assert drained == [True]
    track.stop()
    with pytest.raises(MediaStreamError):
        await track.recv()


async def test_pcm_track_after_a_stall_holds_producers_back_instead_of_cutting_audio() -> None:
    clock = FakeClock()
    track = PcmTrack(clock=clock, sleep=clock.sleep, capacity_ms=3000)
    await track.recv()
    clock.t += 1.0  # the loop stalled: the track drops the lost second and keeps the audio
    track.push(tone(900), "a")
    waiting = asyncio.create_task(track.wait_room(500))
    await asyncio.sleep(0)
    assert not waiting.done()  # 900 ms queued: the producer waits
    frames = [await track.recv() for _ in range(21)]  # 420 ms go out
    await asyncio.sleep(0)
    assert waiting.done() and track.buffer.queued <= 24 * 500
    assert frames[0].pts == FRAME and track.buffer.dropped == 0
    track.push(tone(900), "b")
    held = asyncio.create_task(track.wait_room(500))
    await asyncio.sleep(0)
    track.stop()  # a call that ends lets its producer go
    await asyncio.wait_for(held, 1)


# --- a real server ----------------------------------------------------------------------


def base_url(srv: LoopbackServer) -> str:
    return f"http://127.0.0.1:{srv.port}"


async def until(cond: Callable[[], bool], within: float, what: str) -> None:
    deadline = time.monotonic() + within
    while not cond():
        if time.monotonic() > deadline:
            raise TimeoutError(what)
        await asyncio.sleep(0.05)


def speech_ms(frames: list) -> float:
    return 20.0 * len(frames)


async def test_spoken_turn_over_webrtc(server) -> None:
    c = clip("a04")
    peer = Peer()
    try:
        resp = await peer.call(base_url(server))
        assert resp.status_code == 201, resp.text
        assert resp.headers["content-type"].startswith("application/sdp")
        assert resp.headers["location"].startswith("/v1/realtime/calls/rtc_")
        assert "m=audio" in resp.text and "a=candidate" in resp.text
        await peer.wait_for("session.created", timeout=30)
        peer.mic.push(clip_pcm24(c.path, pad_s=2.0))
        done = await peer.wait_for("response.done", timeout=120)
        rid = done["response"]["id"]
        stopped = await peer.wait_for(
            "output_audio_buffer.stopped", timeout=30, where=lambda e: e["response_id"] == rid
        )
        t_stop = peer.time_of(stopped)
        await until(lambda: peer.heard[-1].at > t_stop + 0.6, 10, "audio after the reply")
        origin = peer.pc.getReceivers()[0]._RTCRtpReceiver__timestamp_mapper._origin  # type: ignore[attr-defined]
        assert (await peer.hang_up(base_url(server))).json()["status"] == "closed"
    finally:
        await peer.close()
    assert server.live() == (0, 0)

    transcript = peer.of("conversation.item.input_audio_transcription.completed")[0]
    assert wer(c.transcript, transcript["transcript"]) < 0.3
    assert done["response"]["status"] == "completed"
    assert not peer.of("response.output_audio.delta")  # the voice travels on the track
    types = [e["type"] for e in peer.events]
    assert types.index("output_audio_buffer.started") < types.index("output_audio_buffer.stopped")

    cues = peer.of("zenglow.visemes")
    assert cues and all(e["response_id"] == rid for e in cues)
    for e in cues:
        assert all(q["viseme"] in VISEMES for q in e["cues"])
        # rtp_timestamp names the RTP timestamp the browser sees for the chunk's first sample
        assert abs((e["rtp_timestamp"] - origin - 48 * e["track_time_ms"] + 2**31) % 2**32
                   - 2**31) <= 5  # fmt: skip
    track_ms = [e["track_time_ms"] for e in cues]
    offsets = [e["audio_offset_ms"] for e in cues]
    assert track_ms == sorted(track_ms) and offsets == sorted(offsets)
    # Track time moves with response time; it can only run ahead of it, by silence on the track
    # where the next sentence was not synthesized in time (a busy 2-core machine), never fall
    # behind it (audio lost or overlapped).
    lead = [round(t - o) for t, o in zip(track_ms, offsets, strict=True)]
    assert lead == sorted(lead), lead

    # What the peer heard lines up with the cues: speech starts at the first mouth shape
    # and ends with the last, on the track's clock (pts counts 48 kHz samples from frame 0).
    voiced = [q for e in cues for q in e["cues"] if q["viseme"] != "sil"]
    first_cue = (
        cues[0]["track_time_ms"]
        + next(q for q in cues[0]["cues"] if q["viseme"] != "sil")["start_ms"]
    )
    last = cues[-1]
    last_cue = (
        last["track_time_ms"] + [q for q in last["cues"] if q["viseme"] != "sil"][-1]["end_ms"]
    )
    spoken = speech_frames(peer)
    assert voiced and spoken
    # The end is found at the idle level: a faint final consonant is still speech.
    heard_start, heard_end = spoken[0].pts / 48, speech_frames(peer, 0.001)[-1].pts / 48 + 20
    assert abs(heard_start - first_cue) < 80, (heard_start, first_cue)
    # A reply's last phoneme is often a stop ("it.", "that."): its closure is silent and its
    # release faint, so the sound may fade up to ~200 ms before the last mouth shape ends
    # (80 ms in Piper's own output, more after Opus); it must not run on past it.
    assert -200 < heard_end - last_cue < 120, (heard_end, last_cue)
    assert speech_ms(spoken) > max(200.0, 0.6 * (last_cue - first_cue))  # real speech, not clicks
    before = [h for h in peer.heard if h.pts / 48 < cues[0]["track_time_ms"] - 40]
    assert before and max(rms(h.pcm) for h in before[-25:]) < 0.001  # silent while idle


async def test_a_microphone_that_stops_sending_mid_turn_still_ends_the_turn(server) -> None:
    c = clip("a04")
    peer = Peer()
    try:
        assert (await peer.call(base_url(server))).status_code == 201
        await peer.wait_for("session.created", timeout=30)
        peer.mic.push(clip_pcm24(c.path))
        await peer.wait_for("input_audio_buffer.speech_started", timeout=30)
        await asyncio.sleep(c.duration - 1.2)  # the clip's last words are still to come
        peer.mic.stop()  # no more frames: no silence will follow either
        stopped = await peer.wait_for("input_audio_buffer.speech_stopped", timeout=10)
        done = await peer.wait_for(
            "conversation.item.input_audio_transcription.completed", timeout=60
        )
    finally:
        await peer.close()
    assert stopped["item_id"] == done["item_id"]
    assert wer(c.transcript, done["transcript"]) < 0.5  # most of it, cut before its end


async def test_barge_in_silences_the_track_at_once(long_server) -> None:
    url = base_url(long_server)
    peer = Peer()
    try:
        assert (await peer.call(url)).status_code == 201
        await peer.wait_for("session.created", timeout=30)
        peer.send(user_text("Tell me a story."))
        peer.send({"type": "response.create"})
        created = await peer.wait_for("response.created", timeout=60)
        rid = created["response"]["id"]
        await until(lambda: speech_ms(speech_frames(peer)) > 2000, 60, "2 s of the reply")
        peer.mic.push(clip_pcm24(clip("a04").path, pad_s=1.5))  # the user talks over it
        started = await peer.wait_for("input_audio_buffer.speech_started", timeout=30)
        t0 = peer.time_of(started)
        done = await peer.wait_for(
            "response.done", timeout=30, where=lambda e: e["response"]["id"] == rid
        )
        await until(lambda: peer.heard[-1].at > t0 + 2.0, 10, "audio after the barge-in")
        cleared = peer.of("output_audio_buffer.cleared")
        await peer.hang_up(url)
    finally:
        await peer.close()
    assert done["response"]["status"] == "cancelled"
    assert done["response"]["status_details"]["reason"] == "turn_detected"
    assert [e["response_id"] for e in cleared] == [rid]
    assert rms(peer.audio(t0 - 2.0, t0 - 1.0)) > 0.01  # the reply was playing
    # Flushed before `speech_started` went out: only frames already on the wire may follow.
    assert rms(peer.audio(t0 + 0.5, t0 + 2.0)) < 0.001
    loud = [h.at - t0 for h in peer.heard if h.at > t0 and rms(h.pcm) > 0.003]
    assert not loud or max(loud) < 0.5, max(loud)
    assert long_server.live() == (0, 0)


async def test_calls_are_freed_after_many_calls(server) -> None:
    url = base_url(server)
    for i in range(8):
        peer = Peer()
        try:
            assert (await peer.call(url)).status_code == 201
            await peer.wait_for("session.created", timeout=30)
            assert server.live() == (1, 1)
            if i % 2:  # half hang up, half just leave
                assert (await peer.hang_up(url)).status_code == 200
        finally:
            await peer.close()
        await until(lambda: server.live() == (0, 0), 30, f"call {i} to be freed")


async def test_bad_offers_get_a_clear_400(server) -> None:
    import httpx

    url = base_url(server)
    sdp = {"headers": {"content-type": "application/sdp"}}
    async with httpx.AsyncClient(base_url=url, timeout=30) as http:
        calls = "/v1/realtime/calls"
        no_ice = MINIMAL_SDP + "m=audio 9 UDP/TLS/RTP/SAVPF 111\r\na=rtpmap:111 opus/48000/2\r\n"
        expected = [
            (await http.post(calls, content="hello, server", **sdp), 400, "invalid_sdp"),
            (await http.post(calls, content="", **sdp), 400, "missing_offer"),
            (await http.post(calls, json={"session": {}}), 400, "missing_offer"),
            (await http.post(calls, content="{oops", headers={"content-type": "application/json"}),
             400, "invalid_json"),
            (await http.post(calls, content=no_ice, **sdp), 400, "invalid_sdp"),
            (await http.post(calls, content=b"\x00", headers={"content-type": "image/png"}),
             415, "unsupported_media_type"),
            (await http.delete(f"{calls}/rtc_nope"), 404, "call_not_found"),
        ]  # fmt: skip
    for resp, status, code in expected:
        assert resp.status_code == status, resp.text
        assert resp.json()["error"]["code"] == code, resp.text
        assert resp.json()["error"]["message"]
    peer = Peer(audio=False)
    try:
        resp = await peer.call(url)
        assert resp.status_code == 400 and resp.json()["error"]["code"] == "no_audio_in_offer"
    finally:
        await peer.close()
    peer = Peer()
    try:
        resp = await peer.call(
            url, json=lambda s: {"sdp": s, "session": {"audio": {"output": {"speed": 9}}}}
        )
        assert resp.status_code == 400 and resp.json()["error"]["code"] == "invalid_session"
        assert "speed" in resp.json()["error"]["message"]
    finally:
        await peer.close()
    peer = Peer()
    try:
        resp = await peer.call(
            url, json=lambda s: {"sdp": s, "session": {"zenglow": {"persona": "nobody"}}}
        )
        assert resp.status_code == 400 and resp.json()["error"]["code"] == "invalid_session"
        assert "unknown persona 'nobody'" in resp.json()["error"]["message"]
    finally:
        await peer.close()
    assert server.live() == (0, 0)


async def test_a_stock_client_gets_ga_events_only(server) -> None:
    """Without `?extensions=zenglow`: a whole turn on the channel, with nothing of ours."""
    peer = Peer()
    try:
        offer = {"type": "realtime", "instructions": "Be brief.", "tracing": "auto"}
        resp = await peer.call(
            base_url(server), query="?model=jarvis", json=lambda s: {"sdp": s, "session": offer}
        )
        assert resp.status_code == 201, resp.text
        created = await peer.wait_for("session.created", timeout=30)
        assert (
            created["session"]["instructions"] == "Be brief."
            and "zenglow" not in created["session"]
        )
        peer.send(user_text("Hello there."))
        peer.send({"type": "response.create"})
        done = await peer.wait_for("response.done", timeout=90)
        rid = done["response"]["id"]
        await peer.wait_for(
            "output_audio_buffer.stopped", timeout=30, where=lambda e: e["response_id"] == rid
        )
    finally:
        await peer.close()
    assert done["response"]["status"] == "completed"
    assert peer.of("output_audio_buffer.started")
    assert not [e["type"] for e in peer.events if e["type"].startswith("zenglow.")]
    for event in peer.events:
        SERVER_EVENT.validate_python(event, strict=True)


async def test_session_from_the_offer_and_bad_channel_messages(server) -> None:
    url = base_url(server)
    session = {"type": "realtime", "instructions": "Be brief.", "zenglow": {"persona": "leonardo"},
               "tracing": "auto"}  # fmt: skip
    peer = Peer()
    try:
        resp = await peer.call(  # OpenAI's multipart form: an sdp part and a session part
            url, files=lambda s: {"sdp": (None, s), "session": (None, json.dumps(session))}
        )
        assert resp.status_code == 201, resp.text
        created = await peer.wait_for("session.created", timeout=30)
        assert created["session"]["instructions"] == "Be brief."
        assert created["session"]["zenglow"] == {
            "persona": "leonardo",
            "ignored": ["session.tracing"],
        }
        assert not peer.of("session.updated")
        peer.send("{not json")
        peer.send('["an", "array"]')
        peer.send({"type": "no.such.event", "event_id": "e1"})
        peer.send(user_text("Hello there.", "e2"))
        errors = [await peer.wait_for("error", timeout=10, after=i) for i in range(1)]
        added = await peer.wait_for("conversation.item.added", timeout=10)
        assert added["item"]["content"][0]["text"] == "Hello there."
        codes = [e["error"]["code"] for e in peer.of("error")]
        assert errors and codes == ["invalid_json", "invalid_event", "unknown_event_type"]
        assert peer.of("error")[2]["error"]["event_id"] == "e1"
        await peer.hang_up(url)
    finally:
        await peer.close()
    assert server.live() == (0, 0)


async def test_call_and_session_caps_refuse_with_429(engines) -> None:
    settings = engines.settings
    eng = engines_with(
        engines,
        server=settings.server.model_copy(update={"max_sessions": 2}),
        webrtc=settings.webrtc.model_copy(update={"max_calls": 2}),
    )
    with LoopbackServer(create_app(eng.settings, eng)) as srv:
        url = base_url(srv)
        peers = [Peer() for _ in range(4)]
        try:
            async with connect(srv.ws_url) as ws:  # a WebSocket session shares the cap
                await ws.wait_for("session.created")
                assert (await peers[0].call(url)).status_code == 201
                refused = await peers[1].call(url)
                assert refused.status_code == 429
                assert refused.json()["error"]["code"] == "session_limit_reached"
                assert "2/2 sessions" in refused.json()["error"]["message"]
            await until(lambda: srv.live()[1] == 1, 10, "the WebSocket session to end")
            assert (await peers[2].call(url)).status_code == 201
            refused = await peers[3].call(url)
            assert refused.status_code == 429 and "2/2 calls" in refused.json()["error"]["message"]
            await peers[0].hang_up(url)
            assert srv.live() == (1, 1)
            state = srv.server.config.app.state
        finally:
            for p in peers[:2]:
                await p.close()
    # the server hangs up the calls still live when it shuts down
    assert len(state.webrtc_calls) == 0 and not state.runtime.sessions
    for p in peers[2:]:
        await p.close()


def test_bench_over_webrtc(tmp_path: Path) -> None:
    clips = [clip("a09"), clip("a04")]
    rows = "".join(f"{c.path}\t{c.duration}\t{c.transcript}\n" for c in clips)
    (tmp_path / "manifest.tsv").write_text(f"file\tduration_s\ttranscript\n{rows}")
    out = tmp_path / "out.json"
    cmd = [sys.executable, "-m", "zenglow.cli", "bench", str(tmp_path), "--limit", "2"]
    done = subprocess.run(
        [*cmd, "--transport", "webrtc", "--json", str(out)],
        capture_output=True, text=True, timeout=500, check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stdout + done.stderr
    assert any(line.startswith("median") for line in done.stdout.splitlines()), done.stdout
    result = json.loads(out.read_text())
    assert result["count"] == result["measured"] == 2
    assert result["server"].endswith("/v1/realtime/calls?extensions=zenglow")
    for row, c in zip(result["clips"], clips, strict=True):
        assert isinstance(row["voice_to_voice_ms"], float) and row["voice_to_voice_ms"] > 0
        assert wer(c.transcript, row["transcript"]) < 0.5, row["transcript"]
        assert row["reply_chars"] > 0 and row["reply_audio_s"] > 0.3
        assert row["server"]["voice_to_voice_ms"] > 0
