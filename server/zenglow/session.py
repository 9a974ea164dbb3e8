"""Session: one conversation.  Listens, takes turns, and hands replies to `Replies`.

A transport feeds it client commands (never waiting on a model) and forwards the facts it
emits (`events.py`).  `run()` holds a TaskGroup of the listen loop and the Speaker's pacing
loop; each reply is a `Turn` in its own task, cancelled on barge-in.
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import time
import uuid
from collections.abc import Awaitable, Callable, Coroutine
from typing import Any

import numpy as np

from . import vad
from .engines.runtime import Engines
from .events import (
    ErrorRaised,
    InputCleared,
    Item,
    ItemAdded,
    ItemDeleted,
    ItemTruncated,
    SessionConfig,
    SessionEvent,
    SessionStarted,
    SessionUpdated,
    State,
    StateChanged,
    TurnDetection,
)
from .listener import ASR_RATE, Listener
from .replies import Replies
from .session_listening import Listening, SessionError, Utterance
from .speaker import Speaker
from .turn import Turn

log = logging.getLogger(__name__)


class Session(Listening):
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
        self.emit = emit
        self.clock = clock
        name = persona.lower() if persona and persona.lower() in s.personas else s.default_persona
        v = s.vad
        self.config = SessionConfig(
            id=self.new_id("sess"),
            model=name,
            # connecting to the default persona means automatic routing; another one pins it
            persona="auto" if name == s.default_persona else name,
            turn_detection=TurnDetection(
                threshold=v.threshold,
                prefix_padding_ms=v.prefix_padding_ms,
                silence_duration_ms=v.silence_ms,
            ),
        )
        self.listener = Listener(
            engines.new_vad(), self._turn_config(), max_queue_ms=s.server.input_queue_ms
        )
        self.replies = Replies(self)
        self.speaker = Speaker(self.replies.on_audio, sample_rate=s.output_sample_rate, clock=clock)
        self.items: list[Item] = []
        self.dropped_input_ms = 0
        self._overflow_reported = False
        self._utt: Utterance | None = None
        self._pending_stt: set[asyncio.Task[None]] = set()
        self._state: State | None = None
        self._user_turn: tuple[float | None, float | None, float | None] = (None, None, None)
        self._tasks: set[asyncio.Task[None]] = set()
        self.sticky: str | None = None  # the persona the user asked to stay with, by voice

    @staticmethod
    def new_id(prefix: str) -> str:
        return f"{prefix}_{uuid.uuid4().hex[:20]}"

    # --- lifecycle ---------------------------------------------------------------------

    async def run(self) -> None:
        await self.emit(SessionStarted(self.config))
        await self.set_state("listening")
        try:
            async with asyncio.TaskGroup() as tg:
                tg.create_task(self._listen_loop(), name="listen")
                tg.create_task(self.speaker.run_loop(), name="speaker")
        finally:
            await self.close()

    async def close(self, grace_s: float = 5.0) -> None:
        tasks = [*self.replies.cancel_all(), *self._tasks, *self._pending_stt]
        for t in tasks:
            t.cancel()
        if tasks:
            _, pending = await asyncio.wait(tasks, timeout=grace_s)
            for t in pending:
                log.warning("session %s: task %s did not stop", self.config.id, t.get_name())

    def spawn(self, coro: Coroutine[Any, Any, None], name: str) -> asyncio.Task[None]:
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
        return vad.TurnConfig(
            threshold=td.threshold,
            min_speech_s=max(v.min_speech_ms, 10) / 1000,
            silence_s=td.silence_duration_ms / 1000,
            prefix_padding_s=td.prefix_padding_ms / 1000,
            max_turn_s=v.max_turn_s,
            strict_threshold=max(v.barge_in_threshold, td.threshold),
            strict_min_speech_s=max(v.barge_in_min_speech_ms, 10) / 1000,
        )

    async def set_state(self, state: State) -> None:
        if state != self._state:
            self._state = state
            await self.emit(StateChanged(state))

    async def error(
        self,
        code: str,
        message: str,
        event_id: str | None = None,
        param: str | None = None,
        kind: str = "invalid_request_error",
    ) -> None:
        await self.emit(ErrorRaised(code, message, event_id, param, kind))

    @property
    def user_speaking(self) -> bool:
        return self._utt is not None

    # --- conversation ------------------------------------------------------------------

    def find(self, item_id: str) -> int:
        for i, item in enumerate(self.items):
            if item.id == item_id:
                return i
        raise SessionError("item_not_found", f"no item with id {item_id!r}", "item_id")

    def set_item_text(self, item_id: str, text: str, status: str = "completed") -> None:
        for i, item in enumerate(self.items):
            if item.id == item_id:
                self.items[i] = dataclasses.replace(item, text=text, status=status)  # type: ignore[arg-type]

    async def _append_item(self, item: Item) -> None:
        previous = self.items[-1].id if self.items else None
        self.items.append(item)
        await self.emit(ItemAdded(item, previous))

    async def transcripts_settled(self) -> None:
        """Wait until every committed user turn has its transcript."""
        while self._pending_stt:
            await asyncio.wait(list(self._pending_stt))

    def turn_metrics(self, turn: Turn) -> dict[str, float | None]:
        silence, stopped, transcribed = self._user_turn

        def ms(a: float | None, b: float | None) -> float | None:
            return None if a is None or b is None else round(1000.0 * (b - a), 1)

        sent = self.speaker.first_release_at(turn.response_id)
        return {
            "endpoint_ms": ms(silence, stopped),
            "stt_ms": ms(stopped, transcribed),
            **turn.metrics(),
            "voice_to_voice_ms": ms(silence, sent),
        }

    # --- client commands ---------------------------------------------------------------

    def append_audio(self, pcm: np.ndarray) -> None:
        """PCM16 at 24 kHz from the client; never blocks."""
        self.listener.push(pcm)

    async def update(self, **changes: Any) -> None:
        voice = changes.get("voice")
        voices = self.engines.settings.voices
        if voice is not None and voice != "default" and voice not in voices:
            raise SessionError(
                "invalid_value",
                f"unknown voice {voice!r}; available: default, {', '.join(sorted(voices))}",
                "session.audio.output.voice",
            )
        persona = changes.get("persona")
        if persona is not None:
            persona = str(persona).lower()
            if persona != "auto" and persona not in self.engines.settings.personas:
                known = ", ".join(sorted(self.engines.settings.personas))
                raise SessionError(
                    "invalid_value",
                    f"unknown persona {persona!r}; use 'auto' or one of: {known}",
                    "session.zenglow.persona",
                )
            changes["persona"] = persona
            self.sticky = None
        self.config = dataclasses.replace(self.config, **changes)
        self.listener.detecting = self.config.turn_detection is not None
        self.listener.detector.reconfigure(self._turn_config())
        await self.emit(SessionUpdated(self.config))

    async def commit(self) -> None:
        """Commit buffered input as a user turn (push-to-talk, or forcing the end of a turn)."""
        if self._utt is not None:
            await self._end_utterance(self.listener.now_s, create=False)
            return
        audio = self.listener.take_all()
        if len(audio) < ASR_RATE // 10:
            raise SessionError(
                "input_audio_buffer_commit_empty",
                f"buffer too small: expected at least 100 ms of audio, "
                f"got {1000 * len(audio) // ASR_RATE} ms",
            )
        await self._add_user_audio(self.new_id("item"), audio)

    async def clear_input(self) -> None:
        self._drop_utterance()
        self.listener.clear()
        await self.emit(InputCleared())

    async def add_item(self, role: str, text: str, item_id: str | None = None) -> None:
        if item_id and any(i.id == item_id for i in self.items):
            raise SessionError("invalid_value", f"item {item_id!r} already exists", "item.id")
        await self._append_item(Item(item_id or self.new_id("item"), role, text))  # type: ignore[arg-type]

    async def truncate(self, item_id: str, audio_end_ms: int) -> None:
        index = self.find(item_id)
        turn = self.replies.turns.get(item_id)
        if turn is None or not turn.audio:
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
        self.items[index] = dataclasses.replace(self.items[index], text=text, status="incomplete")
        await self.emit(ItemTruncated(item_id, audio_end_ms, text))

    async def delete_item(self, item_id: str) -> None:
        del self.items[self.find(item_id)]
        await self.emit(ItemDeleted(item_id))

    async def create_response(
        self, *, instructions: str | None = None, modalities: tuple[str, ...] | None = None
    ) -> None:
        active = self.replies.active
        if active is not None:
            raise SessionError(
                "conversation_already_has_active_response",
                f"response {active.turn.response_id} is still in progress; cancel it first",
            )
        self.replies.start(instructions=instructions, modalities=modalities)

    async def cancel_response(self) -> None:
        if self.replies.active is None:
            raise SessionError("response_cancel_not_active", "there is no response to cancel")
        await self.replies.interrupt("client_cancelled")

    async def stop_audio(self) -> None:
        """The client flushed its playback: stop the reply as a barge-in would."""
        if self.replies.speaking:
            await self.replies.interrupt("client_cancelled")
