"""A real uvicorn server on loopback in a background thread, and a small Realtime client."""

from __future__ import annotations

import asyncio
import base64
import json
import threading
import time
from typing import Any

import numpy as np
import uvicorn
import websockets
from fastapi import FastAPI

from zenglow.speech.audio import float_to_int16, read_audio


class LoopbackServer:
    def __init__(self, app: FastAPI) -> None:
        self.server = uvicorn.Server(
            uvicorn.Config(app, host="127.0.0.1", port=0, log_level="warning", ws_max_size=1 << 24)
        )
        self.thread = threading.Thread(target=self.server.run, daemon=True)

    def __enter__(self) -> LoopbackServer:
        self.thread.start()
        deadline = time.monotonic() + 180
        while not self.server.started:
            if not self.thread.is_alive() or time.monotonic() > deadline:
                raise RuntimeError("server did not start")
            time.sleep(0.05)
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=20)

    def live(self) -> tuple[int, int]:
        """(live WebRTC calls, live sessions of any transport)."""
        state = self.server.config.app.state
        return len(state.webrtc_calls), len(state.runtime.sessions)

    @property
    def port(self) -> int:
        return self.server.servers[0].sockets[0].getsockname()[1]

    @property
    def stock_url(self) -> str:
        """What a stock Realtime client connects to: GA events only."""
        return f"ws://127.0.0.1:{self.port}/v1/realtime"

    @property
    def ws_url(self) -> str:
        """The Realtime URL asking for the zenglow.* events, as the pages do."""
        return f"{self.stock_url}?extensions=zenglow"


def clip_pcm24(path: Any, *, pad_s: float = 0.0) -> np.ndarray:
    """A speech clip as PCM16 at 24 kHz, with `pad_s` of silence after it."""
    pcm = float_to_int16(read_audio(path, 24000))
    return np.concatenate([pcm, np.zeros(int(pad_s * 24000), np.int16)])


def append_event(pcm: np.ndarray) -> str:
    audio = base64.b64encode(pcm.astype("<i2").tobytes()).decode()
    return json.dumps({"type": "input_audio_buffer.append", "audio": audio})


PUSH_TO_TALK = {
    "type": "session.update",
    "session": {"type": "realtime", "audio": {"input": {"turn_detection": None}}},
}


def user_text(text: str, event_id: str | None = None) -> dict:
    ev = {
        "type": "conversation.item.create",
        "item": {
            "type": "message",
            "role": "user",
            "content": [{"type": "input_text", "text": text}],
        },
    }
    if event_id:
        ev["event_id"] = event_id
    return ev


class EventLog:
    """Server events as they arrive (with their arrival times); waits for the ones a test
    cares about.  Shared by the WebSocket client and the WebRTC peer."""

    def __init__(self) -> None:
        self.events: list[dict[str, Any]] = []
        self.times: list[float] = []
        self._new = asyncio.Event()
        self.on_event: Any = None  # called with each event as it arrives

    def record(self, raw: str | bytes) -> None:
        self.events.append(json.loads(raw))
        self.times.append(time.monotonic())
        if self.on_event is not None:
            self.on_event(self.events[-1])
        self._new.set()

    async def wait_for(
        self,
        type_: str | tuple[str, ...],  # a tuple: the first of any of these
        *,
        timeout: float = 60.0,  # noqa: ASYNC109 - bounds the whole search, not one await
        after: int = 0,
        where: Any = None,
    ) -> dict[str, Any]:
        deadline = time.monotonic() + timeout
        seen = after
        types = type_ if isinstance(type_, tuple) else (type_,)
        while True:
            for ev in self.events[seen:]:
                if ev["type"] in types and (where is None or where(ev)):
                    return ev
            seen = len(self.events)
            left = deadline - time.monotonic()
            if left <= 0:
                last = [e["type"] for e in self.events[-15:]]
                raise TimeoutError(f"no {type_} within {timeout} s; last events: {last}")
            self._new.clear()
            try:
                await asyncio.wait_for(self._new.wait(), left)
            except TimeoutError:
                pass

    def of(self, type_: str) -> list[dict[str, Any]]:
        return [e for e in self.events if e["type"] == type_]


class Client(EventLog):
    """A Realtime client over a WebSocket."""

    def __init__(self, ws: Any) -> None:
        super().__init__()
        self.ws = ws

    async def reader(self) -> None:
        async for raw in self.ws:
            self.record(raw)

    async def send(self, event: dict[str, Any] | str) -> None:
        await self.ws.send(event if isinstance(event, str) else json.dumps(event))

    async def stream(self, pcm: np.ndarray, *, chunk_ms: int = 40, realtime: bool = True) -> None:
        step = 24 * chunk_ms
        start = time.monotonic()
        for n, i in enumerate(range(0, len(pcm), step)):
            await self.send(append_event(pcm[i : i + step]))
            if realtime:
                delay = start + (n + 1) * chunk_ms / 1000 - time.monotonic()
                await asyncio.sleep(max(delay, 0))


class connect:
    def __init__(self, url: str, **kwargs: Any) -> None:
        self.url, self.kwargs = url, kwargs

    async def __aenter__(self) -> Client:
        self._ws = await websockets.connect(self.url, max_size=None, **self.kwargs)
        self.client = Client(self._ws)
        self._task = asyncio.create_task(self.client.reader())
        return self.client

    async def __aexit__(self, *exc: object) -> None:
        await self._ws.close()
        self._task.cancel()
        await asyncio.gather(self._task, return_exceptions=True)
