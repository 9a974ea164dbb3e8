"""Acoustic echo cancellation: WebRTC's AEC3, through `pywebrtc-audio`.

One canceller per microphone stream (it adapts to that room and that delay).  `cancel`
takes the microphone and the far-end reference (what the listener was playing of our
replies, `speech.echo.PlayedAudio`) at 16 kHz and returns the microphone without the echo.
While nothing has played for a while there is nothing to cancel and the audio passes
through untouched, so idle sessions cost nothing.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from ..speech.audio import StreamResampler
from ..speech.echo import MicClock, PlayedAudio
from .base import EngineError

SAMPLE_RATE = 16000
FRAME = SAMPLE_RATE // 100  # AEC3 works in 10 ms frames
TAIL_S = 1.0  # echo can linger this long after the last reply audio played


class WebRtcEchoCanceller:
    sample_rate = SAMPLE_RATE

    def __init__(self) -> None:
        try:
            from pywebrtc_audio import EchoCanceller
        except ImportError as exc:
            raise EngineError(
                "echo cancellation needs pywebrtc-audio: pip install pywebrtc-audio"
            ) from exc
        self._aec = EchoCanceller(SAMPLE_RATE)
        self._pending_near = np.zeros(0, np.float32)
        self._pending_far = np.zeros(0, np.float32)
        self._quiet_s = float("inf")  # seconds since the reference last had audio

    def cancel(self, near: np.ndarray, far: np.ndarray) -> np.ndarray:
        """Echo-free microphone audio, as long as `near` (float32; `far` is as long)."""
        if len(near) != len(far):
            raise ValueError(f"near ({len(near)}) and far ({len(far)}) must be as long")
        if np.any(far):
            self._quiet_s = 0.0
        else:
            self._quiet_s += len(far) / SAMPLE_RATE
        if self._quiet_s > TAIL_S:  # nothing played lately: nothing to cancel
            near = np.concatenate([self._pending_near, near]) if len(self._pending_near) else near
            self._pending_near = self._pending_far = np.zeros(0, np.float32)
            return near
        near = np.concatenate([self._pending_near, near])
        far = np.concatenate([self._pending_far, far])
        whole = len(near) // FRAME * FRAME
        self._pending_near, self._pending_far = near[whole:].copy(), far[whole:].copy()
        if whole == 0:
            return np.zeros(0, np.float32)
        out = self._aec.process(
            np.ascontiguousarray(near[:whole], np.float32),
            np.ascontiguousarray(far[:whole], np.float32),
        )
        return np.asarray(out, np.float32)

    def reset(self) -> None:
        self._aec.reset()
        self._pending_near = self._pending_far = np.zeros(0, np.float32)


class EchoPath:
    """One microphone stream's echo cancellation: places each chunk on the wall clock,
    takes what was playing then from `played` as the reference, and cancels it."""

    def __init__(self, played: PlayedAudio, input_rate: int, clock: Callable[[], float]):
        self.played = played
        self.input_rate = input_rate
        self._clock = clock
        self._mic = MicClock(input_rate)
        self._far = StreamResampler(input_rate, SAMPLE_RATE)
        self._canceller = WebRtcEchoCanceller()

    def reference(self, samples: int) -> np.ndarray:
        """The far end for a chunk of `samples` that arrived now (float32, input rate)."""
        t0, t1 = self._mic.arrived(samples, self._clock())
        far = self.played.between(t0, t1, self.input_rate)
        return far[:samples] if len(far) >= samples else np.pad(far, (0, samples - len(far)))

    def cancel(self, near: np.ndarray, far: np.ndarray) -> np.ndarray:
        """`near` at 16 kHz, `far` its reference at the input rate (resampled here)."""
        far16 = self._far.process(far)
        if len(far16) < len(near):
            far16 = np.pad(far16, (len(near) - len(far16), 0))
        return self._canceller.cancel(near, far16[-len(near) :] if len(near) else far16[:0])

    def reset(self) -> None:
        self._canceller.reset()
