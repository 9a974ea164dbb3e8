"""An aiortc client peer, the way a browser calls: an audio transceiver and the `oai-events`
data channel in the offer, the offer POSTed, the answer set.

The microphone is a `PcmTrack` (speech pushed into it plays at real time, silence between);
every frame of the server's voice is kept as it came (48 kHz, mixed to mono) with its
arrival time and RTP-relative `pts`.
"""

from __future__ import annotations

import asyncio
import json
import time
from dataclasses import dataclass
from typing import Any

import httpx
import numpy as np
from aiortc import RTCConfiguration, RTCPeerConnection, RTCSessionDescription
from aiortc.mediastreams import MediaStreamError, MediaStreamTrack

from zenglow.transports.webrtc.media import PcmTrack

from .server import EventLog


@dataclass(frozen=True)
class Heard:
    at: float  # monotonic arrival time
    pts: int  # 48 kHz samples from the first RTP packet received
    pcm: np.ndarray  # int16 mono at 48 kHz, the frame's own samples


class Peer(EventLog):
    def __init__(self, *, audio: bool = True, channel: bool = True) -> None:
        super().__init__()
        self.pc = RTCPeerConnection(RTCConfiguration(iceServers=[]))
        self.mic = PcmTrack(capacity_ms=30000)
        if audio:
            self.pc.addTrack(self.mic)
        self.channel = self.pc.createDataChannel("oai-events") if channel else None
        self.opened = asyncio.Event()
        self.heard: list[Heard] = []
        self.remote: MediaStreamTrack | None = None
        self.location: str | None = None
        self._tasks: list[asyncio.Task[None]] = []
        if self.channel is not None:
            self.channel.on("open", self.opened.set)
            self.channel.on("message", self._on_message)
        self.pc.on("track", self._on_track)

    def _on_message(self, raw: str | bytes) -> None:
        self.record(raw)

    def _on_track(self, track: MediaStreamTrack) -> None:
        self.remote = track
        self._tasks.append(asyncio.create_task(self._listen(track)))

    async def _listen(self, track: MediaStreamTrack) -> None:
        while True:
            try:
                frame = await track.recv()
            except MediaStreamError:
                return
            assert frame.format.name == "s16" and frame.sample_rate == 48000  # type: ignore[union-attr]
            channels = len(frame.layout.channels)  # type: ignore[union-attr]
            pcm = frame.to_ndarray().reshape(-1, channels).mean(axis=1).astype(np.int16)  # type: ignore[union-attr]
            self.heard.append(Heard(time.monotonic(), int(frame.pts or 0), pcm))

    async def offer(self) -> str:
        await self.pc.setLocalDescription(await self.pc.createOffer())
        return self.pc.localDescription.sdp

    async def call(
        self, base_url: str, *, query: str = "?extensions=zenglow", **post: Any
    ) -> httpx.Response:
        """POST the offer (as application/sdp unless `post` says otherwise); on 201 set the
        answer and wait for the events channel to open.  The query asks for the zenglow.*
        events unless told otherwise."""
        sdp = await self.offer()
        if not post:
            post = {"content": sdp, "headers": {"content-type": "application/sdp"}}
        else:
            post = {k: v(sdp) if callable(v) else v for k, v in post.items()}
        async with httpx.AsyncClient(base_url=base_url, timeout=60) as http:
            resp = await http.post(f"/v1/realtime/calls{query}", **post)
        if resp.status_code == 201:
            self.location = resp.headers["location"]
            await self.pc.setRemoteDescription(RTCSessionDescription(resp.text, "answer"))
            if self.channel is not None:
                await asyncio.wait_for(self.opened.wait(), 30)
        return resp

    async def hang_up(self, base_url: str) -> httpx.Response:
        assert self.location is not None
        async with httpx.AsyncClient(base_url=base_url, timeout=60) as http:
            return await http.delete(self.location)

    async def close(self) -> None:
        await self.pc.close()
        for t in self._tasks:
            t.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)

    def send(self, event: dict[str, Any] | str) -> None:
        assert self.channel is not None
        self.channel.send(event if isinstance(event, str) else json.dumps(event))

    def time_of(self, event: dict[str, Any]) -> float:
        return self.times[next(i for i, e in enumerate(self.events) if e is event)]

    def audio(self, start: float = 0.0, end: float = float("inf")) -> np.ndarray:
        """The server's voice that arrived between two monotonic times (48 kHz int16)."""
        parts = [h.pcm for h in self.heard if start <= h.at < end]
        return np.concatenate(parts) if parts else np.zeros(0, np.int16)


def rms(pcm: np.ndarray) -> float:
    """Root-mean-square level, as a fraction of full scale."""
    if len(pcm) == 0:
        return 0.0
    return float(np.sqrt(np.mean((pcm.astype(np.float64) / 32768.0) ** 2)))


def speech_frames(peer: Peer, level: float = 0.003) -> list[Heard]:
    return [h for h in peer.heard if rms(h.pcm) > level]
