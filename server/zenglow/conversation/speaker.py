"""Speaker: paced, bounded outbound audio that knows how much the listener has heard.

Audio is released in small frames at real time, at most `lead_ms` ahead of the estimated
play position, so that `clear()` stops the voice at once and the played position is known.
Producers block in `play()` while more than `capacity_ms` waits unreleased: a slow client
slows the TTS, which slows the chat model.

`played` keeps the released audio where the listener plays it: the echo canceller's
reference.  `pause()` stops releasing (the reply waits, e.g. while the user might only be
saying "mm-hm") and `resume()` goes on from there.
"""

from __future__ import annotations

import asyncio
import time
from collections import deque
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

import numpy as np

from ..engines.base import VisemeCue
from ..speech.echo import PlayedAudio
from .events import AudioOut


@dataclass(slots=True)
class _Chunk:
    response_id: str
    item_id: str
    pcm: np.ndarray  # int16
    cues: tuple[VisemeCue, ...]
    pos: int = 0  # samples already released


class Speaker:
    def __init__(
        self,
        emit: Callable[[AudioOut], Awaitable[None]],
        *,
        sample_rate: int = 24000,
        lead_ms: int = 300,
        frame_ms: int = 40,
        capacity_ms: int = 1500,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    ) -> None:
        self._emit = emit
        self.sample_rate = sample_rate
        self._lead = sample_rate * lead_ms // 1000
        self._frame = sample_rate * frame_ms // 1000
        self._capacity = sample_rate * capacity_ms // 1000
        self._clock, self._sleep = clock, sleep
        self._queue: deque[_Chunk] = deque()
        self._queued = 0  # unreleased samples
        self._response: str | None = None  # the response whose audio is going out
        self._released = 0  # samples of that response released so far
        self._played = 0.0  # estimated samples of it played (<0: earlier audio still playing)
        self._last_tick: float | None = None
        self._first_release: dict[str, float] = {}
        self._held: set[str] = set()  # responses whose audio waits for `release()`
        self._space = asyncio.Event()
        self._wake = asyncio.Event()
        self.paused = False
        self.played = PlayedAudio(sample_rate)

    # --- producer side -------------------------------------------------------------

    async def play(
        self, response_id: str, item_id: str, pcm: np.ndarray, cues: tuple[VisemeCue, ...] = ()
    ) -> None:
        """Queue a chunk; waits while the queue holds more than the capacity."""
        while self._queued >= self._capacity:
            self._space.clear()
            await self._space.wait()
        self._queue.append(_Chunk(response_id, item_id, pcm, cues))
        self._queued += len(pcm)
        self._wake.set()

    def clear(self) -> float:
        """Drop everything not yet released; returns the ms played of the newest response
        (0 when none of its audio has gone out yet)."""
        self._tick()
        played = self.played_ms(self._queue[-1].response_id if self._queue else None)
        self._queue.clear()
        self._queued = 0
        self.paused = False
        self.played.cut(self._clock())
        # What was sent beyond the play position is flushed by the client.
        self._released = max(0, int(self._played))
        self._played = float(self._released)
        self._space.set()
        return played

    def hold(self, response_id: str) -> None:
        """Queue this response's audio but send none of it until `release()`."""
        self._held.add(response_id)

    def release(self, response_id: str) -> None:
        self._held.discard(response_id)
        self._wake.set()

    def pause(self) -> None:
        """Release nothing more until `resume()` (what was released still plays)."""
        self.paused = True

    def resume(self) -> None:
        self.paused = False
        self._wake.set()

    def discard(self, response_id: str) -> None:
        """Drop the queued (unreleased) audio of one response, e.g. an unconfirmed reply."""
        self._held.discard(response_id)
        kept = [c for c in self._queue if c.response_id != response_id]
        if len(kept) != len(self._queue):
            self._queue = deque(kept)
            self._queued = sum(len(c.pcm) - c.pos for c in kept)
            self._space.set()

    # --- position --------------------------------------------------------------------

    def played_ms(self, response_id: str | None = None) -> float:
        if response_id is not None and response_id != self._response:
            return 0.0
        return 1000.0 * max(self._played, 0.0) / self.sample_rate

    def released_ms(self) -> float:
        return 1000.0 * self._released / self.sample_rate

    def first_release_at(self, response_id: str) -> float | None:
        return self._first_release.get(response_id)

    @property
    def busy(self) -> bool:
        """True while audio waits or is still playing at the listener."""
        return (
            any(c.response_id not in self._held for c in self._queue)
            or self._played < self._released
        )

    async def wait_released(self, response_id: str) -> None:
        """Return once every queued chunk of `response_id` has gone out."""
        while any(c.response_id == response_id for c in self._queue):
            await self._sleep(self._frame / self.sample_rate)

    async def wait_played(self, response_id: str) -> None:
        """Return once all queued audio of `response_id` has been played out."""
        while any(c.response_id == response_id for c in self._queue) or (
            self._response == response_id and self._played < self._released
        ):
            await self._sleep(self._frame / self.sample_rate)

    # --- pacing ----------------------------------------------------------------------

    def _tick(self) -> None:
        now = self._clock()
        if self._last_tick is not None:
            elapsed = (now - self._last_tick) * self.sample_rate
            self._played = min(float(self._released), self._played + elapsed)
        self._last_tick = now

    async def _release_due(self) -> None:
        while self._queue and self._released - self._played < self._lead and not self.paused:
            chunk = self._queue[0]
            if chunk.response_id in self._held:
                break
            if chunk.response_id != self._response:
                # The listener still has the previous response's unplayed audio to hear first.
                backlog = max(0.0, self._released - self._played)
                self._response, self._released, self._played = chunk.response_id, 0, -backlog
                self._first_release[chunk.response_id] = self._clock()
            frame = chunk.pcm[chunk.pos : chunk.pos + self._frame]
            ahead = max(0.0, self._released - self._played) / self.sample_rate
            self.played.add(self._clock() + ahead, frame)
            cues = chunk.cues if chunk.pos == 0 else ()
            offset_ms = 1000.0 * self._released / self.sample_rate
            chunk.pos += len(frame)
            self._released += len(frame)
            self._queued -= len(frame)
            if chunk.pos >= len(chunk.pcm):
                self._queue.popleft()
            self._space.set()
            await self._emit(
                AudioOut(chunk.response_id, chunk.item_id, frame.tobytes(), offset_ms, cues)
            )
            self._tick()

    async def run_loop(self) -> None:
        """Release audio at real time for as long as the session lives."""
        period = self._frame / self.sample_rate
        while True:
            if not self.busy:
                self._wake.clear()
                await self._wake.wait()
                self._last_tick = None
            self._tick()
            await self._release_due()
            await self._sleep(period / 2)
