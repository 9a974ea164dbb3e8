"""Listener: the session's ear.  Bounded mic input -> 16 kHz -> VAD -> turn events.

Input policy: the transport's receive loop never waits on a model.  `push()` appends to a
bounded buffer and, when it is full, drops the oldest audio and counts it.

With a turn-end model (`semantic_vad`), a pause the detector wants judged is judged here, in
audio order, on the turn's audio up to that frame: the verdict depends on the audio alone.
"""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

import numpy as np

from ..engines.base import VoiceActivityStream
from ..engines.echo import EchoPath
from ..speech import vad
from ..speech.audio import StreamResampler, int16_to_float
from ..speech.samples import SampleBuffer

ASR_RATE = 16000
INPUT_RATE = 24000  # the Realtime protocol's PCM16 rate
VOICE_CHECK_S = 0.3  # seconds of the latest audio whose level is weighed against our echo
EARLY_VOICE_S = 0.1  # ... for a barge-in told by its level, before the VAD's onset
EARLY_BATCHES = 2  # batches in a row that must sound like a voice over the echo


@dataclass(frozen=True, slots=True)
class Heard:
    """One processed batch of input: the turn events it produced."""

    events: list[vad.TurnEvent]
    end_s: float  # audio time after this batch
    over_echo: bool = False  # a voice well over our echo, heard before the VAD's onset


class Listener:
    def __init__(
        self,
        vad_stream: VoiceActivityStream,
        config: vad.TurnConfig,
        *,
        input_rate: int = INPUT_RATE,
        max_queue_ms: int = 2000,
        keep_s: float = 2.0,
        max_ptt_s: float = 120.0,
        turn_end: Callable[[np.ndarray], Awaitable[bool]] | None = None,
        echo: EchoPath | None = None,
    ) -> None:
        self.input_rate = input_rate
        self._vad = vad_stream
        self.detector = vad.TurnDetector(config)
        self._resampler = StreamResampler(input_rate, ASR_RATE)
        self._max_queue = input_rate * max_queue_ms // 1000
        self._queue: deque[np.ndarray] = deque()
        self._far: deque[np.ndarray] = deque()  # each chunk's echo reference, with echo
        self._queued = 0
        self._ready = asyncio.Event()
        self.dropped_samples = 0  # input dropped since the last report
        self.detecting = True  # False: push-to-talk, audio only accumulates
        self._keep = int(keep_s * ASR_RATE)
        self._max_ptt = int(max_ptt_s * ASR_RATE)  # push-to-talk audio awaiting a commit
        self._audio = SampleBuffer()  # 16 kHz audio kept for transcription
        self._audio_start = 0  # absolute sample index of self._audio[0]
        self._pinned: int | None = None  # absolute sample index that must stay kept
        self._samples = 0  # absolute 16 kHz samples received
        self._vad_pending = np.zeros(0, np.float32)
        self.turn_end = turn_end  # semantic_vad: the turn's audio so far -> is it finished?
        self.echo = echo
        self._early = 0  # batches in a row with a voice over our echo (`_voice_by_level`)

    # --- input side (never blocks) ---------------------------------------------------

    def push(self, pcm: np.ndarray) -> None:
        if len(pcm) == 0:
            return
        if not self.detecting:  # push-to-talk: no model to wait for, only resampling
            self._keep_audio(self._resampler.process(int16_to_float(pcm)))
            over = len(self._audio) - self._max_ptt
            if over > 0:  # a commit that never comes: keep the newest audio
                self._audio.drop(over)
                self._audio_start += over
                self.dropped_samples += over * self.input_rate // ASR_RATE
                self._ready.set()  # so the session reports the drop
            return
        self._queue.append(pcm)
        if self.echo is not None:
            self._far.append(self.echo.reference(len(pcm)))
        self._queued += len(pcm)
        while self._queued > self._max_queue:
            over = self._queued - self._max_queue
            old = self._queue[0]
            if len(old) > over:  # keep the newest part of the oldest chunk
                self._queue[0] = old[over:]
                if self._far:
                    self._far[0] = self._far[0][over:]
                self._queued -= over
                self.dropped_samples += over
                break
            self._queue.popleft()
            if self._far:
                self._far.popleft()
            self._queued -= len(old)
            self.dropped_samples += len(old)
        self._ready.set()

    def take_dropped_ms(self) -> int:
        ms = 1000 * self.dropped_samples // self.input_rate
        self.dropped_samples = 0
        return ms

    # --- processing ------------------------------------------------------------------

    async def next_batch(self) -> Heard:
        """Wait for input, then resample it and run the VAD (off the event loop)."""
        await self._ready.wait()
        self._ready.clear()
        if not self._queue:
            return Heard([], self.now_s)
        parts, far = list(self._queue), list(self._far)
        self._queue.clear()
        self._far.clear()
        self._queued = 0
        pcm = np.concatenate(parts) if len(parts) > 1 else parts[0]
        audio = self._resampler.process(int16_to_float(pcm))
        if self.echo is not None and far:
            audio = await asyncio.to_thread(self.echo.cancel, audio, np.concatenate(far))
        self._keep_audio(audio)
        if not self.detecting:
            return Heard([], self.now_s)
        probs = await asyncio.to_thread(self._vad.process, audio)
        frame_s = self._vad.frame_samples / self._vad.sample_rate
        events: list[vad.TurnEvent] = []
        for p in probs:
            events.extend(self.detector.update(p, frame_s))
            if self.detector.verdict_due:
                events.extend(await self._judge())
        return Heard(events, self.now_s, self._voice_by_level(max(probs, default=0.0)))

    def _voice_by_level(self, peak: float) -> bool:
        """While a reply plays (strict onsets) and before the VAD hears an onset: does the
        microphone sound like speech (`peak`, at the VAD's ordinary threshold) and is it,
        batch after batch, well louder than the loudest echo of what was playing?  The
        echo canceller mutes the start of a voice that talks over its echo, so the VAD's
        strict onset comes 100 to 400 ms after the voice; the level comes at once."""
        heard = (
            self.echo is not None
            and self.detector.strict
            and not self.detector.in_speech
            and peak >= self.detector.config.threshold
            and self.echo.voice_by_level(int((self.now_s - EARLY_VOICE_S) * ASR_RATE))
        )
        self._early = self._early + 1 if heard else 0
        return self._early >= EARLY_BATCHES

    async def _judge(self) -> list[vad.TurnEvent]:
        """Ask the turn-end model whether the paused turn is finished; without one, the
        pause runs to the detector's longest silence."""
        if self.turn_end is None:
            return self.detector.judge(False)
        end = self.detector.audio_seconds
        start = self.detector.turn_audio_start_s or 0.0
        return self.detector.judge(
            await self.turn_end(self.audio_between(max(start, end - 8), end))
        )

    @property
    def now_s(self) -> float:
        return self._samples / ASR_RATE

    def _keep_audio(self, audio: np.ndarray) -> None:
        self._audio.append(audio)
        self._samples += len(audio)
        floor = self._samples - self._keep
        if self._pinned is not None:
            floor = min(floor, self._pinned)
        if floor > self._audio_start and self.detecting:
            self._audio.drop(floor - self._audio_start)
            self._audio_start = floor

    def pin(self, start_s: float | None) -> None:
        """Keep all audio from `start_s` on (an utterance in progress); None releases it."""
        self._pinned = None if start_s is None else max(0, int(start_s * ASR_RATE))

    def audio_between(self, start_s: float, end_s: float | None = None) -> np.ndarray:
        a = max(int(start_s * ASR_RATE) - self._audio_start, 0)
        b = len(self._audio) if end_s is None else int(end_s * ASR_RATE) - self._audio_start
        return self._audio.view()[a : max(a, b)].copy()

    def sounds_like_echo(self, start_s: float) -> bool | None:
        """Was what the microphone heard since `start_s` our own voice coming back?  False
        without echo cancellation; None while it is not known whether it hears the reply."""
        return False if self.echo is None else self.echo.is_echo(int(start_s * ASR_RATE))

    def voice_over_echo(self, onset_s: float) -> bool:
        """Is the microphone, in its latest audio (VOICE_CHECK_S, not before `onset_s`),
        well louder than our echo alone could be?  A voice that begins inside speech held
        as possible echo (the echo of the reply's last words, then the user) is heard at
        once, not at the utterance's end."""
        return self.sounds_like_echo(max(onset_s, self.now_s - VOICE_CHECK_S)) is False

    def take_all(self) -> np.ndarray:
        """Everything buffered (push-to-talk commit); the buffer is emptied."""
        audio = self._audio.view().copy()
        self._audio_start += len(audio)
        self._audio.clear()
        return audio

    def buffered_s(self) -> float:
        return len(self._audio) / ASR_RATE

    def clear(self) -> None:
        self._queue.clear()
        self._far.clear()
        self._queued = 0
        self._audio_start += len(self._audio)
        self._audio.clear()
        self._pinned = None
        self.detector.reset()
        self._vad.reset()
