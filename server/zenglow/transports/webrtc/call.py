"""One WebRTC call: a peer connection, a Session, the voice track and the events channel.

Audio in: the client's Opus track -> `MicDecoder` -> `Session.append_audio` (never waits).
Audio out: the Session's `AudioOut` -> `PcmTrack`, flushed at once when the reply is
interrupted.  Events: the same Realtime JSON as the WebSocket, on the `oai-events` data
channel, except that reply audio travels on the track instead of in `...audio.delta` events.
"""

from __future__ import annotations

import asyncio
import logging
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np
from aiortc import RTCConfiguration, RTCPeerConnection, RTCRtpSender, RTCSessionDescription
from aiortc.mediastreams import MediaStreamError, MediaStreamTrack

from ...conversation import events as ev
from ...conversation.session import Session
from ...engines.base import VisemeCue
from ...settings import Settings
from ...speech.audio import pcm16_from_bytes
from ..commands import handle_message
from ..door.limits import EventGate
from ..realtime.encoder import RealtimeEncoder
from .channel import EventChannel
from .media import FRAME, PCM_RATE, TRACK_RATE, MicDecoder, PcmTrack

if TYPE_CHECKING:
    from aiortc import RTCDataChannel

    from ...engines.loader import Engines
    from ...storage import ConversationLog

log = logging.getLogger(__name__)

EVENTS_CHANNEL = "oai-events"
CONNECT_TIMEOUT_S = 30.0  # from the answer to a connected peer
CLOSE_TIMEOUT_S = 10.0
# The session's speaker runs about 300 ms ahead of the wall clock; past this much audio waiting
# for the track (it fell behind after a stalled loop), the speaker waits instead of the track
# cutting audio it was given.
TRACK_BACKLOG_MS = 1000
MIC_GAP_S = 0.25  # no microphone frame for this long: the time counts as silence


@dataclass(frozen=True, slots=True)
class _Audio:
    """What the voice track knows about a piece of reply audio."""

    response_id: str
    item_id: str
    offset_ms: float
    cues: tuple[VisemeCue, ...]


class _Ended(Exception):
    pass


def rtp_origin(sender: RTCRtpSender) -> int | None:
    """The RTP timestamp of the track's first frame, or None before a packet went out.

    aiortc stamps an Opus stream's n-th packet `origin + 960 n` (one packet per 20 ms frame)
    from a random origin it keeps to itself; it is read back from the last packet sent.
    """
    last = getattr(sender, "_RTCRtpSender__rtp_timestamp", None)
    sent = getattr(sender, "_RTCRtpSender__packet_count", None)
    if not isinstance(last, int) or not isinstance(sent, int) or sent == 0:
        return None
    return (last - FRAME * (sent - 1)) % (1 << 32)


class Call:
    def __init__(
        self,
        engines: Engines,
        config: RTCConfiguration,
        *,
        persona: str | None,
        max_message_bytes: int,
        settings: Settings,
        owner: str = "",
        extensions: bool = False,  # the client asked for the zenglow.* events
        conversation: ConversationLog | None = None,  # where its items are kept
    ) -> None:
        self.id = f"rtc_{uuid.uuid4().hex[:20]}"
        self.owner = owner  # who may hang it up
        self.settings = settings
        self.gate = EventGate(settings.limits)
        self.last_heard = time.monotonic()  # the client's last event or microphone frame
        self.pc = RTCPeerConnection(config)
        self.events = EventChannel(RealtimeEncoder(extensions=extensions))
        self.conversation = conversation
        emit = conversation.wrap(self._emit) if conversation else self._emit
        self.session = Session(engines, emit, persona=persona)
        if conversation:
            conversation.attach(self.session.items)
        self.voice = PcmTrack(on_start=self._on_audio_start, on_drain=self._on_drain)
        self.max_message_bytes = max_message_bytes
        self.ended = asyncio.Event()
        self.reason = ""
        self.task: asyncio.Task[None] | None = None
        self._on_end: Callable[[Call], None] = lambda _call: None
        self._settled = asyncio.Event()  # connected, or ended before that
        self._mic: MediaStreamTrack | None = None
        self._unused: list[MediaStreamTrack] = []  # other incoming tracks (video, ...)
        self._sender: RTCRtpSender | None = None
        self._rtp_origin: int | None = None
        self._started = False  # the session announced itself
        self._playing: str | None = None  # response whose audio is on the track
        self._done: str | None = None  # the latest response that finished
        self.pc.on("track", self._on_track)
        self.pc.on("datachannel", self._on_datachannel)
        self.pc.on("connectionstatechange", self._on_connection_state)

    # --- setup --------------------------------------------------------------------------

    async def answer(self, offer_sdp: str) -> str:
        """Take the client's offer and return the answer SDP (ValueError if unusable).

        aiortc raises many kinds of error (some of them AttributeErrors) for offers it
        cannot negotiate; every one of them is the offer's fault, and a 400."""
        try:
            await self.pc.setRemoteDescription(RTCSessionDescription(offer_sdp, "offer"))
            self._sender = self.pc.addTrack(self.voice)
            await self.pc.setLocalDescription(await self.pc.createAnswer())
        except Exception as exc:
            log.info("call %s: cannot answer the offer", self.id, exc_info=True)
            raise ValueError(str(exc) or type(exc).__name__) from exc
        return self.pc.localDescription.sdp

    def start(self, on_end: Callable[[Call], None]) -> None:
        self.task = asyncio.create_task(self.run(), name=f"call {self.id}")
        self.task.add_done_callback(self._finished)
        self._on_end = on_end

    def _finished(self, task: asyncio.Task[None]) -> None:
        self._on_end(self)
        if not task.cancelled() and task.exception() is not None:
            log.error("call %s failed", self.id, exc_info=task.exception())

    def end(self, reason: str) -> None:
        if not self.ended.is_set():
            self.reason = reason
            self.ended.set()
            self._settled.set()

    # --- the call -----------------------------------------------------------------------

    async def run(self) -> None:
        try:
            async with asyncio.TaskGroup() as tg:
                tg.create_task(self.session.run(), name="session")
                tg.create_task(self.events.send_loop(), name="send")
                tg.create_task(self._receive_loop(), name="receive")
                if self._mic is not None:
                    tg.create_task(self._mic_loop(self._mic), name="mic")
                for track in self._unused:
                    tg.create_task(self._discard_loop(track), name="discard")
                tg.create_task(self._watch(), name="watch")
        except* _Ended:
            log.info("call %s ended: %s", self.id, self.reason)
        finally:
            await self.close()

    async def close(self) -> None:
        self.end(self.reason or "closed")
        await self.session.close()
        if self.conversation:
            await self.conversation.flush()
        self.voice.stop()
        try:
            async with asyncio.timeout(CLOSE_TIMEOUT_S):
                await self.pc.close()
        except TimeoutError:
            log.warning("call %s: the peer connection did not close in time", self.id)
        except Exception:  # aiortc cannot close some half-negotiated connections cleanly
            log.warning("call %s: closing the peer connection failed", self.id, exc_info=True)

    async def _watch(self) -> None:
        try:
            async with asyncio.timeout(CONNECT_TIMEOUT_S):
                await self._settled.wait()
        except TimeoutError:
            self.end("the client did not connect in time")
        idle_s = self.settings.server.idle_timeout_s
        while not self.ended.is_set():
            quiet = time.monotonic() - self.last_heard
            if quiet >= idle_s:
                self.end(f"nothing heard from the client for {idle_s:g} s")
                break
            try:
                async with asyncio.timeout(idle_s - quiet):
                    await self.ended.wait()
            except TimeoutError:
                pass
        raise _Ended

    async def _mic_loop(self, track: MediaStreamTrack) -> None:
        """The microphone track into the session.  When no frame comes for `MIC_GAP_S` (the
        client paused or ended its track, or the network stalls), the time without audio
        reaches the turn detector as silence, so a turn in progress ends as it would in a
        quiet room; enough is filled in to end one, no more."""
        decoder = MicDecoder()
        live, filled = True, 0.0
        while True:
            frame = None
            if live:
                try:
                    async with asyncio.timeout(MIC_GAP_S):
                        frame = await track.recv()
                except TimeoutError:
                    pass
                except MediaStreamError:
                    live = False  # the client stopped sending
            if frame is not None:
                filled = 0.0
                self.last_heard = time.monotonic()
                self.session.append_audio(decoder.feed(frame))  # type: ignore[arg-type]
                continue
            td = self.session.config.turn_detection
            if td is None or filled >= td.longest_pause_s + MIC_GAP_S:
                if not live:
                    return
                continue
            if not live:
                await asyncio.sleep(MIC_GAP_S)
            filled += MIC_GAP_S
            self.session.append_audio(np.zeros(round(PCM_RATE * MIC_GAP_S), np.int16))

    async def _discard_loop(self, track: MediaStreamTrack) -> None:
        """Read and drop a track the call does not use, so its frames do not pile up."""
        while True:
            try:
                await track.recv()
            except MediaStreamError:
                return

    async def _receive_loop(self) -> None:
        while True:
            raw = await self.events.inbox.get()
            self.last_heard = time.monotonic()
            await handle_message(
                raw, self.session, self.events, max_bytes=self.max_message_bytes, gate=self.gate
            )

    async def shut_down(self, reason: str, grace_s: float) -> None:
        """The server is going: tell the client, let the reply finish, hang up."""
        out = self.events.encoder.out
        await self.events([out.error("server_shutting_down", reason, kind="server_error")])
        await self.session.wait_idle(grace_s)
        self.end(reason)
        if self.task is not None:
            await asyncio.wait([self.task], timeout=CLOSE_TIMEOUT_S)

    # --- peer connection events ---------------------------------------------------------

    def _on_track(self, track: MediaStreamTrack) -> None:
        if track.kind == "audio" and self._mic is None:
            self._mic = track
        else:
            self._unused.append(track)

    def _on_datachannel(self, channel: RTCDataChannel) -> None:
        if channel.label != EVENTS_CHANNEL or self.events.channel is not None:
            log.info("call %s: ignoring data channel %r", self.id, channel.label)
            return
        self.events.attach(channel)

    def _on_connection_state(self) -> None:
        state = self.pc.connectionState
        if state == "connected":
            self._settled.set()
        elif state in ("failed", "closed"):
            self.end(f"connection {state}")

    # --- session -> client --------------------------------------------------------------

    async def _emit(self, e: ev.SessionEvent) -> None:
        match e:
            case ev.AudioOut():
                tag = _Audio(e.response_id, e.item_id, e.offset_ms, e.cues)
                self.voice.push(pcm16_from_bytes(e.pcm), tag)
                await self.voice.wait_room(TRACK_BACKLOG_MS)
                return
            case ev.SessionStarted():
                self._started = True
            case ev.SessionUpdated() if not self._started:
                return  # configured from the offer: `session.created` carries it
            case ev.StateChanged(state="interrupted"):
                self._clear(None)
            case ev.ResponseDone(status="cancelled"):
                self._clear(e.response_id)
            case ev.ResponseDone():
                self._done = e.response_id
                if self._playing == e.response_id and self.voice.buffer.queued == 0:
                    self._on_drain()
        await self.events.emit(e)

    def _clear(self, response_id: str | None) -> None:
        if response_id is None:
            dropped = self.voice.flush()
        else:
            dropped = self.voice.flush(lambda t: getattr(t, "response_id", None) == response_id)
        playing = self._playing
        if playing is not None and (dropped or response_id in (None, playing)):
            self._playing = None
            self._buffer("cleared", playing)

    def _on_audio_start(self, tag: Any, sample: int) -> None:
        if not isinstance(tag, _Audio):
            return
        if tag.response_id != self._playing:
            self._playing = tag.response_id
            self._buffer("started", tag.response_id)
        if tag.cues and self.events.encoder.extensions:
            wire = self.events.encoder.out.visemes(
                tag.response_id, tag.item_id, tag.offset_ms, tag.cues
            )
            wire["track_time_ms"] = round(1000.0 * sample / TRACK_RATE, 1)
            wire["rtp_timestamp"] = self._rtp(sample)
            self.events.put_nowait(wire)

    def _buffer(self, what: str, response_id: str) -> None:
        self.events.put_nowait(self.events.encoder.out.output_audio_buffer(what, response_id))

    def _on_drain(self) -> None:
        if self._playing is not None and self._playing == self._done:
            self._buffer("stopped", self._playing)
            self._playing = None

    def _rtp(self, sample: int) -> int | None:
        if self._rtp_origin is None and self._sender is not None:
            self._rtp_origin = rtp_origin(self._sender)
        return None if self._rtp_origin is None else (self._rtp_origin + sample) % (1 << 32)
