"""Session: one conversation.  Listens, takes turns, replies, and yields to barge-in.

A transport feeds it client commands (never waiting on a model) and forwards the facts it
emits (`events.py`).  Inside, `run()` holds a TaskGroup of the listen loop and the Speaker's
pacing loop; each reply is a `Turn` in its own task, cancelled on barge-in.
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import time
import uuid
from collections.abc import Awaitable, Callable

import numpy as np

from . import vad
from .engines.base import EngineError
from .engines.runtime import Engines, voice_of
from .events import (
    AudioOut,
    ErrorRaised,
    InputCleared,
    InputCommitted,
    Item,
    ItemAdded,
    ItemDeleted,
    ItemTruncated,
    ResponseDone,
    ResponseStarted,
    SessionConfig,
    SessionEvent,
    SessionStarted,
    SessionUpdated,
    SpeechStarted,
    SpeechStopped,
    State,
    StateChanged,
    TranscriptionCompleted,
    TranscriptionDelta,
    TranscriptionFailed,
    TurnDetection,
    TurnMetrics,
)
from .listener import Listener
from .speaker import Speaker
from .turn import Turn

log = logging.getLogger(__name__)

PARTIAL_EVERY_S = 1.2  # audio between partial transcripts while the user speaks


def new_id(prefix: str) -> str:
    return f"{prefix}_{uuid.uuid4().hex[:20]}"


class SessionError(Exception):
    """A client command that cannot be carried out; becomes an `error` event."""

    def __init__(self, code: str, message: str, param: str | None = None) -> None:
        super().__init__(message)
        self.code, self.message, self.param = code, message, param


@dataclasses.dataclass
class _Utterance:
    item_id: str
    start_s: float  # audio start (prefix padding included)
    speech_start_s: float
    silence_wall: float | None = None  # wall time the final pause began
    speculative: asyncio.Future[str] | None = None
    speculative_end_s: float | None = None
    partial: str = ""
    partial_task: asyncio.Task[None] | None = None
    next_partial_s: float = 0.0


class Session:
    def __init__(
        self,
        engines: Engines,
        emit: Callable[[SessionEvent], Awaitable[None]],
        *,
        persona: str | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.engines = engines
        s = engines.settings
        self._emit = emit
        self._clock = clock
        name = persona.lower() if persona and persona.lower() in s.personas else s.default_persona
        v = s.vad
        self.config = SessionConfig(
            id=new_id("sess"),
            model=name,
            turn_detection=TurnDetection(
                threshold=v.threshold,
                prefix_padding_ms=v.prefix_padding_ms,
                silence_duration_ms=v.silence_ms,
            ),
        )
        self.listener = Listener(
            engines.new_vad(), self._turn_config(), max_queue_ms=s.server.input_queue_ms
        )
        self.speaker = Speaker(self._on_audio, sample_rate=s.output_sample_rate, clock=clock)
        self.items: list[Item] = []
        self._utt: _Utterance | None = None
        self._pending_stt: list[asyncio.Task[None]] = []
        self._turn: Turn | None = None
        self._response_task: asyncio.Task[None] | None = None
        self._turns: dict[str, Turn] = {}  # assistant item id -> its turn (recent)
        self._state: State | None = None
        self._user_turn: tuple[float | None, float | None, float | None] = (None, None, None)
        self._tasks: set[asyncio.Task[None]] = set()
        self.dropped_input_ms = 0
        self._overflow_reported = False

    # --- lifecycle ---------------------------------------------------------------------

    async def run(self) -> None:
        await self._emit(SessionStarted(self.config))
        await self._set_state("listening")
        try:
            async with asyncio.TaskGroup() as tg:
                tg.create_task(self._listen_loop(), name="listen")
                tg.create_task(self.speaker.run_loop(), name="speaker")
        finally:
            await self.close()

    async def close(self, timeout: float = 5.0) -> None:
        tasks = [t for t in (self._response_task, *self._tasks, *self._pending_stt) if t]
        for t in tasks:
            t.cancel()
        if tasks:
            _, pending = await asyncio.wait(tasks, timeout=timeout)
            for t in pending:
                log.warning("session %s: task %s did not stop", self.config.id, t.get_name())

    def _spawn(self, coro: Awaitable[None], name: str) -> asyncio.Task[None]:
        task = asyncio.ensure_future(coro)
        task.set_name(name)
        self._tasks.add(task)
        task.add_done_callback(self._task_done)
        return task

    def _task_done(self, task: asyncio.Task[None]) -> None:
        self._tasks.discard(task)
        if not task.cancelled() and task.exception() is not None:
            log.error(
                "session %s: %s failed", self.config.id, task.get_name(), exc_info=task.exception()
            )

    def _turn_config(self) -> vad.TurnConfig:
        td = self.config.turn_detection or TurnDetection()
        v = self.engines.settings.vad
        threshold = td.threshold
        return vad.TurnConfig(
            threshold=threshold,
            min_speech_s=max(v.min_speech_ms, 10) / 1000,
            silence_s=td.silence_duration_ms / 1000,
            prefix_padding_s=td.prefix_padding_ms / 1000,
            max_turn_s=v.max_turn_s,
            strict_threshold=max(v.barge_in_threshold, threshold),
            strict_min_speech_s=max(v.barge_in_min_speech_ms, 10) / 1000,
        )

    async def _set_state(self, state: State) -> None:
        if state != self._state:
            self._state = state
            await self._emit(StateChanged(state))

    async def error(
        self, code: str, message: str, event_id: str | None = None, param: str | None = None
    ) -> None:
        await self._emit(ErrorRaised(code, message, event_id, param))

    # --- client commands ---------------------------------------------------------------

    def append_audio(self, pcm: np.ndarray) -> None:
        """PCM16 at 24 kHz from the client; never blocks."""
        self.listener.push(pcm)

    async def update(self, **changes: object) -> None:
        fields = {f.name for f in dataclasses.fields(SessionConfig)} - {"id"}
        unknown = set(changes) - fields
        if unknown:
            raise SessionError("invalid_value", f"unknown session field(s): {sorted(unknown)}")
        model = changes.get("model")
        if model is not None and str(model).lower() not in self.engines.settings.personas:
            known = ", ".join(sorted(self.engines.settings.personas))
            raise SessionError(
                "invalid_value", f"unknown persona {model!r}; known: {known}", "session.model"
            )
        if model is not None:
            changes["model"] = str(model).lower()
        self.config = dataclasses.replace(self.config, **changes)  # type: ignore[arg-type]
        detector = self.listener.detector
        self.listener.detecting = self.config.turn_detection is not None
        detector.config = self._turn_config()
        await self._emit(SessionUpdated(self.config))

    async def commit(self) -> None:
        """Commit buffered input as a user turn (push-to-talk, or forcing the end of a turn)."""
        if self._utt is not None:
            await self._end_utterance(self.listener.now_s, create=False)
            return
        audio = self.listener.take_all()
        if len(audio) < 1600:
            raise SessionError(
                "input_audio_buffer_commit_empty",
                f"buffer too small: expected at least 100 ms of audio, got {len(audio) / 16:.0f} ms",
            )
        item_id = new_id("item")
        await self._add_user_audio(item_id, audio)

    async def clear_input(self) -> None:
        self._drop_utterance()
        self.listener.clear()
        await self._emit(InputCleared())

    async def add_item(self, role: str, text: str, item_id: str | None = None) -> None:
        if item_id and any(i.id == item_id for i in self.items):
            raise SessionError("invalid_value", f"item {item_id!r} already exists", "item.id")
        item = Item(item_id or new_id("item"), role, text)  # type: ignore[arg-type]
        await self._append_item(item)

    async def truncate(self, item_id: str, audio_end_ms: int) -> None:
        index = self.find(item_id)
        item = self.items[index]
        turn = self._turns.get(item_id)
        if item.role != "assistant" or turn is None or not turn.audio:
            raise SessionError(
                "invalid_value", f"item {item_id!r} has no audio to truncate", "item_id"
            )
        total = turn.spans[-1].end_ms if turn.spans else 0.0
        if audio_end_ms > total + 1:
            raise SessionError(
                "invalid_value",
                f"audio_end_ms {audio_end_ms} is past the item's audio ({total:.0f} ms)",
                "audio_end_ms",
            )
        text = turn.heard_text(float(audio_end_ms))
        self.items[index] = dataclasses.replace(item, text=text, status="incomplete")
        await self._emit(ItemTruncated(item_id, audio_end_ms, text))

    async def delete_item(self, item_id: str) -> None:
        index = self.find(item_id)
        del self.items[index]
        await self._emit(ItemDeleted(item_id))

    async def create_response(
        self, *, instructions: str | None = None, modalities: tuple[str, ...] | None = None
    ) -> None:
        if self._response_task is not None:
            raise SessionError(
                "conversation_already_has_active_response",
                f"response {self._turn.response_id if self._turn else ''} is still in progress; "
                "cancel it first",
            )
        self._start_response(instructions=instructions, modalities=modalities)

    async def cancel_response(self) -> None:
        if self._response_task is None:
            raise SessionError("response_cancel_not_active", "there is no response to cancel")
        await self._interrupt("client_cancelled")

    async def stop_audio(self) -> None:
        """The client flushed its playback: stop the reply as a barge-in would."""
        if self._response_task is not None or self.speaker.busy:
            await self._interrupt("client_cancelled")

    def find(self, item_id: str) -> int:
        for i, item in enumerate(self.items):
            if item.id == item_id:
                return i
        raise SessionError("item_not_found", f"no item with id {item_id!r}", "item_id")

    async def _append_item(self, item: Item) -> None:
        previous = self.items[-1].id if self.items else None
        self.items.append(item)
        await self._emit(ItemAdded(item, previous))

    # --- listening ----------------------------------------------------------------------

    async def _listen_loop(self) -> None:
        while True:
            heard = await self.listener.next_batch()
            dropped = self.listener.take_dropped_ms()
            if dropped:
                self.dropped_input_ms += dropped
                if not self._overflow_reported:  # once per session; later drops are counted
                    self._overflow_reported = True
                    await self.error(
                        "input_audio_buffer_overflow",
                        f"audio arrived faster than it could be processed: dropped the oldest "
                        f"{dropped} ms (further drops are counted, not reported)",
                    )
            self.listener.detector.set_strict(self._echo_guarded())
            for event in heard.events:
                await self._on_turn_event(event)
            utt = self._utt
            if (
                utt is not None
                and self.config.transcription
                and utt.partial_task is None
                and utt.speculative is None
                and heard.end_s >= utt.next_partial_s
            ):
                utt.partial_task = self._spawn(self._partial(utt), "partial")

    def _echo_guarded(self) -> bool:
        if self._turn is None or not self.speaker.busy:
            return False
        started = self.speaker.first_release_at(self._turn.response_id)
        guard = self.engines.settings.vad.echo_guard_ms / 1000
        return started is not None and self._clock() - started < guard

    async def _on_turn_event(self, event: vad.TurnEvent) -> None:
        if isinstance(event, vad.SpeechStarted):
            if self._response_task is not None or self.speaker.busy:
                td = self.config.turn_detection
                if td is not None and td.interrupt_response:
                    await self._interrupt("turn_detected")
            utt = _Utterance(new_id("item"), event.audio_start_s, event.at_s)
            utt.next_partial_s = event.at_s + PARTIAL_EVERY_S
            self._utt = utt
            self.listener.pin(event.audio_start_s)
            await self._emit(SpeechStarted(utt.item_id, round(event.audio_start_s * 1000)))
            await self._set_state("user_speaking")
        elif self._utt is None:
            return
        elif isinstance(event, vad.SilenceStarted):
            utt = self._utt
            utt.silence_wall = self._clock()
            if self.config.transcription:
                audio = self.listener.audio_between(utt.start_s, event.at_s)
                utt.speculative = asyncio.ensure_future(self._transcribe(audio))
                utt.speculative_end_s = event.at_s
        elif isinstance(event, vad.SpeechResumed):
            self._utt.silence_wall = None
            if self._utt.speculative is not None:
                self._utt.speculative.cancel()  # the user went on: its text is stale
                self._utt.speculative = None
        elif isinstance(event, vad.SpeechStopped):
            td = self.config.turn_detection
            await self._end_utterance(event.at_s, create=td is not None and td.create_response)

    async def _partial(self, utt: _Utterance) -> None:
        try:
            text = await self._transcribe(self.listener.audio_between(utt.start_s))
        except EngineError:
            return
        finally:
            utt.partial_task = None
            utt.next_partial_s = self.listener.now_s + PARTIAL_EVERY_S
        if self._utt is utt and text.startswith(utt.partial) and len(text) > len(utt.partial):
            delta, utt.partial = text[len(utt.partial) :], text
            await self._emit(TranscriptionDelta(utt.item_id, delta))

    async def _transcribe(self, audio: np.ndarray) -> str:
        result = await self.engines.stt.transcribe(audio)
        return result.text

    def _drop_utterance(self) -> None:
        if self._utt is not None:
            for fut in (self._utt.speculative, self._utt.partial_task):
                if fut is not None:
                    fut.cancel()
        self._utt = None
        self.listener.pin(None)

    async def _end_utterance(self, end_s: float, *, create: bool) -> None:
        utt = self._utt
        assert utt is not None
        stopped = self._clock()
        audio = self.listener.audio_between(utt.start_s, end_s)
        speculative = utt.speculative if utt.speculative_end_s == end_s else None
        if utt.speculative is not None and speculative is None:
            utt.speculative.cancel()
        if utt.partial_task is not None:
            utt.partial_task.cancel()
        self._utt = None
        self.listener.pin(None)
        await self._emit(SpeechStopped(utt.item_id, round(end_s * 1000)))
        self._user_turn = (utt.silence_wall, stopped, None)
        await self._add_user_audio(utt.item_id, audio, speculative)
        if create and self._response_task is None:
            self._start_response()
        else:
            await self._set_state("listening")

    async def _add_user_audio(
        self, item_id: str, audio: np.ndarray, speculative: asyncio.Future[str] | None = None
    ) -> None:
        previous = self.items[-1].id if self.items else None
        await self._emit(InputCommitted(item_id, previous))
        item = Item(item_id, "user", "", kind="audio", status="in_progress")
        await self._append_item(item)
        task = self._spawn(self._complete_transcript(item_id, audio, speculative), "transcript")
        self._pending_stt.append(task)
        task.add_done_callback(self._pending_stt.remove)

    async def _complete_transcript(
        self, item_id: str, audio: np.ndarray, speculative: asyncio.Future[str] | None
    ) -> None:
        try:
            text = await speculative if speculative is not None else await self._transcribe(audio)
        except EngineError as exc:
            await self._emit(TranscriptionFailed(item_id, str(exc)))
            return
        stopped = self._user_turn[1]
        if stopped is not None:
            self._user_turn = (self._user_turn[0], stopped, self._clock())
        for i, item in enumerate(self.items):
            if item.id == item_id:
                self.items[i] = dataclasses.replace(item, text=text, status="completed")
        if self.config.transcription:
            await self._emit(TranscriptionCompleted(item_id, text, len(audio) / 16000))

    # --- replying -------------------------------------------------------------------------

    def _start_response(
        self, *, instructions: str | None = None, modalities: tuple[str, ...] | None = None
    ) -> None:
        settings = self.engines.settings
        name = self.config.model
        persona = settings.persona(name)
        modalities = modalities or self.config.output_modalities
        audio = "audio" in modalities
        turn = Turn(
            response_id=new_id("resp"),
            item_id=new_id("item"),
            persona=name,
            messages=[],
            chat=self.engines.chat_for(name),
            emit=self._emit,
            tts=self.engines.tts if audio else None,
            speaker=self.speaker if audio else None,
            voice=dataclasses.replace(
                voice_of(persona), speed=persona.voice.speed * self.config.speed
            ),
            max_tokens=self.config.max_output_tokens or persona.chat.max_tokens,
            clock=self._clock,
        )
        self._turn = turn
        self._turns[turn.item_id] = turn
        while len(self._turns) > 16:
            del self._turns[next(iter(self._turns))]
        self._response_task = self._spawn(
            self._run_response(turn, instructions, modalities), f"response {turn.response_id}"
        )

    def _messages(self, instructions: str | None) -> list:
        name = self.config.model
        messages = self.engines.system_messages(name, instructions or self.config.instructions)
        for item in self.items:
            if item.text.strip():
                messages.append({"role": item.role, "content": item.text})
        return messages

    async def _run_response(
        self, turn: Turn, instructions: str | None, modalities: tuple[str, ...]
    ) -> None:
        """Runs the reply to its end; barge-in cancels this task (see `_interrupt`)."""
        if self._pending_stt:
            await asyncio.wait(list(self._pending_stt))
        turn.messages = self._messages(instructions)
        turn.marks.started = self._clock()
        previous = self.items[-1].id if self.items else None
        self.items.append(
            Item(
                turn.item_id,
                "assistant",
                "",
                kind="audio" if turn.audio else "text",
                status="in_progress",
                persona=turn.persona,
            )
        )
        await self._emit(
            ResponseStarted(turn.response_id, turn.item_id, previous, turn.persona, modalities)
        )
        await self._set_state("thinking")
        status, reason = "completed", None
        try:
            await turn.run()
        except* EngineError as group:
            status, reason = "failed", "engine_error"
            for exc in group.exceptions:
                await self.error("engine_error", str(exc))
        except* Exception as group:  # a bug must not leave the session without a reply
            log.error("response %s failed", turn.response_id, exc_info=group)
            status, reason = "failed", "server_error"
            await self.error("server_error", "the reply failed; see the server log")
        if turn.audio:
            await self.speaker.wait_released(turn.response_id)
        if status == "completed" and turn.max_tokens and turn.output_tokens >= turn.max_tokens:
            status, reason = "incomplete", "max_output_tokens"
        self._response_task = None
        await self._finish(turn, status, reason, turn.heard_text(None))
        if turn.audio and status != "failed":
            self._spawn(self._after_playback(turn), "playback")
        elif self._utt is None:
            await self._set_state("listening")

    async def _after_playback(self, turn: Turn) -> None:
        await self.speaker.wait_played(turn.response_id)
        if self._turn is turn and self._response_task is None and self._utt is None:
            await self._set_state("listening")

    async def _finish(self, turn: Turn, status: str, reason: str | None, text: str) -> None:
        for i, item in enumerate(self.items):
            if item.id == turn.item_id:
                self.items[i] = dataclasses.replace(
                    item, text=text, status="completed" if status == "completed" else "incomplete"
                )
        await self._emit(
            ResponseDone(
                turn.response_id,
                turn.item_id,
                status,
                text,
                reason,  # type: ignore[arg-type]
                modalities=("audio",) if turn.audio else ("text",),
                output_tokens=turn.output_tokens,
                input_tokens=sum(len(m["content"]) for m in turn.messages) // 4,
                persona=turn.persona,
            )
        )
        await self._emit(TurnMetrics(turn.response_id, self._metrics(turn)))

    def _metrics(self, turn: Turn) -> dict[str, float | None]:
        silence, stopped, transcribed = self._user_turn
        m = turn.metrics()

        def ms(a: float | None, b: float | None) -> float | None:
            return None if a is None or b is None else round(1000.0 * (b - a), 1)

        sent = self.speaker.first_release_at(turn.response_id)
        return {
            "endpoint_ms": ms(silence, stopped),
            "stt_ms": ms(stopped, transcribed),
            **m,
            "voice_to_voice_ms": ms(silence, sent),
        }

    async def _interrupt(self, reason: str) -> None:
        """Barge-in or cancel: stop the reply now and keep only what was heard."""
        turn, task = self._turn, self._response_task
        if turn is None:
            return
        if task is not None:
            task.cancel()
            await asyncio.wait([task])
            self._response_task = None
        played = self.speaker.clear() if turn.audio else None
        await self._set_state("interrupted")
        heard = turn.heard_text(played)
        if task is not None:
            await self._finish(turn, "cancelled", reason, heard)
        else:  # the reply was complete but still playing: keep only what was heard
            for i, item in enumerate(self.items):
                if item.id == turn.item_id:
                    self.items[i] = dataclasses.replace(item, text=heard, status="incomplete")

    async def _on_audio(self, out: AudioOut) -> None:
        if self._turn is None or out.response_id != self._turn.response_id:
            return  # stale audio of an interrupted reply
        if self._state != "speaking" and self._utt is None:
            await self._set_state("speaking")
        await self._emit(out)
