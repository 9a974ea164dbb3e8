"""Scripted engines and a virtual clock, for what real models cannot make deterministic:
a reply cut at an exact token, a backend that dies mid-stream, pacing without real sleeping.

`log` lists shared between fakes record the order things happened in, e.g.
`[("token", "Hello"), ("tts", "Hello there."), ...]`.
"""

from __future__ import annotations

import asyncio
import math
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence

import numpy as np

from zenglow.engines.base import ChatMessage, EngineError, SpeechChunk, VisemeCue, Voice

Log = list[tuple[str, str]]


# A reply that goes on for about 25 s of speech, so a barge-in always lands mid-reply (real
# models cannot promise that).
LONG_REPLY = (
    "Let me tell you a long story about the sea. The waves rolled in all morning, one after "
    "another, grey and green under a low sky. A small boat left the harbour before dawn. "
    "Its captain knew every rock along the coast, and every current that ran between them. "
    "By noon the wind had turned, and the sails filled with a cold breeze from the north. "
    "Nobody on board said a word for a long time. "
)


class ScriptedChat:
    """A ChatModel that streams the given tokens, optionally failing after `fail_after`.

    Stopping early takes `stop_delay_s` (a real backend finishes its current token first);
    `closed` turns true once it has stopped.
    """

    def __init__(
        self,
        tokens: Sequence[str],
        *,
        delay_s: float = 0.0,
        fail_after: int | None = None,
        name: str = "fake",
        log: Log | None = None,
        stop_delay_s: float = 0.0,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    ) -> None:
        self.tokens = list(tokens)
        self.delay_s = delay_s
        self.fail_after = fail_after
        self.name = name
        self.log = log
        self.stop_delay_s = stop_delay_s
        self._sleep = sleep
        self.calls: list[list[ChatMessage]] = []  # the messages of every stream() call
        self.max_tokens: int | None = None
        self.yielded = 0  # tokens handed out by the latest stream
        self.finished = False  # the latest stream ran to its end
        self.cancelled = False  # the latest stream was cancelled while waiting for a token
        self.closed = False  # the latest stream was closed or cancelled, and has stopped

    async def stream(
        self, messages: Sequence[ChatMessage], *, max_tokens: int | None = None
    ) -> AsyncIterator[str]:
        self.calls.append(list(messages))
        self.max_tokens = max_tokens
        self.yielded, self.finished, self.cancelled, self.closed = 0, False, False, False
        limit = len(self.tokens) if max_tokens is None else min(max_tokens, len(self.tokens))
        try:
            for token in self.tokens[:limit]:
                self._maybe_fail()
                await self._sleep(self.delay_s)  # a real stream waits for every token
                if self.log is not None:
                    self.log.append(("token", token))
                self.yielded += 1
                yield token
            self._maybe_fail()
            self.finished = True
        except asyncio.CancelledError:
            self.cancelled = True
            await self._stop()
            raise
        except GeneratorExit:
            await self._stop()
            raise
        finally:
            if self.log is not None:
                self.log.append(("chat_end", "finished" if self.finished else "stopped"))

    async def _stop(self) -> None:
        if self.stop_delay_s:
            await self._sleep(self.stop_delay_s)
        self.closed = True

    def _maybe_fail(self) -> None:
        if self.fail_after is not None and self.yielded >= self.fail_after:
            raise EngineError(f"{self.name}: the backend died after {self.yielded} tokens")


class ToneTTS:
    """A TextToSpeech that speaks a sine tone of `ms_per_char` per character, with two viseme
    cues covering the chunk (one for a chunk shorter than 100 ms)."""

    def __init__(
        self, sample_rate: int = 24000, ms_per_char: float = 60, *, log: Log | None = None
    ) -> None:
        self.sample_rate = sample_rate
        self.ms_per_char = ms_per_char
        self.log = log
        self.texts: list[str] = []  # every text asked for, in order
        self.chunks: list[SpeechChunk] = []  # every chunk handed out, in order

    def duration_ms(self, text: str) -> float:
        return self.ms_per_char * len(text)

    async def synthesize(
        self, text: str, *, voice: Voice | None = None, sample_rate: int | None = None
    ) -> AsyncIterator[SpeechChunk]:
        if not text.strip():
            raise EngineError("nothing to say: the text is empty")
        self.texts.append(text)
        if self.log is not None:
            self.log.append(("tts", text))
        rate = sample_rate or self.sample_rate
        samples = round(rate * self.duration_ms(text) / 1000)
        t = np.arange(samples, dtype=np.float64) / rate
        pcm = np.round(8000 * np.sin(2 * math.pi * 220.0 * t)).astype(np.int16)
        total_ms = 1000.0 * samples / rate
        cues: tuple[VisemeCue, ...]
        if total_ms < 100:
            cues = (VisemeCue("aa", 0.0, total_ms),)
        else:
            half = total_ms / 2
            cues = (VisemeCue("aa", 0.0, half), VisemeCue("oh", half, total_ms))
        await asyncio.sleep(0)  # synthesis takes a moment: let others run
        chunk = SpeechChunk(pcm, rate, text, cues)
        self.chunks.append(chunk)
        yield chunk


class FakeClock:
    """Virtual monotonic time: `sleep(dt)` returns once time reaches its deadline.

    Each sleeper yields to the loop; the sleeper with the earliest deadline moves time to it,
    so concurrent sleepers share one timeline and nothing really waits.
    """

    def __init__(self, start: float = 1000.0) -> None:
        self.t = start
        self._deadlines: list[float] = []

    def now(self) -> float:
        return self.t

    def __call__(self) -> float:
        return self.t

    def advance(self, dt: float) -> None:
        self.t += dt

    async def sleep(self, dt: float) -> None:
        deadline = self.t + max(dt, 0.0)
        self._deadlines.append(deadline)
        try:
            while True:
                await asyncio.sleep(0)
                if deadline <= min(self._deadlines):
                    self.t = max(self.t, deadline)
                    return
        finally:
            self._deadlines.remove(deadline)


async def until(predicate: Callable[[], bool], *, steps: int = 100_000) -> None:
    """Yield to the loop until `predicate()` holds (virtual time moves only by its sleepers)."""
    for _ in range(steps):
        if predicate():
            return
        await asyncio.sleep(0)
    raise AssertionError(f"condition not met after {steps} loop steps")
