"""Turn: one reply = think (chat model -> chunker -> sentences) + speak (TTS -> Speaker).

Both run in one TaskGroup; cancelling the task that runs `Turn.run()` stops both, and the
Speaker is cleared by the session.  The Turn keeps what it produced so the session can tell
what the listener actually heard (`heard_text`).
"""

from __future__ import annotations

import asyncio
import re
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import TypeVar

from .chunker import SentenceChunker
from .engines.base import ChatMessage, ChatModel, TextToSpeech, Voice
from .events import SessionEvent, TextOut
from .speaker import Speaker

T = TypeVar("T")

_MARKUP = re.compile(r"[*_`#]+|^\s*[-•]\s+", re.MULTILINE)


def speakable(text: str) -> str:
    """Text as it should be spoken: markdown emphasis, headings and bullets removed."""
    return " ".join(_MARKUP.sub(" ", text).split())


@asynccontextmanager
async def _closing(stream: AsyncIterator[T]) -> AsyncIterator[AsyncIterator[T]]:
    """Close an engine's stream on the way out, so a cancelled reply stops the engine now
    rather than whenever the suspended generator is collected."""
    try:
        yield stream
    finally:
        aclose = getattr(stream, "aclose", None)
        if aclose is not None:
            await aclose()


@dataclass(slots=True)
class _Span:
    text: str
    start_ms: float
    end_ms: float


@dataclass
class TurnMarks:
    """Wall-clock moments (monotonic seconds) for the turn's latency figures."""

    started: float
    committed: float | None = None  # the reply was confirmed (speculative replies start early)
    first_token: float | None = None
    first_sentence: float | None = None
    first_audio: float | None = None


@dataclass
class Turn:
    response_id: str
    item_id: str
    persona: str
    messages: Sequence[ChatMessage]
    chat: ChatModel
    emit: Callable[[SessionEvent], Awaitable[None]]
    tts: TextToSpeech | None = None  # None: text-only reply
    speaker: Speaker | None = None
    voice: Voice | None = None
    max_tokens: int | None = None
    sentence_queue: int = 2
    clock: Callable[[], float] = time.monotonic
    text: str = ""  # everything the model produced
    output_tokens: int = 0
    spans: list[_Span] = field(default_factory=list)
    marks: TurnMarks = field(init=False)

    def __post_init__(self) -> None:
        self.marks = TurnMarks(started=self.clock())

    @property
    def audio(self) -> bool:
        return self.tts is not None and self.speaker is not None

    async def run(self) -> None:
        if not self.audio:
            await self._think(None)
            return
        sentences: asyncio.Queue[str | None] = asyncio.Queue(self.sentence_queue)
        async with asyncio.TaskGroup() as tg:
            tg.create_task(self._think(sentences))
            tg.create_task(self._speak(sentences))

    async def _think(self, sentences: asyncio.Queue[str | None] | None) -> None:
        chunker = SentenceChunker()
        stream = self.chat.stream(self.messages, max_tokens=self.max_tokens)
        async with _closing(stream):
            async for delta in stream:
                if self.marks.first_token is None:
                    self.marks.first_token = self.clock()
                self.output_tokens += 1
                self.text += delta
                if sentences is None:
                    await self.emit(TextOut(self.response_id, self.item_id, delta))
                    continue
                for sentence in chunker.add(delta):
                    await self._queue_sentence(sentences, sentence)
        if sentences is not None:
            rest = chunker.finish()
            if rest:
                await self._queue_sentence(sentences, rest)
            await sentences.put(None)

    async def _queue_sentence(self, sentences: asyncio.Queue[str | None], sentence: str) -> None:
        if self.marks.first_sentence is None:
            self.marks.first_sentence = self.clock()
        await sentences.put(sentence)

    async def _speak(self, sentences: asyncio.Queue[str | None]) -> None:
        assert self.tts is not None and self.speaker is not None
        offset_ms = 0.0
        while (sentence := await sentences.get()) is not None:
            spoken = speakable(sentence)
            if not any(ch.isalnum() for ch in spoken):
                continue
            start_ms, announced = offset_ms, False
            chunks = self.tts.synthesize(
                spoken, voice=self.voice, sample_rate=self.speaker.sample_rate
            )
            async with _closing(chunks):
                async for chunk in chunks:
                    if self.marks.first_audio is None:
                        self.marks.first_audio = self.clock()
                    if not announced:
                        prefix = " " if self.spans else ""
                        await self.emit(TextOut(self.response_id, self.item_id, prefix + sentence))
                        announced = True
                    offset_ms += chunk.duration_ms
                    await self.speaker.play(self.response_id, self.item_id, chunk.pcm, chunk.cues)
            self.spans.append(_Span(sentence, start_ms, offset_ms))

    # --- what was heard ----------------------------------------------------------------

    def heard_text(self, played_ms: float | None) -> str:
        """The reply text up to `played_ms` of its audio (all of it when None or text-only)."""
        if played_ms is None or not self.audio:
            return self.text.strip()
        parts: list[str] = []
        for span in self.spans:
            if played_ms >= span.end_ms - 1:
                parts.append(span.text)
                continue
            if played_ms > span.start_ms:
                fraction = (played_ms - span.start_ms) / max(span.end_ms - span.start_ms, 1.0)
                words = span.text.split()
                kept = int(len(words) * fraction)
                if kept:
                    parts.append(" ".join(words[:kept]))
            break
        return " ".join(parts).strip()

    def metrics(self) -> dict[str, float | None]:
        m = self.marks

        def since(t: float | None, base: float | None) -> float | None:
            return None if t is None or base is None else round(1000.0 * (t - base), 1)

        sent = self.speaker.first_release_at(self.response_id) if self.speaker else None
        return {
            "llm_first_token_ms": since(m.first_token, m.started),
            "first_sentence_ms": since(m.first_sentence, m.started),
            "tts_first_audio_ms": since(m.first_audio, m.first_sentence),
            "first_audio_sent_ms": since(sent, m.committed or m.started),
        }
