"""Acoustic echo cancellation: WebRTC's AEC3, through `pywebrtc-audio`.

One canceller per microphone stream (it adapts to that room and that delay).  `cancel`
takes the microphone and the far-end reference (what the listener was playing of our
replies, `speech.echo.PlayedAudio`) at 16 kHz and returns the microphone without the echo.
While nothing has played for a while there is nothing to cancel and the audio passes
through untouched, so idle sessions cost nothing.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable

import numpy as np

from ..speech.audio import StreamResampler
from ..speech.echo import MicClock, PlayedAudio
from .base import EngineError

SAMPLE_RATE = 16000
FRAME = SAMPLE_RATE // 100  # AEC3 works in 10 ms frames
TAIL_S = 1.0  # echo can linger this long after the last reply audio played
ECHO_WINDOW = 150  # chunks (of about 40 ms) whose loudness is compared
ECHO_EVIDENCE = 25  # chunks with reply audio needed before telling whether echo comes back
ECHO_MAX_LAG = 15  # chunks: how late the echo may follow the reply
ECHO_LATE_S = 0.4  # seconds: the same, for the early level test
ECHO_CORRELATION = 0.5  # of the two loudness curves: the microphone hears the loudspeaker
ECHO_RISE = 0.3  # log10: ... and is twice as loud while the reply is loudest as when quietest
NO_ECHO_CORRELATION = 0.2  # ... below this, and quiet while the reply plays: it does not
QUIET = 4.0  # energy over the microphone's floor (nothing playing) still counted as quiet
FLOOR_CHUNKS = 25  # chunks with nothing playing (nor echoing) needed to know that floor
MOSTLY_ECHO = 0.8  # share of the microphone's energy the canceller took out: our echo
OVER_ECHO = 1.5  # a voice over our echo makes the microphone at least this much louder
ECHO_SPREAD = 4  # chunks: a reply's sound reaches the microphone within this much of its lag
ECHO_LOUDEST = 90  # percentile of the room's echo gain taken as the loudest its echo gets
GAIN_CHUNKS = 40  # chunks with reply audio needed to learn that gain
VOICE = 2.0  # a microphone this much louder than its loudest echo: someone is speaking
ECHO_DIES = 12  # chunks: a room's echo has died away this long after the last sound played
ONLY_ECHO = 1.0  # a microphone no louder than its loudest echo: nothing but our echo


def _rise(far: np.ndarray, mic: np.ndarray) -> float:
    """How much louder (log10 energy) the microphone is in the chunks where the reply is
    loudest (its top third) than where it is quietest (bottom third): an echo follows the
    reply in level, not only in rhythm (a steady noise can match a rhythm by chance)."""
    order = np.argsort(far)
    third = max(1, len(order) // 3)
    return float(np.median(mic[order[-third:]]) - np.median(mic[order[:third]]))


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
            return self.passthrough(near)
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

    def passthrough(self, near: np.ndarray) -> np.ndarray:
        """`near` as it is (after any audio still held for a whole frame)."""
        near = np.concatenate([self._pending_near, near]) if len(self._pending_near) else near
        self._pending_near = self._pending_far = np.zeros(0, np.float32)
        return near

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
        # per chunk: end sample, energy of the microphone, of the reference, after cancelling
        self._energy: deque[tuple[int, float, float, float]] = deque(maxlen=2000)
        self._samples = 0  # 16 kHz samples cancelled so far (the listener's clock)
        self._echo: bool | None = None  # does the microphone hear the reply? (`echo_heard`)
        self._lag = 0  # chunks the echo follows the reply by (learnt with `_echo`)

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
        far16 = far16[-len(near) :] if len(near) else far16[:0]
        e_near, e_far = float(np.sum(near**2)), float(np.sum(far16**2))
        if self.echo_heard():
            out = self._canceller.cancel(near, far16)
        else:  # a client that cancels its own echo: AEC3 would only muffle the user
            out = self._canceller.passthrough(near)
        self._samples += len(out)
        self._energy.append((self._samples, e_near, e_far, float(np.sum(out**2))))
        return out

    def echo_heard(self) -> bool:
        """Does our voice come back in this microphone?  It does when the microphone's
        loudness follows the reply's, a few chunks later (an echo has the reply's rhythm).
        It does not when, besides, the microphone stays near its floor while the reply
        plays (a client that cancels its own echo, headphones).  A user talking over the
        reply breaks the rhythm without making the microphone quiet, so double talk never
        turns a known echo into "no echo": what was learnt stands (the room does not change
        between turns).  Until there is evidence either way the audio passes as it is
        (AEC3 would muffle a user's voice where there is no echo), and speech over a reply
        that may be echo is judged by its words (`conversation/listening.py`)."""
        recent = list(self._energy)[-ECHO_WINDOW:]
        if sum(f > 1e-3 for _, _, f, _ in recent) < ECHO_EVIDENCE:
            return bool(self._echo)
        mic = np.log10([m + 1e-9 for _, m, _, _ in recent])
        far = np.log10([f + 1e-9 for _, _, f, _ in recent])
        best, rise, lag_of_best = 0.0, 0.0, self._lag
        for lag in range(ECHO_MAX_LAG + 1):
            a, b = far[: len(far) - lag], mic[lag:]
            if np.std(a) > 0 and np.std(b) > 0:
                r = float(np.corrcoef(a, b)[0, 1])
                if r > best:
                    best, rise, lag_of_best = r, _rise(a, b), lag
        if best > ECHO_CORRELATION and rise > ECHO_RISE:
            self._echo, self._lag = True, lag_of_best
        elif best < NO_ECHO_CORRELATION and self._quiet_while_playing(recent):
            self._echo = False
        return bool(self._echo)

    def _quiet_while_playing(self, recent: list[tuple[int, float, float, float]]) -> bool:
        """Was the microphone mostly near its floor while the reply played?"""
        floor = self._floor()
        if floor is None:
            return False
        during = [m for _, m, f, _ in recent if f > 1e-3]
        return float(np.median(during)) < QUIET * floor

    def _floor(self) -> float | None:
        """The microphone's loudness with nothing playing nor echoing (a low percentile:
        the pauses of the user's own speech); None without enough of that to tell."""
        energy = np.array([(m, f) for _, m, f, _ in self._energy])
        playing = energy[:, 1] > 1e-3
        # a chunk is still echoing up to ECHO_MAX_LAG chunks after the reply played
        echoing = np.convolve(playing, np.ones(ECHO_MAX_LAG + 1))[: len(playing)] > 0
        idle = energy[~echoing, 0]
        if len(idle) < FLOOR_CHUNKS:
            return None
        return float(np.percentile(idle, 10)) + 1e-9

    def is_echo(self, since_sample: int) -> bool | None:
        """Was what the microphone heard since `since_sample` our own voice coming back?
        False for a voice: a microphone that does not hear the reply, or one well louder
        than the loudest echo of what was playing (`over_loudest_echo`, a double-talk test by
        level); True when the canceller took out most of it or it is no louder than our
        echo; None when it may be either (a voice about as loud as the echo, or a room not
        known yet: the words decide)."""
        if not self._echo:
            return None if self._echo is None else False
        if self.echo_share(since_sample) > MOSTLY_ECHO:
            return True
        over = self.over_loudest_echo(since_sample)
        if over is not None and over > VOICE:
            return False
        if self.over_echo(since_sample) < OVER_ECHO or (over is not None and over < ONLY_ECHO):
            return True
        return None

    def voice_by_level(self, since_sample: int) -> bool:
        """Is the microphone since `since_sample` well louder than the loudest echo of what
        was playing (a room whose echo is known, its gain learnt)?  A voice, by its level
        alone."""
        over = self.over_loudest_echo(since_sample) if self._echo else None
        return over is not None and over > VOICE

    def echo_share(self, since_sample: int) -> float:
        """Of the microphone's energy since `since_sample`, the share that was echo (what
        the canceller took out): near 1 when only our voice came back, low when someone
        spoke."""
        e_in = sum(i for end, i, _, _ in self._energy if end > since_sample)
        e_out = sum(o for end, _, _, o in self._energy if end > since_sample)
        return 0.0 if e_in <= 0 else max(0.0, 1.0 - e_out / e_in)

    def over_echo(self, since_sample: int) -> float:
        """How much louder the microphone was since `since_sample` than our echo alone would
        be (the room's echo gain, learnt from earlier chunks, times the reference): about 1
        for an echo, well above for someone speaking over it, even before the canceller has
        converged (a level-based double-talk test)."""
        before = [m / f for end, m, f, _ in self._energy if end <= since_sample and f > 1e-3]
        if len(before) < 5:
            return 1.0  # the reply has only begun: no telling a voice from its echo yet
        gain = float(np.median(before[-100:]))
        mic = sum(m for end, m, _, _ in self._energy if end > since_sample)
        # the echo of what played up to ECHO_LATE_S before may still be arriving
        early = since_sample - int(ECHO_LATE_S * SAMPLE_RATE)
        far = sum(f for end, _, f, _ in self._energy if end > early)
        return float("inf") if far * gain <= 0 else mic / (far * gain)

    def over_loudest_echo(self, since_sample: int) -> float | None:
        """How much louder the microphone was since `since_sample` than the loudest echo of
        what was playing then: 1 or less for an echo, well above for a voice over it, even
        before the canceller has converged.  Each microphone chunk is set against the
        loudest reference chunk that can still be echoing in it (the echo's lag, give or
        take the room's reverb) times the room's echo gain, learnt from the chunks before as
        a high percentile of the two's ratio (the echo of a loud syllable that rings on into
        a quiet one is still an echo).  Infinite when nothing played that could still be
        echoing (ECHO_DIES after the last sound) and the microphone is well over its
        floor.  None while there is too little to learn that gain from, or while a held
        reply's last echo dies away (its tail is as loud as the room's reverb makes it,
        which the gain does not know)."""
        if not self._energy:
            return None
        energy = np.array(self._energy)
        end, mic, far = energy[:, 0], energy[:, 1], energy[:, 2]
        # chunk i hears what played at i - lag, give or take ECHO_SPREAD (the room's reverb
        # after it, the reference's own timing error either way)
        shift = self._lag + ECHO_SPREAD
        pad = np.concatenate([np.zeros(shift), far, np.zeros(2 * ECHO_SPREAD + 1)])
        window = np.lib.stride_tricks.sliding_window_view(pad, 2 * ECHO_SPREAD + 1)
        loudest = window.max(axis=1)[: len(far)]
        before = (end <= since_sample) & (loudest > 1e-3)
        after = end > since_sample
        if np.count_nonzero(before) < GAIN_CHUNKS or not after.any():
            return None
        first = int(np.argmax(after))
        if np.all(far[max(0, first - self._lag - ECHO_DIES) :] <= 1e-3):
            # nothing played that could still be echoing: a sound well over the floor is
            # a voice (or a noise), never our echo
            floor = self._floor()
            loud = floor is not None and float(np.median(mic[after])) > QUIET * floor
            return float("inf") if loud else None
        if np.any(loudest[after] <= 1e-3):
            return None
        ratios = mic[before][-100:] / loudest[before][-100:]
        gain = float(np.percentile(ratios, ECHO_LOUDEST))
        expected = gain * float(np.sum(loudest[after]))
        return None if expected <= 0 else float(np.sum(mic[after])) / expected

    def reset(self) -> None:
        self._canceller.reset()
