"""Turn: one reply = think (chat model -> chunker -> sentences) + speak (TTS -> Speaker).

Both run in one TaskGroup; cancelling the task that runs `Turn.run()` stops both, and the
Speaker is cleared by the session.  The Turn keeps what it produced so the session can tell
what the listener actually heard (`heard_text`).
"""

from __future__ import annotations

import asyncio
import inspect
import logging
import re
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any, TypeVar

from ..engines.base import ChatMessage, ChatModel, TextToSpeech, Voice
from ..engines.budget import AUTO, Truncation
from ..speech.chunker import SentenceChunker
from .events import PersonaChanged, SessionEvent, TextOut
from .speaker import Speaker
from .tooling import ToolRounds, plain

T = TypeVar("T")

log = logging.getLogger(__name__)

SENTENCE_ENDS = (".", "!", "?", "\u2026")  # after any closing quotes or brackets
EMPTY_RETRIES = 1  # an empty reply from the chat model is asked for again this many times

_MARKUP = re.compile(r"[*_`#]+|^\s*[-•]\s+", re.MULTILINE)


def failover_line(failed: str, taking_over: str) -> str:
    return f"{failed.title()} can't answer right now, so {taking_over.title()} will take over."


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


async def _given(text: str) -> AsyncIterator[str]:
    yield text


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


@dataclass(frozen=True, slots=True)
class Preface:
    """A line another persona says first (a handoff), in its own voice, with no model call."""

    persona: str
    text: str
    voice: Voice | None = None


@dataclass(frozen=True, slots=True)
class Handover:
    """Mid-reply, another persona takes over (its backend failed): say so, in its voice."""

    persona: str
    text: str
    reason: str = "failover"


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
    max_sentences: int | None = None  # a spoken reply ends after this many sentences
    truncation: Truncation = AUTO
    preface: Preface | None = None
    reason: str = "default"  # why `persona` answers (for the zenglow.persona event)
    cue: str | None = None
    voice_for: Callable[[str], Voice | None] | None = None  # a persona's voice (handovers)
    tools: ToolRounds | None = None  # function calling: the rounds before the reply
    working: bool = False  # a server-side tool is running (the avatar looks busy)
    # said first by the answering persona, before the model's words; a task while it is being
    # made (the handoff line meanwhile plays, and the model waits for it)
    lead: str | asyncio.Future[str] | None = None
    # told of each sentence as it starts to play: its text and audio offset (None: text-only)
    on_sentence: Callable[[str, float | None], Awaitable[None]] | None = None
    sentence_queue: int = 2
    clock: Callable[[], float] = time.monotonic
    text: str = ""  # everything the model produced
    output_tokens: int = 0
    capped: bool = False  # the spoken reply ended at its sentence cap
    spans: list[_Span] = field(default_factory=list)
    marks: TurnMarks = field(init=False)

    def __post_init__(self) -> None:
        self.marks = TurnMarks(started=self.clock())

    @property
    def audio(self) -> bool:
        return self.tts is not None and self.speaker is not None

    async def run(self) -> None:
        if self.preface is not None:
            self.text = self.preface.text + " "
        if not self.audio:
            if self.preface is not None:
                await self._out(self.text)
                await self._hand_over()
            if lead := await self._lead():
                self.text += lead + " "
                await self._started(lead, None)
                await self._out(lead + " ")
            await self._think(None)
            return
        sentences: asyncio.Queue[str | Handover | None] = asyncio.Queue(self.sentence_queue)
        async with asyncio.TaskGroup() as tg:
            tg.create_task(self._think(sentences))
            tg.create_task(self._speak(sentences))

    def _failed_over(self, info: Any) -> None:
        """The chat pool moved this reply to another endpoint; tell the user if another
        persona now answers (same-persona failover is seamless)."""
        to = getattr(info, "to_persona", self.persona)
        if to != self.persona:
            self._handovers.append(Handover(to, failover_line(self.persona, to)))

    async def _out(self, delta: str) -> None:
        """Reply text out; the first opens the message item if tools deferred it."""
        tools = self.tools
        if tools is not None and tools.lazy and not tools.message_open:
            await tools.open_message(self)
        await self.emit(TextOut(self.response_id, self.item_id, delta))

    async def _aside(
        self, line: str, sentences: asyncio.Queue[str | Handover | None] | None
    ) -> None:
        """A line said while tools work (a filler, an apology, the model's own words)."""
        self.text += line.strip() + " "
        if sentences is None:
            await self._out(line.strip() + " ")
        else:
            await self._queue_sentence(sentences, line.strip())

    async def _lead(self) -> str | None:
        if isinstance(self.lead, asyncio.Future):
            self.lead = await self.lead
        return self.lead

    async def _think(self, sentences: asyncio.Queue[str | Handover | None] | None) -> None:
        chunker = SentenceChunker()
        if sentences is not None and (lead := await self._lead()):
            self.text += lead + " "  # before the model's words, which may need it
        self._handovers: list[Handover] = []
        self._resuming = False
        self._sentences = 0  # spoken sentences of the model's, against max_sentences
        kwargs: dict[str, Any] = {}
        accepts = inspect.signature(self.chat.stream).parameters
        if "on_failover" in accepts:
            kwargs["on_failover"] = self._failed_over
        if "truncation" in accepts:
            kwargs["truncation"] = self.truncation
        answer: str | None = None
        if self.tools is not None and self.tools.offered:
            answer = await self.tools.run(self, lambda line: self._aside(line, sentences))
            if answer == "":  # the client runs the calls: the response ends with them
                if sentences is not None:
                    await sentences.put(None)
                return
        for _ in range(1 + EMPTY_RETRIES):
            before = len(self.text)
            if answer is not None:
                stream, answer = _given(answer), None  # the model answered when choosing
            else:
                stream = self.chat.stream(
                    plain(self.messages), max_tokens=self.max_tokens, **kwargs
                )
            async with _closing(stream):
                async for delta in stream:
                    while self._handovers:
                        await self._take_over(self._handovers.pop(0), chunker, sentences)
                    if self._resuming:
                        delta, self._resuming = delta.lstrip(), False
                    if self.marks.first_token is None:
                        self.marks.first_token = self.clock()
                    self.output_tokens += 1
                    self.text += delta
                    if sentences is None:
                        await self._out(delta)
                        continue
                    for sentence in chunker.add(delta):
                        await self._queue_sentence(sentences, sentence)
                        if self._at_cap(sentence):
                            break
                    if self.capped:
                        break
            if self.capped:
                self._drop_unspoken(chunker)
                break
            if self.text[before:].strip():
                break
            # A sampled model now and then ends its reply before saying anything; silence
            # would leave the user waiting, so it is asked once more.
            log.info("response %s: the chat model said nothing; asking again", self.response_id)
        if sentences is not None:
            rest = chunker.finish()
            if rest:
                await self._queue_sentence(sentences, rest)
            await sentences.put(None)

    def _at_cap(self, chunk: str) -> bool:
        """Count a spoken chunk that ends a sentence; True once the cap is reached."""
        if self.max_sentences is None:
            return False
        if not chunk.rstrip().rstrip("\"')]\u201d\u2019").endswith(SENTENCE_ENDS):
            return False
        self._sentences += 1
        self.capped = self._sentences >= self.max_sentences
        return self.capped

    def _drop_unspoken(self, chunker: SentenceChunker) -> None:
        """Past the cap the model's words are not spoken, so they are not the reply's."""
        rest = chunker.finish()
        at = self.text.rfind(rest) if rest else -1
        if at >= 0:
            self.text = self.text[:at].rstrip()

    async def _take_over(
        self,
        handover: Handover,
        chunker: SentenceChunker,
        sentences: asyncio.Queue[str | Handover | None] | None,
    ) -> None:
        note = f" {handover.text} " if self.text.strip() else f"{handover.text} "
        self.text = self.text.rstrip() + note
        self._resuming = True  # the next delta's leading space is already there
        if sentences is None:  # text only: the persona event and the notice as text
            await self.emit(PersonaChanged(self.response_id, handover.persona, handover.reason))
            await self._out(note)
        else:
            rest = chunker.finish()  # what the failed persona had started stays with it
            if rest:
                await self._queue_sentence(sentences, rest)
            await sentences.put(handover)
        self.persona = handover.persona
        self._sentences = 0  # the persona taking over has its own sentences

    async def _queue_sentence(
        self, sentences: asyncio.Queue[str | Handover | None], sentence: str
    ) -> None:
        if self.marks.first_sentence is None:
            self.marks.first_sentence = self.clock()
        await sentences.put(sentence)

    async def _hand_over(self) -> None:
        await self.emit(PersonaChanged(self.response_id, self.persona, self.reason, self.cue))

    async def _speak(self, sentences: asyncio.Queue[str | None]) -> None:
        offset_ms = 0.0
        if self.preface is not None:
            offset_ms = await self._say(self.preface.text, self.preface.voice, offset_ms)
            await self._hand_over()
        voice = self.voice
        if lead := await self._lead():
            offset_ms = await self._say(lead, voice, offset_ms)
        while (item := await sentences.get()) is not None:
            if isinstance(item, Handover):
                voice = self.voice_for(item.persona) if self.voice_for else voice
                await self.emit(PersonaChanged(self.response_id, item.persona, item.reason))
                offset_ms = await self._say(item.text, voice, offset_ms)
                continue
            offset_ms = await self._say(item, voice, offset_ms)

    async def _say(self, sentence: str, voice: Voice | None, offset_ms: float) -> float:
        """Speak one sentence; returns the response's audio length after it."""
        assert self.tts is not None and self.speaker is not None
        spoken = speakable(sentence)
        if any(ch.isalnum() for ch in spoken):
            start_ms, announced = offset_ms, False
            chunks = self.tts.synthesize(spoken, voice=voice, sample_rate=self.speaker.sample_rate)
            async with _closing(chunks):
                async for chunk in chunks:
                    if self.marks.first_audio is None:
                        self.marks.first_audio = self.clock()
                    if not announced:
                        await self._started(sentence, start_ms)
                        prefix = " " if self.spans else ""
                        await self._out(prefix + sentence)
                        announced = True
                    offset_ms += chunk.duration_ms
                    await self.speaker.play(self.response_id, self.item_id, chunk.pcm, chunk.cues)
            self.spans.append(_Span(sentence, start_ms, offset_ms))
        return offset_ms

    async def _started(self, sentence: str, offset_ms: float | None) -> None:
        if self.on_sentence is not None:
            await self.on_sentence(sentence, offset_ms)

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
