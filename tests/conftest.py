"""Shared fixtures: the real engines, loaded once, and real servers on loopback."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Playwright, sync_playwright

from zenglow.app import create_app
from zenglow.engines.loader import Engines, build_engines
from zenglow.settings import load_settings

from .fakes import LONG_REPLY, ScriptedChat
from .server import LoopbackServer
from .web_lips import REPLY


@pytest.fixture(scope="session", autouse=True)
def data_dir(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """Conversations are saved in the test run's own folder, never the user's."""
    path = tmp_path_factory.mktemp("data")
    patch = pytest.MonkeyPatch()
    patch.setenv("ZENGLOW_STORAGE__DATA_DIR", str(path))
    yield path
    patch.undo()


@pytest.fixture(scope="session")
def engines(tmp_path_factory: pytest.TempPathFactory) -> Engines:
    """The embedded engines (Whisper tiny.en, Silero, Piper joe, Qwen2.5-Coder), loaded once,
    with an empty document index of their own (not the user's)."""
    settings = load_settings(None)
    index = settings.knowledge.model_copy(update={"data_dir": tmp_path_factory.mktemp("index")})
    engines = build_engines(settings.model_copy(update={"knowledge": index}))
    engines.load()
    return engines


@pytest.fixture(scope="session")
def server(engines: Engines) -> Iterator[LoopbackServer]:
    """`zenglow serve` on the embedded defaults, on a free loopback port."""
    with LoopbackServer(create_app(engines.settings, engines)) as srv:
        yield srv


def engines_with(engines: Engines, **settings_changes: object) -> Engines:
    """The same loaded engines under changed settings (e.g. a smaller session cap)."""
    settings = engines.settings.model_copy(update=settings_changes)
    return dataclasses.replace(engines, settings=settings)


def _server_saying(engines: Engines, reply: str) -> Iterator[LoopbackServer]:
    """A server on the real engines whose chat model, for every persona, streams `reply`
    word by word: speech in and out stay real, the reply is known."""
    eng = engines_with(engines)
    words = [w + " " for w in reply.split(" ")]
    eng.chats = {name: ScriptedChat(words, delay_s=0.01) for name in eng.settings.personas}
    with LoopbackServer(create_app(eng.settings, eng)) as srv:
        yield srv


@pytest.fixture(scope="module")
def scripted_server(engines: Engines) -> Iterator[LoopbackServer]:
    """Always `web_lips.REPLY`: a reply of known length, to measure the lips against."""
    yield from _server_saying(engines, REPLY)


@pytest.fixture(scope="module")
def long_server(engines: Engines) -> Iterator[LoopbackServer]:
    """Always `fakes.LONG_REPLY`, about 25 s of speech: something to talk over."""
    yield from _server_saying(engines, LONG_REPLY)


@pytest.fixture(scope="module")
def pw() -> Iterator[Playwright]:
    """Playwright for the browser tests (sync API: those tests run no event loop)."""
    with sync_playwright() as p:
        yield p
