"""The pages with API keys on, in headless Chromium: the chat page asks for a key once and
keeps it; the kiosk takes its key from the address; a crafted `?server=` is refused."""

from __future__ import annotations

from collections.abc import Iterator
from urllib.parse import urlsplit

import pytest
from pydantic import SecretStr

from zenglow.app import create_app
from zenglow.engines.loader import Engines
from zenglow.settings import AuthSettings

from .conftest import engines_with
from .server import LoopbackServer
from .web_browser import launch, open_page, silence_wav, url, wait_state

KEY = "page-key-0123456789abcdef"


@pytest.fixture(scope="module")
def keyed(engines: Engines) -> Iterator[LoopbackServer]:
    eng = engines_with(engines, auth=AuthSettings(api_keys=[SecretStr(KEY)]))
    with LoopbackServer(create_app(eng.settings, eng)) as srv:
        yield srv


def test_chat_page_asks_for_a_key_once_and_keeps_it(pw, keyed, tmp_path) -> None:  # type: ignore[no-untyped-def]
    ctx = launch(pw, tmp_path / "profile", mic=silence_wav(tmp_path / "s.wav"))
    try:
        page = open_page(ctx, url(keyed, "/?transport=ws"))
        page.click("#connect")
        page.wait_for_selector("#key-form:not([hidden])", timeout=20_000)
        page.fill("#key", "wrong-key-0123456789abcdef")
        page.click("#key-form button[type=submit]")
        page.wait_for_selector("#key-form:not([hidden])", timeout=20_000)  # asked again
        page.fill("#key", KEY)
        page.click("#key-form button[type=submit]")
        wait_state(page, "listening", 60)
        assert page.evaluate("localStorage.getItem('zenglow.apiKey')") == KEY
        page.click("#connect")  # disconnect
        page.reload()
        page.wait_for_function("window.zenglow !== undefined", timeout=60_000)
        page.click("#connect")
        wait_state(page, "listening", 60)  # no question the second time
        assert page.is_hidden("#key-form")
        # ...and over WebRTC the same key opens a call
        page.goto(url(keyed, "/?transport=webrtc"))
        page.wait_for_function("window.zenglow !== undefined", timeout=60_000)
        page.click("#connect")
        wait_state(page, "listening", 60)
        assert page.evaluate("window.zenglow.transport()") == "webrtc"
    finally:
        ctx.close()


def test_kiosk_takes_its_key_from_the_address(pw, keyed, tmp_path) -> None:  # type: ignore[no-untyped-def]
    ctx = launch(pw, tmp_path / "profile", mic=silence_wav(tmp_path / "s.wav"))
    try:
        page = open_page(ctx, url(keyed, f"/kiosk?transport=ws#key={KEY}"))
        wait_state(page, "listening", 60)
        assert "key=" not in page.url  # taken out of the address bar
        assert page.evaluate("localStorage.getItem('zenglow.apiKey')") == KEY
    finally:
        ctx.close()
    ctx = launch(pw, tmp_path / "bare", mic=silence_wav(tmp_path / "s.wav"))
    try:
        page = open_page(ctx, url(keyed, "/kiosk?transport=ws"))
        page.wait_for_function(
            "document.querySelector('#note').innerText.includes('needs an API key')",
            timeout=30_000,
        )
        assert "/kiosk#key=" in page.inner_text("#note")
    finally:
        ctx.close()


def test_a_link_cannot_send_the_microphone_to_another_server(pw, keyed, tmp_path) -> None:  # type: ignore[no-untyped-def]
    ctx = launch(pw, tmp_path / "profile", mic=silence_wav(tmp_path / "s.wav"))
    try:
        sent: list[str] = []
        ctx.on("request", lambda r: sent.append(urlsplit(r.url).hostname or ""))
        page = open_page(ctx, url(keyed, "/?server=wss://evil.example"))
        page.wait_for_selector("#error[data-kind=misdirected]", timeout=20_000)
        assert "evil.example" in page.inner_text("#error")
        page.click("#connect")
        page.wait_for_selector("#key-form:not([hidden])", timeout=20_000)
        page.fill("#key", KEY)
        page.click("#key-form button[type=submit]")
        wait_state(page, "listening", 60)  # it talks to its own server instead
        assert "evil.example" not in sent
        page = open_page(ctx, url(keyed, "/kiosk?server=https://evil.example"))
        page.wait_for_function(
            "document.querySelector('#note').innerText.includes('not allowed')", timeout=20_000
        )
        assert "evil.example" not in sent
    finally:
        ctx.close()
