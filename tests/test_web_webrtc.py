"""The web client over WebRTC in a real headless Chromium, against a real server on loopback:
the chat page talks over WebRTC by default (microphone track in, Opus voice out, events on
`oai-events`) with the lips on the clock of the audio actually played, and falls back to the
WebSocket when the call fails.

Chromium needs no flags beyond `web_browser.CHROMIUM_ARGS` here. With the microphone granted
(`--use-fake-ui-for-media-stream`) it offers its raw host candidates; without, it offers mDNS
`.local` names, which aiortc resolves (or reaches as peer-reflexive candidates). Neither side
offers `127.0.0.1` (aiortc never gathers loopback, so `--allow-loopback-in-peer-connection`
would not help): the machine needs a network interface other than loopback, as the README's
WebRTC section says. Where it has none, the first test fails on the transport it finds.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path

from fastapi import FastAPI
from playwright.sync_api import BrowserContext, Page, Route

from .server import LoopbackServer
from .speech import clip, normalise, wer
from .web_browser import (
    SAMPLER,
    launch,
    mic_wav,
    open_page,
    page_with_scripted_mic,
    samples,
    say,
    silence_wav,
    url,
    wait_lips_at_rest,
    wait_state,
)
from .web_lips import LOUD, QUIET, lip_lag

# Every event the page received on the data channel, with its arrival (performance.now()).
TAP_ALL = """(() => {
  window.__events = [];
  const create = RTCPeerConnection.prototype.createDataChannel;
  RTCPeerConnection.prototype.createDataChannel = function (...args) {
    const ch = create.apply(this, args);
    ch.addEventListener("message", ({ data }) => {
      window.__events.push({ t: performance.now(), ev: JSON.parse(data) });
    });
    return ch;
  };
})();"""

# Every 10 ms: the level of the remote track (a WebAudio analyser on the received audio), the
# reply position the page believes is heard, and the RTP timestamp the receiver is playing.
SOUND = """async () => {
  const pc = window.zenglow.peer();
  const rx = pc.getReceivers().find((r) => r.track.kind === "audio");
  const { rtpAt } = await import("/web/js/webrtc-playout.js");
  const ac = new AudioContext();
  const an = ac.createAnalyser();
  an.fftSize = 256;
  ac.createMediaStreamSource(new MediaStream([rx.track])).connect(an);
  const buf = new Float32Array(an.fftSize);
  window.__sound = [];
  setInterval(() => {
    an.getFloatTimeDomainData(buf);
    let sum = 0;
    for (const x of buf) sum += x * x;
    const now = performance.now();
    window.__sound.push({
      t: now,
      rms: Math.sqrt(sum / buf.length),
      heard: window.zenglow.heard(),
      rtp: rtpAt(rx.getSynchronizationSources()[0], now),
    });
  }, 10);
}"""

ENERGY = """async () => {
  let energy = 0;
  (await window.zenglow.peer().getStats()).forEach((s) => {
    if (s.type === "inbound-rtp" && s.kind === "audio") energy = s.totalAudioEnergy;
  });
  return energy;
}"""


def live_calls(srv: LoopbackServer) -> set[str]:
    """Ids of the server's live calls.  The server is shared with other browser tests whose
    closed pages' calls linger until ICE gives up on them, so tests compare sets."""
    app = srv.server.config.app
    assert isinstance(app, FastAPI)
    return set(app.state.webrtc_calls.live)


def until(cond: Callable[[], bool], within: float, what: str) -> None:
    deadline = time.monotonic() + within
    while not cond():
        if time.monotonic() > deadline:
            raise AssertionError(f"not within {within} s: {what}")
        time.sleep(0.1)


def connect(page: Page, kind: str) -> None:
    page.click("#connect")
    page.wait_for_function(
        f"window.zenglow.transport() === {kind!r} && window.zenglow.state() !== null",
        timeout=60_000,
    )


def test_chat_page_talks_over_webrtc_with_lips_on_the_played_audio(pw, scripted_server, tmp_path):
    server = scripted_server
    c = clip("a04")
    with page_with_scripted_mic(pw, tmp_path / "p", c.path, url(server), TAP_ALL) as page:
        page.evaluate(SAMPLER)
        before = live_calls(server)
        connect(page, "webrtc")
        assert page.inner_text("#status").startswith("Connected (WebRTC)")
        ours = live_calls(server) - before
        assert len(ours) == 1
        page.evaluate(SOUND)
        say(page)
        user = page.wait_for_selector(".turn.user .text:not(.partial)", timeout=90_000)
        assert wer(c.transcript, user.inner_text()) < 0.35, user.inner_text()  # the mic track
        wait_state(page, "speaking", 120)
        wait_state(page, "listening", 120)
        time.sleep(1.5)
        sound = page.evaluate("window.__sound")
        events = page.evaluate(
            "window.__events.map(e => e.ev).filter(ev => ev.type === 'zenglow.visemes')"
        )
        energy = page.evaluate(ENERGY)
        seen = samples(page)

        # the voice came on the track, and the track was heard
        received = page.evaluate("window.zenglow.received()")
        assert "response.output_audio.delta" not in received
        assert received["output_audio_buffer.started"] >= 1
        assert received["output_audio_buffer.stopped"] >= 1
        assert energy > 0.01, f"the remote track carried no sound: {energy}"
        assert max(s["rms"] for s in sound) > 0.1
        assert page.inner_text(".turn.assistant .text").strip()

        # the lips moved while the reply played, and rest after it
        speaking = [s["mouth"] for s in seen if s["state"] == "speaking"]
        assert speaking and max(speaking) > 0.2, f"the mouth did not move: {speaking[-5:]}"
        wait_lips_at_rest(page)

        # on the played audio's clock: every chunk mapped through its RTP timestamp
        assert events and all(isinstance(ev["rtp_timestamp"], int) for ev in events)
        assert all(s["rtp"] is not None for s in sound[-100:]), "no synchronization source"
        lag, agreement = lip_lag(sound, events)
        print(f"lips vs sound: {lag} ms, {agreement:.0%} of samples agree")
        # The lips follow the sound's shape, and in time: viewers notice sound more than about
        # 45 ms early or 125 ms late (ITU-R BT.1359). Measured 0 to 10 ms here.
        assert agreement > 0.7, f"the lips follow the sound in {agreement:.0%} of samples"
        assert abs(lag) <= 60, f"the lips are {lag} ms off the sound"

        # nothing to truncate over WebRTC, and Disconnect hangs the call up
        sent = [e["type"] for e in page.evaluate("window.zenglow.sent()")]
        assert "conversation.item.truncate" not in sent
        page.click("#connect")
        until(lambda: not ours & live_calls(server), 20, "the call was hung up")
        assert page.inner_text("#status") == "Not connected"


PURE_CHECKS = (Path(__file__).parent / "web_webrtc_checks.js").read_text()


def test_talking_over_the_reply_silences_the_track_and_the_lips(pw, long_server, tmp_path):
    c = clip("a04")
    with page_with_scripted_mic(pw, tmp_path / "p", c.path, url(long_server), TAP_ALL) as page:
        connect(page, "webrtc")
        page.evaluate(SOUND)
        page.fill("#text", "Tell me a long story about the sea.")
        page.press("#text", "Enter")
        wait_state(page, "speaking", 60)
        time.sleep(2.0)  # listen for a while, then talk over the reply
        say(page)
        page.wait_for_function(
            "window.__events.some(e => e.ev.type === 'output_audio_buffer.cleared')",
            timeout=30_000,
        )
        time.sleep(3.0)
        events = page.evaluate("window.__events")
        sound = page.evaluate("window.__sound")

        def first(kind: str, after: float = 0.0) -> dict | None:
            return next((e for e in events if e["ev"]["type"] == kind and e["t"] > after), None)

        created = first("response.created")
        cleared = first("output_audio_buffer.cleared")
        assert created and cleared
        rid = created["ev"]["response"]["id"]
        done = first("response.done")
        assert done and done["ev"]["response"]["id"] == rid
        assert done["ev"]["response"]["status"] == "cancelled"
        assert cleared["ev"]["response_id"] == rid
        assert page.evaluate("window.zenglow.errors()") == []

        # The reply was loud before the barge-in, and from 0.5 s after it (aiortc's and
        # Chromium's buffers) the track is quiet and the lips no longer follow the cut reply,
        # until the reply to what the user said begins.
        nxt = first("response.created", cleared["t"])
        end = min(cleared["t"] + 3000, nxt["t"] if nxt else float("inf"))
        before = [s["rms"] for s in sound if created["t"] < s["t"] < cleared["t"]]
        after = [s for s in sound if cleared["t"] + 500 < s["t"] < end]
        assert before and max(before) > LOUD
        assert len(after) >= 5 and max(s["rms"] for s in after) < QUIET, after[-5:]
        assert all((s["heard"] or {}).get("responseId") != rid for s in after), after[:5]

        # and what was said over the reply is heard
        def heard_the_clip() -> bool:
            texts = page.locator(".turn.user .text:not(.partial)").all_inner_texts()
            words = set(normalise(c.transcript).split())
            return any(len(set(normalise(t).split()) & words) >= 3 for t in texts)

        until(heard_the_clip, 60, "the words said over the reply")


def test_pure_webrtc_client_pieces(pw, server, tmp_path):
    ctx = launch(pw, tmp_path / "profile", mic=None)
    try:
        page = ctx.new_page()
        page.goto(url(server, "/web/package.json"))
        out = page.evaluate(PURE_CHECKS)
    finally:
        ctx.close()
    assert out["wrap"] == [21, -21]
    assert out["rtpAt"] == [(0xFFFFFF00 + 480) % 2**32] * 2 + [None, None]
    assert out["before"] is None and out["after"] is None
    assert out["first"] == {"responseId": "a", "itemId": "item_a", "ms": 150}
    assert out["second"] == {"responseId": "a", "itemId": "item_a", "ms": 350}
    assert out["buffered"] == 200 + 200  # the rest of the first chunk, all of the second
    assert out["arrival"][0] is None  # arrived at 5000, plays from 5100
    assert out["arrival"][1]["ms"] == 1050
    assert {c["itemId"]: c["playedMs"] for c in out["cut"]} == {"item_a": 500, "item_b": 1050}
    assert out["flushed"] == [None, 0]
    assert out["jitter"] == [100, 50, 0]  # since the start; over the last interval
    assert out["calls"] == [
        "http://h:8000/v1/realtime/calls?model=jarvis&extensions=zenglow",
        "https://k.lan:8443/v1/realtime/calls?model=leonardo&extensions=zenglow",
    ]
    assert out["modes"] == ["ws", "ws", "webrtc", "webrtc", "auto", "auto"]
    fb = out["fallback"]
    assert fb["kind"] == "websocket" and fb["got"] == ["session.created"]
    assert fb["closedEarly"] == 0 and fb["closed"] == [1006]  # only the live one's close
    assert out["before_sink"] == 0 and fb["sink"] == 7
    assert fb["mics"] == [["mic"], ["mic"]] and fb["sent"] == 1
    assert fb["failures"] == ["webrtc: webrtc failed"]
    assert out["client"]["open"] > 0.9
    assert out["client"]["cleared"] < 0.01 and out["client"]["late"] < 0.01
    assert "conversation.item.truncate" not in out["client"]["sent"]


def count_calls(ctx: BrowserContext, answer: Callable[[Route], None]) -> list[str]:
    """Route the page's calls to `answer(route)`; returns the methods seen, as they come."""
    seen: list[str] = []

    def handle(route: Route) -> None:
        seen.append(route.request.method)
        answer(route)

    ctx.route("**/v1/realtime/calls**", handle)
    return seen


def wrong_ice_password(route: Route) -> None:
    """The real answer with its ICE password changed: the call is set up, ICE never connects."""
    if route.request.method != "POST":
        route.continue_()
        return
    resp = route.fetch()
    lines = resp.text().split("\r\n")
    for i, line in enumerate(lines):
        if line.startswith("a=ice-pwd:"):
            pwd = line.removeprefix("a=ice-pwd:")
            lines[i] = "a=ice-pwd:" + pwd[::-1] if pwd[::-1] != pwd else "a=ice-pwd:" + "x" * 24
    route.fulfill(response=resp, body="\r\n".join(lines))


def test_falls_back_to_the_websocket_when_webrtc_fails(pw, server, tmp_path):
    quiet = silence_wav(tmp_path / "s.wav")

    # forced: ?transport=ws never tries WebRTC
    ctx = launch(pw, tmp_path / "ws", mic=quiet)
    try:
        seen = count_calls(ctx, lambda route: route.continue_())
        page = open_page(ctx, url(server, "/?transport=ws&muted=1"))
        connect(page, "websocket")
        assert seen == [] and page.inner_text("#status").startswith("Connected (WebSocket)")
    finally:
        ctx.close()

    # the call is answered but ICE never connects: given up after 8 s, hung up, WebSocket
    ctx = launch(pw, tmp_path / "ice", mic=quiet)
    try:
        seen = count_calls(ctx, wrong_ice_password)
        page = open_page(ctx, url(server, "/?muted=1"))
        before = live_calls(server)
        started = time.monotonic()
        connect(page, "websocket")
        waited = time.monotonic() - started
        assert 7.5 < waited < 30, f"fell back after {waited:.1f} s"
        assert seen[0] == "POST"
        until(
            lambda: "DELETE" in seen and not live_calls(server) - before,
            20,
            "the failed call hung up",
        )
        assert page.inner_text("#status").startswith("Connected (WebSocket)")
    finally:
        ctx.close()

    # the call is refused: WebSocket at once, and the conversation goes on over it
    c = clip("a04")
    ctx = launch(pw, tmp_path / "500", mic=mic_wav(c.path, tmp_path / "mic.wav", pad_s=30))
    try:
        seen = count_calls(
            ctx,
            lambda route: route.fulfill(
                status=500, json={"error": {"type": "server_error", "message": "no calls today"}}
            ),
        )
        page = open_page(ctx, url(server))
        started = time.monotonic()
        connect(page, "websocket")
        assert time.monotonic() - started < 15 and seen == ["POST"]
        assert page.inner_text("#status").startswith("Connected (WebSocket)")
        user = page.wait_for_selector(".turn.user .text:not(.partial)", timeout=90_000)
        assert wer(c.transcript, user.inner_text()) < 0.35, user.inner_text()
        page.click("#mute")
        wait_state(page, "speaking", 120)
        wait_state(page, "listening", 120)
        assert page.inner_text(".turn.assistant .text").strip()
        received = page.evaluate("window.zenglow.received()")
        assert received["response.output_audio.delta"] > 0  # the voice came over the socket
        assert "output_audio_buffer.started" not in received
        assert page.evaluate("window.zenglow.transport()") == "websocket"
    finally:
        ctx.close()
