"""The `oai-events` data channel of a WebRTC call: Realtime JSON both ways.

Outbound policy: a bounded queue of encoded events.  Until the client's channel opens, and
after it closes, the oldest waiting events are dropped when it is full (a call without the
channel still talks); while it is open, producers wait for room, and the sender waits while
the channel's own buffer is over `HIGH_WATER`, so a slow client slows the session as it does
on the WebSocket.  Inbound: messages wait in a bounded inbox for the call's receive loop;
past its size they are refused with an `error` event.
"""

from __future__ import annotations

import asyncio
import json
from typing import TYPE_CHECKING, Any, Literal

from ...conversation import events as ev
from ..realtime.encoder import RealtimeEncoder

if TYPE_CHECKING:
    from aiortc import RTCDataChannel

Json = dict[str, Any]

OUTBOX = 256  # encoded events waiting for the channel
INBOX = 256  # client messages waiting to be handled
HIGH_WATER = 1 << 20  # bytes the channel may hold unsent before the sender waits
LOW_WATER = 256 << 10


class EventChannel:
    def __init__(self, encoder: RealtimeEncoder, *, size: int = OUTBOX) -> None:
        self.encoder = encoder
        self.queue: asyncio.Queue[Json] = asyncio.Queue(size)
        self.inbox: asyncio.Queue[str | bytes] = asyncio.Queue(INBOX)
        self.channel: RTCDataChannel | None = None
        self.state: Literal["waiting", "open", "closed"] = "waiting"
        self.dropped = 0  # outbound events dropped while the channel was not open
        self.refused = 0  # inbound messages refused because the inbox was full
        self._opened = asyncio.Event()
        self._low = asyncio.Event()

    # --- outbound ---------------------------------------------------------------------

    async def __call__(self, wire: list[Json]) -> None:
        for msg in wire:
            if self.state == "open":
                await self.queue.put(msg)
            else:
                self.put_nowait(msg)

    async def emit(self, event: ev.SessionEvent) -> None:
        await self(self.encoder.encode(event))

    def put_nowait(self, msg: Json) -> None:
        """Queue without waiting (audio-clock events): when full, the oldest is dropped."""
        if self.queue.full():
            self.queue.get_nowait()
            self.dropped += 1
        self.queue.put_nowait(msg)

    async def send_loop(self) -> None:
        await self._opened.wait()
        while True:
            msg = await self.queue.get()
            channel = self.channel
            if self.state != "open" or channel is None:
                self.dropped += 1
                continue
            while channel.bufferedAmount > HIGH_WATER and self.state == "open":
                self._low.clear()
                await self._low.wait()
            if self.state == "open":
                channel.send(json.dumps(msg, separators=(",", ":")))

    # --- the channel ------------------------------------------------------------------

    def attach(self, channel: RTCDataChannel) -> None:
        self.channel = channel
        channel.bufferedAmountLowThreshold = LOW_WATER
        channel.on("message", self._on_message)
        channel.on("bufferedamountlow", self._low.set)
        channel.on("close", self._on_close)
        if channel.readyState == "open":
            self._on_open()
        else:
            channel.on("open", self._on_open)

    def _on_open(self) -> None:
        self.state = "open"
        self._opened.set()

    def _on_close(self) -> None:
        self.state = "closed"
        self._opened.set()
        self._low.set()
        while not self.queue.empty():  # producers waiting for room go on
            self.queue.get_nowait()
            self.dropped += 1

    def _on_message(self, raw: str | bytes) -> None:
        try:
            self.inbox.put_nowait(raw)
        except asyncio.QueueFull:
            self.refused += 1
            out = self.encoder.out
            self.put_nowait(
                out.error(
                    "too_many_events",
                    f"more than {INBOX} events are waiting to be handled: this one was dropped",
                )
            )
