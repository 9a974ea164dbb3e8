"""What the listener heard from us, and when: the far-end reference for echo cancellation.

The server knows which reply audio it sent and when the listener plays it (the Speaker
paces it at real time), so it can tell an echo canceller what the microphone may be
hearing of it.  Both sides are placed on one wall clock:

- `PlayedAudio`: reply audio on the listener's play clock (where each released frame
  starts to play), trimmed when a barge-in flushes what was not played.
- `MicClock`: where a microphone sample was captured, from when its chunks arrived.  The
  earliest arrival seen (least network delay) anchors the mapping; a long gap in the input
  (a muted track, a stalled client) re-anchors it.

An echo canceller (WebRTC's AEC3) finds the remaining delay itself, within a few hundred
milliseconds, so the reference need only be placed no later than the echo.
"""

from __future__ import annotations

from collections import deque

import numpy as np


class PlayedAudio:
    """Reply audio placed where the listener plays it, kept for `keep_s` of wall time."""

    def __init__(self, sample_rate: int, keep_s: float = 5.0) -> None:
        self.sample_rate = sample_rate
        self._keep_s = keep_s
        self._frames: deque[tuple[float, np.ndarray]] = deque()  # (play start, int16 pcm)

    def add(self, start: float, pcm: np.ndarray) -> None:
        self._frames.append((start, pcm))
        while self._frames and self._frames[0][0] < start - self._keep_s:
            self._frames.popleft()

    def cut(self, at: float) -> None:
        """Nothing plays after `at` (the listener flushed the rest)."""
        while self._frames and self._frames[-1][0] >= at:
            self._frames.pop()
        if self._frames:
            start, pcm = self._frames[-1]
            keep = max(0, int((at - start) * self.sample_rate))
            if keep < len(pcm):
                self._frames[-1] = (start, pcm[:keep])

    def last_end(self) -> float | None:
        """Wall time the last audio ends playing (None: nothing kept)."""
        if not self._frames:
            return None
        start, pcm = self._frames[-1]
        return start + len(pcm) / self.sample_rate

    def between(self, t0: float, t1: float, rate: int) -> np.ndarray:
        """What played over [t0, t1), as float32 at `rate` (silence where nothing did)."""
        n = max(0, round((t1 - t0) * rate))
        out = np.zeros(n, np.float32)
        if n == 0:
            return out
        step = self.sample_rate / rate  # source samples per output sample
        for start, pcm in self._frames:
            end = start + len(pcm) / self.sample_rate
            if end <= t0 or start >= t1:
                continue
            a = max(0, int(np.ceil((start - t0) * rate)))
            b = min(n, int(np.floor((end - t0) * rate)))
            if b <= a:
                continue
            src = ((np.arange(a, b) + t0 * rate - start * rate) * step).astype(np.int64)
            src = np.clip(src, 0, len(pcm) - 1)
            out[a:b] = pcm[src] / 32768.0
        return out


class MicClock:
    """Wall time of each microphone sample, from chunk arrivals (rate: samples per second)."""

    def __init__(self, rate: int, regap_s: float = 0.5, drift: float = 1e-3) -> None:
        self.rate = rate
        self._regap = regap_s
        self._drift = drift  # how fast the anchor may move later (clock drift, jitter)
        self._anchor: float | None = None  # wall time of sample 0
        self._last: float | None = None
        self._samples = 0

    def arrived(self, n: int, at: float) -> tuple[float, float]:
        """`n` samples arrived at wall time `at`; returns where they were captured (t0, t1)."""
        self._samples += n
        start = at - self._samples / self.rate
        if self._anchor is None or (self._last is not None and at - self._last > self._regap):
            self._anchor = start
        elif start < self._anchor:
            self._anchor = start  # a faster arrival: less delay than we thought
        elif self._last is not None:
            self._anchor = min(start, self._anchor + self._drift * (at - self._last))
        self._last = at
        t1 = self._anchor + self._samples / self.rate
        return t1 - n / self.rate, t1
