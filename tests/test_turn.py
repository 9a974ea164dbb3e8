"""Turn: chat -> chunker -> TTS -> Speaker, what was heard, cancellation, failures, metrics.

A scripted chat and a tone TTS make the reply exact; a real Speaker paces the audio on a
virtual clock, so nothing really waits.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Sequence
from typing import Any

import pytest

from zenglow.conversation.events import AudioOut, SessionEvent, TextOut
from zenglow.conversation.speaker import Speaker
from zenglow.conversation.turn import Turn, speakable
from zenglow.engines.base import ChatMessage, EngineError

from .fakes import FakeClock, Log, ScriptedChat, ToneTTS, until

METRIC_KEYS = {
    "llm_first_token_ms",
    "first_sentence_ms",
    "tts_first_audio_ms",
    "first_audio_sent_ms",
}


def words(text: str) -> list[str]:
    """Split text into word tokens the way chat models stream them: " word" pieces."""
    parts = text.split(" ")
    return [parts[0], *(" " + p for p in parts[1:])]


class Rig:
    """One Turn on scripted engines, with a real Speaker pacing on a FakeClock."""

    def __init__(
        self, tokens: list[str], *, audio: bool = True, chat_delay_s: float = 0.0, **chat: Any
    ) -> None:
        self.log: Log = []
        self.clock = FakeClock()
        self.events: list[SessionEvent] = []
        self.audio_out: list[AudioOut] = []
        self.chat = ScriptedChat(
            tokens, log=self.log, delay_s=chat_delay_s, sleep=self.clock.sleep, **chat
        )
        self.tts = ToneTTS(ms_per_char=60, log=self.log)
        self.speaker = Speaker(self._on_audio, clock=self.clock.now, sleep=self.clock.sleep)
        self.turn = Turn(
            response_id="resp_1",
            item_id="item_1",
            persona="jarvis",
            messages=[{"role": "user", "content": "Hello?"}],
            chat=self.chat,
            emit=self._emit,
            tts=self.tts if audio else None,
            speaker=self.speaker if audio else None,
            clock=self.clock.now,
        )
        self.loop: asyncio.Task[None] | None = None

    async def _emit(self, event: SessionEvent) -> None:
        self.events.append(event)
        if isinstance(event, TextOut):
            self.log.append(("text", event.delta))

    async def _on_audio(self, out: AudioOut) -> None:
        self.audio_out.append(out)

    @property
    def deltas(self) -> list[str]:
        return [e.delta for e in self.events if isinstance(e, TextOut)]

    async def __aenter__(self) -> Rig:
        self.loop = asyncio.create_task(self.speaker.run_loop())
        return self

    async def __aexit__(self, *exc: object) -> None:
        assert self.loop is not None
        if self.loop.done():
            self.loop.result()
        self.loop.cancel()
        await asyncio.wait([self.loop])

    async def run(self) -> None:
        """The whole reply, until its audio has been played out."""
        await self.turn.run()
        await until(lambda: not self.speaker.busy)


def index(log: Log, entry: tuple[str, str]) -> int:
    return log.index(entry)


async def test_sentences_flow_in_order_and_speech_starts_before_the_reply_ends() -> None:
    text = "Sure thing, my friend, here is the plan: breathe in slowly. Then breathe out. Done!"
    async with Rig(words(text)) as rig:
        await rig.run()
    sentences = [
        "Sure thing, my friend,",
        "here is the plan: breathe in slowly.",
        "Then breathe out.",
        "Done!",
    ]
    assert rig.tts.texts == sentences
    # the first clause reached the TTS while the chat was still streaming
    first_tts = index(rig.log, ("tts", sentences[0]))
    assert first_tts < index(rig.log, ("token", " slowly."))
    assert first_tts < index(rig.log, ("chat_end", "finished"))
    # each sentence's text goes out before the next sentence is synthesized
    order = [i for i, (kind, _) in enumerate(rig.log) if kind in ("tts", "text")]
    assert [rig.log[i][0] for i in order] == ["tts", "text"] * len(sentences)
    assert rig.deltas == [sentences[0], *(" " + s for s in sentences[1:])]
    assert "".join(rig.deltas) == text
    assert rig.turn.text == text and rig.turn.output_tokens == len(words(text))
    # all of the synthesized audio went out, in order, and was played
    spoken_ms = sum(c.duration_ms for c in rig.tts.chunks)
    assert sum(len(o.pcm) // 2 for o in rig.audio_out) == sum(len(c.pcm) for c in rig.tts.chunks)
    assert rig.speaker.played_ms("resp_1") == pytest.approx(spoken_ms)
    assert [s.end_ms for s in rig.turn.spans][-1] == pytest.approx(spoken_ms)
    assert {o.response_id for o in rig.audio_out} == {"resp_1"}


async def test_text_only_reply_emits_every_delta() -> None:
    tokens = words("Plain text reply. No voice at all.")
    async with Rig(tokens, audio=False) as rig:
        await rig.turn.run()
    assert rig.deltas == tokens
    assert rig.tts.texts == [] and rig.audio_out == []
    assert not rig.turn.audio
    assert rig.turn.heard_text(None) == "Plain text reply. No voice at all."
    assert rig.turn.heard_text(300.0) == "Plain text reply. No voice at all."  # all of it shown
    metrics = rig.turn.metrics()
    assert set(metrics) == METRIC_KEYS
    assert metrics["tts_first_audio_ms"] is None and metrics["first_audio_sent_ms"] is None


async def test_heard_text_follows_the_played_position() -> None:
    first, second = "Hello there friend.", "How are you today?"
    async with Rig(words(f"{first} {second}")) as rig:
        await rig.run()
    end1 = 60.0 * len(first)
    end2 = end1 + 60.0 * len(second)
    assert [(s.start_ms, s.end_ms) for s in rig.turn.spans] == [
        (0.0, pytest.approx(end1)),
        (pytest.approx(end1), pytest.approx(end2)),
    ]
    heard = rig.turn.heard_text
    assert heard(0.0) == ""
    assert heard(end1 / 2) == "Hello"  # half of three words
    assert heard(end1) == first  # a sentence boundary
    assert heard(end1 + (end2 - end1) / 2) == f"{first} How are"
    assert heard(end2) == f"{first} {second}"
    assert heard(end2 + 5000) == f"{first} {second}"
    assert heard(None) == f"{first} {second}"


async def test_heard_text_at_the_speakers_position_after_a_clear() -> None:
    first = "One two three four five six."
    async with Rig(words(f"{first} Seven eight nine ten.")) as rig:
        await rig.turn.run()
        await rig.clock.sleep(60 * len(first) / 1000 + 0.5)  # into the second sentence
        played = rig.speaker.clear()
    assert 60 * len(first) < played < 60 * (len(first) + 21)
    heard = rig.turn.heard_text(played)
    assert heard.startswith(first + " ") and len(heard) < len(rig.turn.text)


async def test_cancelling_the_reply_stops_the_chat_and_the_speech() -> None:
    text = " ".join(f"This is sentence number {n} of a long answer." for n in range(40))
    async with Rig(words(text), stop_delay_s=0.05) as rig:
        closed_when_run_ended: list[bool] = []

        async def reply() -> None:
            try:
                await rig.turn.run()
            finally:
                closed_when_run_ended.append(rig.chat.closed)

        task = asyncio.create_task(reply())
        await until(lambda: len(rig.tts.texts) >= 2)
        await rig.clock.sleep(0.5)  # speech is under way and the producers are held back
        assert not task.done() and not rig.chat.finished
        task.cancel()
        await asyncio.wait([task])
        assert task.cancelled()
        assert closed_when_run_ended == [True]  # closed by the reply, not left to the collector
        assert rig.chat.closed and not rig.chat.finished
        yielded, spoken = rig.chat.yielded, list(rig.tts.texts)
        assert yielded < len(words(text))
        played = rig.speaker.clear()
        await rig.clock.sleep(5.0)
    assert rig.chat.yielded == yielded
    assert rig.tts.texts == spoken  # nothing more was synthesized
    heard = rig.turn.heard_text(played)
    assert rig.turn.text.startswith(heard)
    assert 0 < len(heard) < len(rig.turn.text)


async def test_a_chat_failure_surfaces_from_run_with_audio() -> None:
    async with Rig(words("Fine, I will tell you. Then it breaks here."), fail_after=6) as rig:
        with pytest.raises(ExceptionGroup) as info:
            await rig.turn.run()
    errors = info.value.exceptions
    assert len(errors) == 1 and isinstance(errors[0], EngineError)
    assert "after 6 tokens" in str(errors[0])
    assert rig.chat.yielded == 6
    assert all("breaks" not in t for t in rig.tts.texts)


async def test_a_chat_failure_surfaces_from_run_without_audio() -> None:
    async with Rig(words("One two three four."), audio=False, fail_after=2) as rig:
        with pytest.raises(EngineError, match="after 2 tokens"):
            await rig.turn.run()
    assert rig.deltas == ["One", " two"]


async def test_markdown_is_not_spoken_and_symbol_only_sentences_are_skipped() -> None:
    tokens = [
        "# Heading",
        "\n**Bold**",
        " move, my friend here.",
        " Then `code`",
        " time.\n",
        "***\n",
        ":-)",
    ]
    async with Rig(tokens) as rig:
        await rig.run()
    assert rig.tts.texts == ["Heading", "Bold move, my friend here.", "Then code time."]
    assert rig.deltas == ["# Heading", " **Bold** move, my friend here.", " Then `code` time."]
    assert [s.text for s in rig.turn.spans] == [d.strip() for d in rig.deltas]


def test_speakable_strips_markup_and_keeps_words() -> None:
    assert speakable("**bold** and _soft_ and `code`") == "bold and soft and code"
    assert speakable("# Title") == "Title"
    assert speakable("## Part two:") == "Part two:"
    assert speakable("- one\n- two\n• three") == "one two three"
    assert speakable("5 - 3 is 2.") == "5 - 3 is 2."  # a minus sign is not a bullet
    assert speakable("***") == ""


class Replies:
    """A chat model whose n-th reply is the n-th script (the last one from then on)."""

    name = "replies"

    def __init__(self, *scripts: list[str]) -> None:
        self.scripts = scripts
        self.calls = 0

    async def stream(
        self, messages: Sequence[ChatMessage], *, max_tokens: int | None = None
    ) -> AsyncIterator[str]:
        self.calls += 1
        for token in self.scripts[min(self.calls, len(self.scripts)) - 1]:
            yield token


@pytest.mark.parametrize("audio", [True, False])
async def test_an_empty_reply_is_asked_for_once_more(audio: bool) -> None:
    async with Rig([], audio=audio) as rig:
        rig.turn.chat = chat = Replies([" ", "\n"], words("Here I am."))
        await rig.run() if audio else await rig.turn.run()
    assert chat.calls == 2 and rig.turn.text.strip() == "Here I am."
    if audio:
        assert rig.tts.texts == ["Here I am."] and rig.audio_out

    async with Rig([], audio=audio) as rig:  # a model that never says anything: no loop
        rig.turn.chat = chat = Replies([])
        await rig.run() if audio else await rig.turn.run()
    assert chat.calls == 2 and rig.turn.text == "" and not rig.audio_out


async def test_metrics_have_every_key_as_a_non_negative_number() -> None:
    async with Rig(words("Quick reply here. And more of it."), chat_delay_s=0.01) as rig:
        await rig.run()
    metrics = rig.turn.metrics()
    assert set(metrics) == METRIC_KEYS
    values = {k: v for k, v in metrics.items() if v is not None}
    assert set(values) == METRIC_KEYS
    assert all(v >= 0 for v in values.values())
    assert values["llm_first_token_ms"] == pytest.approx(10.0)  # one token delay
    assert values["first_sentence_ms"] >= values["llm_first_token_ms"]
    assert values["first_audio_sent_ms"] >= values["first_sentence_ms"]


async def test_a_spoken_reply_ends_at_its_sentence_cap() -> None:
    text = "Sure thing, my friend, here is the plan: breathe in slowly. Then out. Then again! Done."
    async with Rig(words(text)) as rig:
        rig.turn.max_sentences = 2
        await rig.run()
    # the first clause is a chunk of the first sentence, not a sentence of its own
    assert rig.tts.texts == [
        "Sure thing, my friend,",
        "here is the plan: breathe in slowly.",
        "Then out.",
    ]
    assert (
        rig.turn.capped
        and rig.turn.text == "Sure thing, my friend, here is the plan: breathe in slowly. Then out."
    )
    assert ("token", " Done.") not in rig.log  # the model was stopped, not read to the end
    assert rig.turn.heard_text(None) == rig.turn.text


async def test_a_text_reply_has_no_sentence_cap() -> None:
    text = "One. Two. Three."
    async with Rig(words(text), audio=False) as rig:
        rig.turn.max_sentences = 1
        await rig.run()
    assert not rig.turn.capped and rig.turn.text == text
