"""Headless Debian Chromium for the web client tests: a fake microphone fed from a WAV file,
SwiftShader WebGL, and a uvicorn server that can be stopped and started on the same port."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import numpy as np
import soundfile as sf
import uvicorn
from fastapi import FastAPI
from playwright.sync_api import BrowserContext, Page, Playwright
from playwright.sync_api import TimeoutError as PlaywrightTimeout

from zenglow.speech.audio import float_to_int16, read_audio

from .server import LoopbackServer
from .speech import REPO

CHROMIUM = Path("/usr/bin/chromium")
ARTIFACTS = REPO / "test-artifacts"

CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--use-angle=swiftshader",
    "--enable-unsafe-swiftshader",
    "--autoplay-policy=no-user-gesture-required",
    "--disable-background-networking",
    "--disable-component-update",
    "--no-first-run",
    "--disable-sync",
    "--disable-background-timer-throttling",
    "--disable-renderer-backgrounding",
]


def mic_wav(clip_path: Path, out: Path, *, pad_s: float, rate: int = 48000) -> Path:
    """A speech clip as 16-bit PCM with `pad_s` of silence after it (Chromium loops the file)."""
    pcm = float_to_int16(read_audio(clip_path, rate))
    sf.write(out, np.concatenate([pcm, np.zeros(int(pad_s * rate), np.int16)]), rate, "PCM_16")
    return out


def silence_wav(out: Path, seconds: float = 5.0, rate: int = 48000) -> Path:
    sf.write(out, np.zeros(int(seconds * rate), np.int16), rate, "PCM_16")
    return out


def launch(
    pw: Playwright,
    profile: Path,
    *,
    mic: Path | None,
    allow_mic: bool = True,
    extra_args: list[str] | None = None,
    size: tuple[int, int] = (960, 640),
) -> BrowserContext:
    """A fresh Chromium profile; `mic` feeds the fake microphone, `allow_mic` grants it."""
    if not CHROMIUM.exists():
        raise FileNotFoundError(
            f"{CHROMIUM} is missing: install Debian's chromium (apt-get install -y chromium); "
            "scripts/test.sh does this"
        )
    args = list(CHROMIUM_ARGS) + (extra_args or [])
    if mic is not None:
        args += ["--use-fake-device-for-media-stream", f"--use-file-for-fake-audio-capture={mic}"]
    if allow_mic:
        args.append("--use-fake-ui-for-media-stream")
    return pw.chromium.launch_persistent_context(
        str(profile),
        executable_path=str(CHROMIUM),
        headless=True,
        args=args,
        viewport={"width": size[0], "height": size[1]},
    )


def url(srv: LoopbackServer, path: str = "/") -> str:
    return f"http://127.0.0.1:{srv.port}{path}"


def open_page(ctx: BrowserContext, url: str) -> Page:
    page = ctx.pages[0] if ctx.pages else ctx.new_page()
    page.on("pageerror", lambda e: print(f"page error: {e}"))
    page.goto(url)
    page.wait_for_function("window.zenglow !== undefined", timeout=90_000)
    return page


# Records, every 30 ms, the state, the largest mouth weight (not `sil`) and the playback buffer.
SAMPLER = """() => {
  window.__samples = [];
  const t0 = performance.now();
  setInterval(() => {
    const v = window.zenglow.visemes();
    const mouth = Math.max(...Object.entries(v).filter(([k]) => k !== "sil").map(([, w]) => w));
    window.__samples.push({
      t: performance.now() - t0, state: window.zenglow.state(), mouth,
      buffered: window.zenglow.bufferedMs(),
    });
  }, 30);
}"""


def samples(page: Page) -> list[dict]:
    return page.evaluate("window.__samples")


# A microphone the test speaks into when it chooses: getUserMedia gives a WebAudio stream that
# is silent until `window.__say(url)` plays a clip into it (resolves to its length in s).
SCRIPTED_MIC = """(() => {
  let ctx = null;
  let dest = null;
  const real = navigator.mediaDevices.getUserMedia.bind(navigator.mediaDevices);
  navigator.mediaDevices.getUserMedia = async (constraints) => {
    if (!constraints?.audio) return real(constraints);
    ctx = ctx || new AudioContext({ sampleRate: 48000 });
    if (!dest) {
      dest = ctx.createMediaStreamDestination();
      const hush = ctx.createConstantSource(); // keeps the stream flowing between clips
      hush.offset.value = 0;
      hush.connect(dest);
      hush.start();
    }
    return new MediaStream(dest.stream.getAudioTracks().map((t) => t.clone()));
  };
  window.__say = async (url) => {
    const data = await (await fetch(url)).arrayBuffer();
    const buffer = await ctx.decodeAudioData(data);
    const src = ctx.createBufferSource();
    src.buffer = buffer;
    src.connect(dest);
    src.start();
    return buffer.duration;
  };
})();"""
CLIP_URL = "/__test/clip.wav"


def scripted_mic(ctx: BrowserContext, clip: Path) -> None:
    """Give the context's pages the scripted microphone; `say(page)` speaks `clip` into it."""
    body = clip.read_bytes()
    ctx.add_init_script(SCRIPTED_MIC)
    ctx.route(f"**{CLIP_URL}", lambda route: route.fulfill(body=body, content_type="audio/wav"))


@contextmanager
def page_with_scripted_mic(
    pw: Playwright, profile: Path, clip: Path, url: str, *init_scripts: str
) -> Iterator[Page]:
    """A fresh browser on `url` with the scripted microphone (`say(page)` speaks `clip`) and
    the given scripts run before the page's own."""
    ctx = launch(pw, profile, mic=None)
    try:
        scripted_mic(ctx, clip)
        for script in init_scripts:
            ctx.add_init_script(script)
        yield open_page(ctx, url)
    finally:
        ctx.close()


def say(page: Page) -> float:
    return float(page.evaluate(f"window.__say({CLIP_URL!r})"))


# What the page says about itself, for a failed wait.
DIAGNOSIS = """() => ({
  state: window.zenglow.state(), transport: window.zenglow.transport(),
  connections: window.zenglow.connections(), errors: window.zenglow.errors(),
  received: window.zenglow.received(), note: document.querySelector("#note")?.innerText,
  status: document.querySelector("#status")?.innerText,
})"""

AT_REST = """() => {
  const v = window.zenglow.visemes();
  return v.sil > 0.9 && Object.entries(v).every(([k, w]) => k === "sil" || w < 0.1);
}"""


def wait_lips_at_rest(page: Page, timeout_s: float = 5.0) -> None:
    """The mouth settles (eased frame by frame, slower when the machine is busy)."""
    try:
        page.wait_for_function(AT_REST, timeout=timeout_s * 1000)
    except PlaywrightTimeout:
        rest = page.evaluate("window.zenglow.visemes()")
        raise AssertionError(f"the lips did not come to rest in {timeout_s} s: {rest}") from None


def wait_state(page: Page, state: str | None, timeout_s: float) -> None:
    try:
        page.wait_for_function(
            f"window.zenglow.state() === {state!r}" if state else "window.zenglow.state() === null",
            timeout=timeout_s * 1000,
        )
    except PlaywrightTimeout:
        seen = page.evaluate(DIAGNOSIS)
        raise AssertionError(f"no state {state!r} within {timeout_s} s: {seen}") from None


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class PortServer(LoopbackServer):
    """A LoopbackServer on a chosen port, so a restarted server is found where the old one was."""

    def __init__(self, app: FastAPI, port: int) -> None:
        super().__init__(app)
        self.server = uvicorn.Server(
            uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning")
        )
        self.thread = threading.Thread(target=self.server.run, daemon=True)


@contextmanager
def serving(app: FastAPI, port: int) -> Iterator[PortServer]:
    deadline = time.monotonic() + 30
    while True:  # the previous server's socket may take a moment to be released
        try:
            with socket.socket() as s:
                s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as uvicorn binds
                s.bind(("127.0.0.1", port))
            break
        except OSError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.2)
    with PortServer(app, port) as srv:
        yield srv
