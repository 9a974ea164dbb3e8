"""Capabilities every engine adapter implements, and the values they exchange.

Engines load their model once per process; per-conversation state lives in per-stream
objects (see `VoiceActivityStream`).  Blocking inference never runs on the event loop.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass, field
from typing import Literal, Protocol, TypedDict

import numpy as np


class EngineError(RuntimeError):
    """An engine could not do what was asked; the message says what to do about it."""


# --- speech to text -------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Word:
    text: str
    start: float  # seconds from the start of the audio
    end: float
    probability: float


@dataclass(frozen=True, slots=True)
class Segment:
    text: str
    start: float
    end: float


@dataclass(frozen=True, slots=True)
class Transcript:
    text: str
    language: str
    duration: float  # seconds of audio transcribed
    segments: tuple[Segment, ...] = ()
    words: tuple[Word, ...] = ()
    no_speech_prob: float | None = None  # the model's belief that nobody spoke (most of all)
    avg_logprob: float | None = None  # mean token log-probability (the least sure segment)


class SpeechToText(Protocol):
    sample_rate: int  # the rate `transcribe` expects (16 kHz for Whisper)

    async def transcribe(
        self, audio: np.ndarray, *, prompt: str | None = None, words: bool = False
    ) -> Transcript:
        """Transcribe float32 mono audio at `sample_rate` (word timings when `words`)."""
        ...


# --- voice activity -------------------------------------------------------------------


class VoiceActivityStream(Protocol):
    """Per-stream, stateful speech detector.  One instance per audio stream."""

    sample_rate: int
    frame_samples: int

    def process(self, audio: np.ndarray) -> list[float]:
        """Feed float32 mono audio of any length; return one speech probability per
        complete frame (leftover samples are kept for the next call)."""
        ...

    def reset(self) -> None: ...


# --- chat -----------------------------------------------------------------------------


class ChatMessage(TypedDict):
    role: Literal["system", "user", "assistant"]
    content: str


class ChatModel(Protocol):
    name: str

    def stream(
        self, messages: Sequence[ChatMessage], *, max_tokens: int | None = None
    ) -> AsyncIterator[str]:
        """Stream reply text deltas.  Cancelling the consumer stops generation."""
        ...


# --- text to speech -------------------------------------------------------------------

VISEMES: tuple[str, ...] = (
    "sil", "PP", "FF", "TH", "DD", "kk", "CH", "SS", "nn", "RR", "aa", "E", "ih", "oh", "ou",
)  # the 15 Oculus visemes, in their canonical order  # fmt: skip


@dataclass(frozen=True, slots=True)
class VisemeCue:
    viseme: str  # one of VISEMES
    start_ms: float  # from the first sample of the chunk the cue belongs to
    end_ms: float


@dataclass(frozen=True, slots=True)
class Voice:
    """Which voice to speak with: a Piper model, a speaker and a speed."""

    model: str | None = None  # path to a Piper .onnx; None = the embedded voice
    speaker: int | None = None
    speed: float = 1.0  # >1 speaks faster (divides Piper's length_scale)


@dataclass(frozen=True, slots=True)
class SpeechChunk:
    """A piece of synthesized speech with the viseme cues that belong to it."""

    pcm: np.ndarray  # int16 mono
    sample_rate: int
    text: str
    cues: tuple[VisemeCue, ...] = field(default=())

    @property
    def duration_ms(self) -> float:
        return 1000.0 * len(self.pcm) / self.sample_rate


class TextToSpeech(Protocol):
    def synthesize(
        self, text: str, *, voice: Voice | None = None, sample_rate: int | None = None
    ) -> AsyncIterator[SpeechChunk]:
        """Speak `text`; chunks are resampled to `sample_rate` (default: the voice's own)."""
        ...
