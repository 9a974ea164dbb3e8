"""Audio for WebRTC calls: a paced outbound track fed from a playout buffer, and the
decoder that turns received frames into the session's PCM.

`PlayoutBuffer` is pure: tagged PCM segments in, fixed-size blocks out, each block saying
which segments started in it.  `PcmTrack` hands the sender one 20 ms frame at 48 kHz per
20 ms of wall time (silence when the buffer is empty), so `flush()` silences the voice at
once.  Positions on the track are counted in 48 kHz samples from its first frame.
When the event loop stalls, the track keeps the audio and drops the lost time, so it falls
behind a producer paced by the wall clock: producers wait in `wait_room()` before the
buffer's hard bound would cut audio they already handed over.
"""

from __future__ import annotations

import asyncio
import fractions
import logging
import time
from collections import deque
from collections.abc import Awaitable, Callable, Hashable
from dataclasses import dataclass

import av
import numpy as np
from aiortc.mediastreams import AudioStreamTrack, MediaStreamError

from ...speech.audio import StreamResampler, float_to_int16, int16_to_float

PCM_RATE = 24000  # the session's audio, both ways
TRACK_RATE = 48000  # what Opus carries
FRAME_MS = 20
FRAME = TRACK_RATE * FRAME_MS // 1000  # samples per outbound frame
BLOCK = PCM_RATE * FRAME_MS // 1000  # 24 kHz samples taken from the buffer at a time
RESYNC_S = 0.2  # later than this, the track restarts its clock instead of bursting frames
TIME_BASE = fractions.Fraction(1, TRACK_RATE)

log = logging.getLogger(__name__)

Tag = Hashable


@dataclass(slots=True)
class _Segment:
    pcm: np.ndarray  # int16 at PCM_RATE
    tag: Tag
    pos: int = 0


class PlayoutBuffer:
    """PCM waiting for the track, in tagged segments.  Bounded: past `capacity` samples the
    oldest audio is dropped and counted (a segment cut at its head reports no start)."""

    def __init__(self, capacity: int) -> None:
        self.capacity = capacity
        self._segments: deque[_Segment] = deque()
        self.queued = 0
        self.dropped = 0

    def push(self, pcm: np.ndarray, tag: Tag = None) -> None:
        if len(pcm) == 0:
            return
        self._segments.append(_Segment(pcm, tag))
        self.queued += len(pcm)
        while self.queued > self.capacity:
            head = self._segments[0]
            cut = min(self.queued - self.capacity, len(head.pcm) - head.pos)
            head.pos += cut
            self.queued -= cut
            self.dropped += cut
            if head.pos >= len(head.pcm):
                self._segments.popleft()

    def take(self, n: int) -> tuple[np.ndarray, list[tuple[Tag, int]]]:
        """The next `n` samples (silence past the end), and `(tag, index)` for every segment
        whose first sample is in them."""
        out = np.zeros(n, np.int16)
        starts: list[tuple[Tag, int]] = []
        filled = 0
        while filled < n and self._segments:
            seg = self._segments[0]
            if seg.pos == 0:
                starts.append((seg.tag, filled))
            k = min(n - filled, len(seg.pcm) - seg.pos)
            out[filled : filled + k] = seg.pcm[seg.pos : seg.pos + k]
            seg.pos += k
            filled += k
            self.queued -= k
            if seg.pos >= len(seg.pcm):
                self._segments.popleft()
        return out, starts

    def flush(self, match: Callable[[Tag], bool] | None = None) -> int:
        """Drop the queued audio (only the segments `match` picks, if given); returns the
        number of samples dropped."""
        kept = deque(s for s in self._segments if match is not None and not match(s.tag))
        before = self.queued
        self._segments = kept
        self.queued = sum(len(s.pcm) - s.pos for s in kept)
        return before - self.queued


class PcmTrack(AudioStreamTrack):
    """An outbound audio track: 20 ms mono frames at 48 kHz, paced by the clock.

    `on_start(tag, sample)` is called when a segment's first sample enters the track, with
    the track position (48 kHz samples from the first frame) at which it will play;
    `on_drain()` when the buffer runs empty.  Both are called inside `recv()`: keep them quick.
    """

    def __init__(
        self,
        *,
        on_start: Callable[[Tag, int], None] | None = None,
        on_drain: Callable[[], None] | None = None,
        capacity_ms: int = 3000,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    ) -> None:
        super().__init__()
        self.buffer = PlayoutBuffer(PCM_RATE * capacity_ms // 1000)
        self._on_start, self._on_drain = on_start, on_drain
        self._clock, self._sleep = clock, sleep
        self._resampler = StreamResampler(PCM_RATE, TRACK_RATE)
        self._out = np.zeros(0, np.float32)  # resampled audio not yet handed out
        self._fed = 0  # PCM_RATE samples fed to the current resampler
        self._origin = 0  # track position of the current resampler's first output
        self._t0: float | None = None
        self._room = asyncio.Event()
        self.frames = 0  # frames handed out

    def push(self, pcm: np.ndarray, tag: Tag = None) -> None:
        """Queue PCM16 at 24 kHz; never waits (past the capacity the oldest audio is cut)."""
        dropped = self.buffer.dropped
        self.buffer.push(pcm, tag)
        if self.buffer.dropped > dropped:
            log.warning(
                "outbound track overflowed: %d ms of audio dropped",
                1000 * (self.buffer.dropped - dropped) // PCM_RATE,
            )

    async def wait_room(self, limit_ms: int) -> None:
        """Return once at most `limit_ms` of audio waits in the buffer."""
        limit = PCM_RATE * limit_ms // 1000
        while self.buffer.queued > limit and self.readyState == "live":
            self._room.clear()
            await self._room.wait()

    def flush(self, match: Callable[[Tag], bool] | None = None) -> int:
        """Drop queued audio; with no `match`, also silence what is already resampled, so the
        voice stops within one frame.  Returns the 24 kHz samples dropped."""
        dropped = self.buffer.flush(match)
        if match is None:
            # Silence what is resampled, and restart the resampler so none of the old audio
            # inside its filter comes out; the new one's output follows the silence.
            self._out = np.zeros(len(self._out), np.float32)
            self._origin = self.position + len(self._out)
            self._resampler = StreamResampler(PCM_RATE, TRACK_RATE)
            self._fed = 0
        return dropped

    def stop(self) -> None:
        super().stop()
        self._room.set()  # nobody will take audio any more: let waiting producers go

    @property
    def position(self) -> int:
        """Track position of the next frame to go out."""
        return self.frames * FRAME

    async def recv(self) -> av.AudioFrame:
        if self.readyState != "live":
            raise MediaStreamError
        now = self._clock()
        if self._t0 is None:
            self._t0 = now
        else:
            due = self._t0 + self.frames * FRAME_MS / 1000
            if now - due > RESYNC_S:  # the loop stalled: keep the audio, drop the lost time
                self._t0 = now - self.frames * FRAME_MS / 1000
            elif due > now:
                await self._sleep(due - now)
        while len(self._out) < FRAME:
            self._feed()
        pcm, self._out = self._out[:FRAME], self._out[FRAME:]
        self._room.set()
        frame = av.AudioFrame.from_ndarray(
            float_to_int16(pcm).reshape(1, -1), format="s16", layout="mono"
        )
        frame.sample_rate = TRACK_RATE
        frame.pts = self.frames * FRAME
        frame.time_base = TIME_BASE
        self.frames += 1
        return frame

    def _feed(self) -> None:
        had_audio = self.buffer.queued > 0
        block, starts = self.buffer.take(BLOCK)
        if self._on_start is not None:
            for tag, index in starts:
                # The resampler's output k plays input sample k/2, counted from its first.
                self._on_start(tag, self._origin + 2 * (self._fed + index))
        if had_audio and self.buffer.queued == 0 and self._on_drain is not None:
            self._on_drain()
        self._fed += BLOCK
        self._out = np.concatenate([self._out, self._resampler.process(int16_to_float(block))])


class MicDecoder:
    """Decoded WebRTC frames (any rate, layout and sample format) -> PCM16 mono at 24 kHz."""

    def __init__(self, rate: int = PCM_RATE) -> None:
        self.rate = rate
        self._resampler: StreamResampler | None = None

    def feed(self, frame: av.AudioFrame) -> np.ndarray:
        data = frame.to_ndarray()
        channels = len(frame.layout.channels)
        if frame.format.is_planar:
            mono = data.reshape(channels, -1).mean(axis=0)
        else:
            mono = data.reshape(-1, channels).mean(axis=1)
        if data.dtype.kind in "iu":  # integer samples: scale to [-1, 1)
            mono = mono / float(1 << (8 * data.dtype.itemsize - 1))
        if self._resampler is None or self._resampler.src_rate != frame.sample_rate:
            self._resampler = StreamResampler(frame.sample_rate, self.rate)
        return float_to_int16(self._resampler.process(mono.astype(np.float32)))
