"""How a Session listens: VAD turn events -> utterances -> committed user turns.

Speech starts an utterance (and barges in on a reply); a pause starts the speculative
transcript and reply; speech resuming drops them; the end of the turn commits the user's
item and confirms or starts the reply.  Mixed into `Session`, whose state it shares.
"""

from __future__ import annotations

import asyncio
import dataclasses
from typing import TYPE_CHECKING

import numpy as np

from . import vad
from .engines.base import EngineError
from .events import (
    InputCommitted,
    Item,
    SpeechStarted,
    SpeechStopped,
    TranscriptionCompleted,
    TranscriptionDelta,
    TranscriptionFailed,
)
from .listener import ASR_RATE

if TYPE_CHECKING:
    from .session import Session

# Audio between partial transcripts while the user speaks.  Partials share the STT worker
# with the speculative end-of-turn transcript, so they are kept sparse.
PARTIAL_EVERY_S = 2.0


class SessionError(Exception):
    """A client command that cannot be carried out; becomes an `error` event."""

    def __init__(self, code: str, message: str, param: str | None = None) -> None:
        super().__init__(message)
        self.code, self.message, self.param = code, message, param


@dataclasses.dataclass(eq=False)
class Utterance:
    item_id: str
    start_s: float  # audio start (prefix padding included)
    pause_s: float | None = None  # audio time the current pause began
    pause_wall: float | None = None  # wall time it began
    speculative: asyncio.Future[str] | None = None  # transcript up to pause_s
    partial: str = ""
    partial_task: asyncio.Task[None] | None = None
    next_partial_s: float = 0.0


class Listening:
    """The listening half of `Session`."""

    # --- listening ---------------------------------------------------------------------

    async def _listen_loop(self: Session) -> None:
        speculate_s = self.engines.settings.vad.speculate_ms / 1000
        guard_s = self.engines.settings.vad.echo_guard_ms / 1000
        while True:
            heard = await self.listener.next_batch()
            await self._report_dropped()
            self.listener.detector.set_strict(self.replies.echo_guarded(guard_s))
            for event in heard.events:
                await self._on_turn_event(event)
            utt = self._utt
            if utt is None:
                continue
            if (
                utt.pause_s is not None
                and utt.speculative is None
                and heard.end_s - utt.pause_s >= speculate_s
            ):
                self._speculate(utt)
            elif (
                self.config.transcription
                and utt.pause_s is None
                and utt.partial_task is None
                and heard.end_s >= utt.next_partial_s
            ):
                utt.partial_task = self.spawn(self._partial(utt), "partial transcript")

    async def _report_dropped(self: Session) -> None:
        dropped = self.listener.take_dropped_ms()
        if not dropped:
            return
        self.dropped_input_ms += dropped
        self.engines.metrics.input_dropped_seconds_total.inc(dropped / 1000)
        if not self._overflow_reported:  # once per session; later drops are only counted
            self._overflow_reported = True
            await self.error(
                "input_audio_buffer_overflow",
                f"audio arrived faster than it could be processed: dropped the oldest "
                f"{dropped} ms (further drops are counted, not reported)",
            )

    async def _on_turn_event(self: Session, event: vad.TurnEvent) -> None:
        td = self.config.turn_detection
        if isinstance(event, vad.SpeechStarted):
            if self.replies.speaking and td is not None and td.interrupt_response:
                await self.replies.interrupt("turn_detected")
            utt = Utterance(self.new_id("item"), event.audio_start_s)
            utt.next_partial_s = event.at_s + PARTIAL_EVERY_S
            self._utt = utt
            self.listener.pin(event.audio_start_s)
            await self.emit(SpeechStarted(utt.item_id, round(event.audio_start_s * 1000)))
            await self.set_state("user_speaking")
            return
        utt = self._utt
        if utt is None:
            return
        if isinstance(event, vad.SilenceStarted):
            utt.pause_s, utt.pause_wall = event.at_s, self.clock()
        elif isinstance(event, vad.SpeechResumed):
            utt.pause_s = utt.pause_wall = None
            if utt.speculative is not None:  # the user went on: that text is stale
                utt.speculative.cancel()
                utt.speculative = None
                self.replies.abandon()
        elif isinstance(event, vad.SpeechStopped):
            create = td is not None and td.create_response
            await self._end_utterance(event.at_s, create=create)

    def _speculate(self: Session, utt: Utterance) -> None:
        """The user paused: transcribe what was said, and prepare the reply, in case the
        turn is over.  Both are dropped if the user goes on."""
        assert utt.pause_s is not None
        if utt.partial_task is not None:
            utt.partial_task.cancel()
        audio = self.listener.audio_between(utt.start_s, utt.pause_s)
        utt.speculative = asyncio.ensure_future(self._transcribe(audio))
        td = self.config.turn_detection
        if (
            td is not None
            and td.create_response
            and self.replies.active is None
            and not self.speaker.busy
        ):
            self.replies.speculate(utt.speculative)

    async def _partial(self: Session, utt: Utterance) -> None:
        try:
            text = await self._transcribe(self.listener.audio_between(utt.start_s))
        except EngineError:
            return
        finally:
            utt.partial_task = None
            utt.next_partial_s = self.listener.now_s + PARTIAL_EVERY_S
        if self._utt is utt and text.startswith(utt.partial) and len(text) > len(utt.partial):
            delta, utt.partial = text[len(utt.partial) :], text
            await self.emit(TranscriptionDelta(utt.item_id, delta))

    async def _transcribe(self: Session, audio: np.ndarray) -> str:
        return (await self.engines.stt.transcribe(audio)).text

    def _drop_utterance(self: Session) -> None:
        utt, self._utt = self._utt, None
        if utt is not None:
            for fut in (utt.speculative, utt.partial_task):
                if fut is not None:
                    fut.cancel()
            self.replies.abandon()
        self.listener.pin(None)

    async def _end_utterance(self: Session, end_s: float, *, create: bool) -> None:
        utt = self._utt
        assert utt is not None
        stopped = self.clock()
        audio = self.listener.audio_between(utt.start_s, end_s)
        speculative = utt.speculative if utt.pause_s == end_s else None
        if utt.speculative is not None and speculative is None:
            utt.speculative.cancel()
        if utt.partial_task is not None:
            utt.partial_task.cancel()
        self._utt = None
        self.listener.pin(None)
        await self.emit(SpeechStopped(utt.item_id, round(end_s * 1000)))
        self._user_turn = (utt.pause_wall, stopped, None)
        await self._add_user_audio(utt.item_id, audio, speculative)
        if not create or self.replies.active is not None:
            self.replies.abandon()
            await self.set_state("listening")
        elif speculative is None or not self.replies.confirm():
            self.replies.start(auto=True)

    async def _add_user_audio(
        self, item_id: str, audio: np.ndarray, speculative: asyncio.Future[str] | None = None
    ) -> None:
        previous = self.items[-1].id if self.items else None
        await self.emit(InputCommitted(item_id, previous))
        await self._append_item(Item(item_id, "user", "", kind="audio", status="in_progress"))
        if speculative is not None and speculative.done() and not speculative.cancelled():
            await self._complete_transcript(item_id, audio, speculative)  # known already
            return
        task = self.spawn(self._complete_transcript(item_id, audio, speculative), "transcript")
        self._pending_stt.add(task)
        task.add_done_callback(self._pending_stt.discard)

    async def _complete_transcript(
        self, item_id: str, audio: np.ndarray, speculative: asyncio.Future[str] | None
    ) -> None:
        try:
            text = None
            if speculative is not None and not speculative.cancelled():
                try:
                    text = await asyncio.shield(speculative)
                except asyncio.CancelledError:
                    if not speculative.cancelled():
                        raise  # this task itself is being cancelled
            if text is None:  # no speculative transcript, or it was dropped: make one
                text = await self._transcribe(audio)
        except EngineError as exc:
            self.set_item_text(item_id, "", "incomplete")
            await self.emit(TranscriptionFailed(item_id, str(exc)))
            return
        silence, stopped, _ = self._user_turn
        if stopped is not None:
            self._user_turn = (silence, stopped, self.clock())
        self.set_item_text(item_id, text, "completed")
        if self.config.transcription:
            await self.emit(TranscriptionCompleted(item_id, text, len(audio) / ASR_RATE))
