"""The browser pages in a real headless Chromium, against a real server on loopback: the chat
page's conversation with a fake microphone, barge-in, the kiosk's reconnects, error states,
and the pure client modules."""

from __future__ import annotations

import base64
import time
from pathlib import Path
from urllib.parse import quote

from playwright.sync_api import Page

from zenglow.app import create_app

from .conftest import engines_with
from .server import LoopbackServer
from .speech import clip, wer
from .web_browser import (
    ARTIFACTS,
    SAMPLER,
    free_port,
    launch,
    mic_wav,
    open_page,
    page_with_scripted_mic,
    samples,
    say,
    scripted_mic,
    serving,
    silence_wav,
    url,
    wait_lips_at_rest,
    wait_state,
)
from .web_lips import SAMPLE_PLAYED, TAP_PLAYED, lip_lag
from .web_vrm import vrm_bytes


def shot_mid_word(page: Page, name: str, within_s: float = 30.0) -> None:
    """While Mira speaks, a screenshot once her mouth is clearly open (none if the reply
    ends first)."""
    deadline = time.monotonic() + within_s
    while time.monotonic() < deadline and page.evaluate("window.zenglow.state()") == "speaking":
        mouth = max(v for k, v in page.evaluate("window.zenglow.visemes()").items() if k != "sil")
        if mouth > 0.35:
            shot(page, name)
            return
        time.sleep(0.05)


def shot(page: Page, name: str) -> None:
    """A screenshot of the page as it is now (the avatar drawn at this instant)."""
    ARTIFACTS.mkdir(exist_ok=True)
    page.evaluate("window.zenglow.probe()")
    page.screenshot(path=str(ARTIFACTS / name))


def assert_avatar_drawn(page: Page) -> None:
    page.wait_for_function("window.zenglow.avatar.stage.frames > 3", timeout=30_000)  # it animates
    probe = page.evaluate("window.zenglow.probe()")
    alpha = probe["row"][3::4]
    drawn = sum(a > 200 for a in alpha) / len(alpha)
    assert drawn > 0.25, f"the avatar covers {drawn:.0%} of a row across the face"
    reds = probe["row"][0::4]
    assert max(reds) - min(reds) > 40  # shaded, not a flat fill


def test_chat_page_conversation_with_moving_lips(pw, server, tmp_path):
    c = clip("a04")
    wav = mic_wav(c.path, tmp_path / "mic.wav", pad_s=30)
    ctx = launch(pw, tmp_path / "profile", mic=wav)
    try:
        page = open_page(ctx, url(server, "/?transport=ws"))  # WebRTC: test_web_webrtc.py
        assert page.evaluate("window.zenglow.state()") is None
        assert_avatar_drawn(page)
        shot(page, "chat-idle.png")
        page.evaluate(SAMPLER)
        page.click("#connect")
        user = page.wait_for_selector(".turn.user .text:not(.partial)", timeout=90_000)
        assert wer(c.transcript, user.inner_text()) < 0.35, user.inner_text()
        page.click("#mute")  # the fake microphone loops its file; one turn is enough
        wait_state(page, "speaking", 120)
        shot_mid_word(page, "chat-speaking.png")
        wait_state(page, "listening", 120)
        time.sleep(1.5)
        seen = samples(page)
        speaking = [s["mouth"] for s in seen if s["state"] == "speaking"]
        assert speaking, "never saw the speaking state"
        assert max(speaking) > 0.2, f"the mouth did not move while speaking: {max(speaking):.2f}"
        wait_lips_at_rest(page)
        reply = page.inner_text(".turn.assistant .text")
        assert reply.strip()
        assert page.inner_text("#persona") == "Jarvis"
        assert "voice to voice" in page.inner_text("#latency")
        received = page.evaluate("window.zenglow.received()")
        assert received["response.output_audio.delta"] > 0 and received["zenglow.visemes"] > 0
        # the page asks for the semantic end of turn, and the server says it serves it
        asked = [e for e in page.evaluate("window.zenglow.sent()") if e["type"] == "session.update"]
        assert asked[0]["session"]["audio"]["input"]["turn_detection"]["type"] == "semantic_vad"
        assert received["session.updated"] == 1
    finally:
        ctx.close()


def test_lips_follow_the_played_audio_over_the_websocket(pw, scripted_server, tmp_path):
    c = clip("a04")
    page_url = url(scripted_server, "/?transport=ws")
    with page_with_scripted_mic(pw, tmp_path / "p", c.path, page_url, TAP_PLAYED) as page:
        page.click("#connect")
        wait_state(page, "listening", 60)
        page.evaluate(SAMPLE_PLAYED)
        say(page)
        wait_state(page, "speaking", 120)
        wait_state(page, "listening", 120)
        time.sleep(1.0)
        sound = page.evaluate("window.__sound")
        events = page.evaluate("window.__visemes")
    assert events and max(s["rms"] for s in sound) > 0.1
    lag, agreement = lip_lag(sound, events)
    print(f"lips vs sound: {lag} ms, {agreement:.0%} of samples agree")
    # The cues are scheduled on the AudioContext clock with the audio they belong to; the
    # analyser sees samples as they are rendered, the page's position is what is heard, so
    # the shift is the output latency: 30 to 40 ms measured here.
    assert agreement > 0.7, f"the lips follow the sound in {agreement:.0%} of samples"
    assert abs(lag) <= 60, f"the lips are {lag} ms off the sound"


def test_barge_in_flushes_playback_and_truncates(pw, long_server, tmp_path):
    c = clip("a04")
    ctx = launch(pw, tmp_path / "profile", mic=None)
    try:
        scripted_mic(ctx, c.path)
        page = open_page(ctx, url(long_server, "/?muted=1&transport=ws"))  # truncate: WebSocket
        page.click("#connect")
        wait_state(page, "listening", 60)
        page.evaluate(SAMPLER)
        page.fill("#text", "Tell me a long story about the sea.")
        page.press("#text", "Enter")
        wait_state(page, "speaking", 60)
        page.wait_for_function("window.zenglow.bufferedMs() > 0", timeout=10_000)
        time.sleep(2.0)  # listen for a while, then talk over the reply
        page.click("#mute")  # unmuted, the user talks over the reply: the whole sentence
        say(page)
        page.wait_for_function(
            "window.zenglow.sent().some(e => e.type === 'conversation.item.truncate')",
            timeout=30_000,
        )
        flushed_at = time.monotonic()
        page.wait_for_function("window.zenglow.bufferedMs() === 0", timeout=2_000)
        assert time.monotonic() - flushed_at < 2.0
        truncate = next(
            e
            for e in page.evaluate("window.zenglow.sent()")
            if e["type"] == "conversation.item.truncate"
        )
        assert truncate["content_index"] == 0
        assert 500 < truncate["audio_end_ms"] < 20_000, truncate
        item = page.get_attribute(".turn.assistant", "data-item")
        assert truncate["item_id"] == item
        # the sampler runs on the page's busy main thread: give it a tick to see the change
        page.wait_for_function(
            "window.__samples.some(s => ['interrupted', 'user_speaking'].includes(s.state))",
            timeout=5_000,
        )
        seen = samples(page)
        # once flushed, nothing of the old reply plays again
        i = next(i for i, s in enumerate(seen) if s["state"] in ("interrupted", "user_speaking"))
        wait_state(page, "speaking", 120)  # the reply to what was said over it
        assert page.evaluate("window.zenglow.errors()") == []
        assert max(s["buffered"] for s in seen[:i]) > 0
        page.wait_for_function(
            "document.querySelectorAll('.turn.user .text:not(.partial)').length >= 2",
            timeout=60_000,
        )
        # what was said over the reply is heard
        spoken = page.locator(".turn.user .text").last.inner_text()
        assert wer(c.transcript, spoken) < 0.35, spoken
    finally:
        ctx.close()


def test_kiosk_listens_by_itself_and_reconnects_after_a_restart(pw, engines, tmp_path):
    c = clip("a04")
    wav = mic_wav(c.path, tmp_path / "mic.wav", pad_s=40)
    port = free_port()
    app = create_app(engines.settings, engines)
    ctx = launch(pw, tmp_path / "profile", mic=wav, size=(900, 900))
    try:
        with serving(app, port):
            page = open_page(ctx, f"http://127.0.0.1:{port}/kiosk")
            wait_state(page, "listening", 60)
            assert page.evaluate("window.zenglow.connections()") == 1
            assert page.evaluate("window.zenglow.transport()") == "webrtc"  # the default
            assert_avatar_drawn(page)
            shot(page, "kiosk-idle.png")
            wait_state(page, "speaking", 120)  # it heard the fake microphone and answers
            shot_mid_word(page, "kiosk-speaking.png")
            wait_state(page, "listening", 120)
        wait_state(page, None, 30)  # the server is gone
        time.sleep(2.0)  # and stays away for a while: the page keeps retrying
        with serving(create_app(engines.settings, engines), port):
            wait_state(page, "listening", 60)
            assert page.evaluate("window.zenglow.connections()") == 2
            assert page.evaluate("window.zenglow.transport()") == "webrtc"
            assert page.is_hidden("#note") or page.inner_text("#note") == ""
    finally:
        ctx.close()


def test_kiosk_dims_when_nobody_talks(pw, server, tmp_path):
    ctx = launch(pw, tmp_path / "profile", mic=silence_wav(tmp_path / "s.wav"))
    try:
        # over the WebSocket: dimming does not depend on the transport, and the kiosk's WebRTC
        # start is the test above
        page = open_page(ctx, url(server, "/kiosk?idle=2&transport=ws"))
        wait_state(page, "listening", 60)
        assert page.evaluate("window.zenglow.transport()") == "websocket"
        page.wait_for_function("document.body.classList.contains('idle')", timeout=15_000)
        assert not page.evaluate("document.body.classList.contains('needs-touch')")
    finally:
        ctx.close()


def test_error_states_say_what_to_do(pw, engines, server, tmp_path):
    closed = free_port()
    ctx = launch(pw, tmp_path / "a", mic=silence_wav(tmp_path / "s.wav"))
    try:
        page = open_page(ctx, url(server, f"/?server=ws://127.0.0.1:{closed}"))
        page.click("#connect")
        page.wait_for_selector("#error[data-kind=unreachable]", timeout=20_000)
        assert "zenglow serve" in page.inner_text("#error")
    finally:
        ctx.close()

    busy = engines.settings.server.model_copy(update={"max_sessions": 0})
    eng = engines_with(engines, server=busy)
    with LoopbackServer(create_app(eng.settings, eng)) as full:
        ctx = launch(pw, tmp_path / "b", mic=silence_wav(tmp_path / "s.wav"))
        try:
            page = open_page(ctx, url(full))
            page.click("#connect")
            page.wait_for_selector("#error[data-kind=refused]", timeout=20_000)
            assert "try again" in page.inner_text("#error").lower()
            assert page.inner_text("#connect") == "Connect"
        finally:
            ctx.close()

    # no microphone permission: connected all the same, typing still works
    ctx = launch(pw, tmp_path / "c", mic=silence_wav(tmp_path / "s.wav"), allow_mic=False)
    try:
        ctx.clear_permissions()
        page = open_page(ctx, url(server))
        page.click("#connect")
        page.wait_for_selector("#error[data-kind=denied]", timeout=20_000)
        assert "allow the microphone" in page.inner_text("#error").lower()
        assert page.is_enabled("#text")
    finally:
        ctx.close()

    # a plain-http address that is not this machine: no microphone, and the page says why
    ctx = launch(
        pw,
        tmp_path / "d",
        mic=None,
        extra_args=["--host-resolver-rules=MAP zenglow.test 127.0.0.1"],
    )
    try:
        page = open_page(ctx, f"http://zenglow.test:{server.port}/")
        page.wait_for_selector("#error[data-kind=insecure]", timeout=20_000)
        assert "https" in page.inner_text("#error").lower()
    finally:
        ctx.close()


PURE_CHECKS = (Path(__file__).parent / "web_pure_checks.js").read_text()


def test_pure_client_modules(pw, server, tmp_path):
    ctx = launch(pw, tmp_path / "profile", mic=None)
    try:
        page = ctx.new_page()
        page.goto(url(server, "/web/package.json"))
        out = page.evaluate(PURE_CHECKS)
    finally:
        ctx.close()
    assert out["before"] == 1 and out["after"] == 1 and out["other"] == 1  # silence: sil only
    assert out["middle"] > 0.99
    aa, pp = out["blend"]
    assert 0.2 < aa < 0.8 and 0.2 < pp < 0.8  # neighbours overlap at the boundary
    assert all(abs(s - 1) < 1e-5 for s in out["sums"]), out["sums"]
    assert out["maxStep"] < 0.25  # the shape changes over several frames, never in one jump
    assert 0.2 < out["followed"] < 0.5
    assert out["vrm"]["oh"] == 1 and out["vrm"]["aa"] == 0
    assert out["roundTrip"] == [0, 1, -1, 32767, -32768, 1234, -4321]
    assert out["resampled"][0] == out["resampled"][1] == 24000
    assert out["maxDiff"] < 1e-6  # block size does not change the output
    assert abs(out["rms"] - 0.5 / 2**0.5) < 0.01  # 440 Hz passes the anti-alias filter
    assert abs(out["n44"] - 24000) <= 1
    assert out["backoff"] == [500, 1000, 2000, 4000, 8000, 10000, 10000]
    busy = out["working"]  # a tool runs: Mira looks busy, eyes down, not the thinking pout
    assert busy["browDown"] > 0.15 and busy["gazePitch"] < -0.1
    assert busy["pucker"] < 0.1 < busy["thinkingPucker"]
    assert out["url"] == "wss://k.lan:8443/v1/realtime?model=leonardo&extensions=zenglow"


def test_a_vrm_avatar_follows_the_visemes(pw, server, tmp_path):
    data = "data:model/gltf-binary;base64," + base64.b64encode(vrm_bytes()).decode()
    ctx = launch(pw, tmp_path / "profile", mic=None)
    try:
        page = open_page(ctx, url(server, "/?vrm=" + quote(data, safe="")))
        assert page.evaluate("window.zenglow.avatar.constructor.name") == "VrmAvatar"
        page.evaluate(
            """() => {
            const w = new Float32Array(15);
            w[10] = 1; // "aa" in sil PP FF TH DD kk CH SS nn RR aa E ih oh ou
            window.zenglow.avatar.setVisemeSource(() => w);
        }"""
        )
        page.wait_for_function("window.zenglow.visemes().aa > 0.9", timeout=10_000)
        values = page.evaluate(
            """() => Object.fromEntries(["aa", "ih", "ou", "ee", "oh"].map(
                (k) => [k, window.zenglow.avatar.vrm.expressionManager.getValue(k)]))"""
        )
        assert values["aa"] > 0.9 and values["oh"] < 0.05, values
    finally:
        ctx.close()

    ctx = launch(pw, tmp_path / "profile2", mic=None)
    try:  # a VRM that cannot be loaded: Mira stands in, and the page says why
        page = open_page(ctx, url(server, "/?vrm=/web/no-such-avatar.vrm"))
        assert page.evaluate("window.zenglow.avatar.constructor.name") == "Mira"
        assert "could not load the VRM avatar" in page.inner_text("#status")
    finally:
        ctx.close()
