"""Session: one conversation, and the client commands a transport carries out on it.

A transport feeds it client commands (never waiting on a model) and forwards the facts it
emits (`events.py`).  `run()` holds a TaskGroup of the listen loop (`Listening`) and the
Speaker's pacing loop; each reply is a `Turn` in its own task (`Replies`), cancelled on
barge-in.  The halves share a `SessionContext` and never import each other's Session.
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import time
from collections.abc import Awaitable, Callable
from typing import Any

import numpy as np

from ..engines.echo import EchoPath
from ..engines.loader import Engines
from ..settings.voices import UnknownVoice, session_voice
from ..speech import vad
from ..tools.specs import ToolSpec
from .context import SessionContext, SessionError, new_id
from .events import (
    InputCleared,
    Item,
    ItemDeleted,
    ItemTruncated,
    SessionConfig,
    SessionEvent,
    SessionStarted,
    SessionUpdated,
    TurnDetection,
)
from .listener import INPUT_RATE, Listener
from .listening import Listening
from .replies import Replies
from .tooling import function_item

__all__ = ["Session", "SessionError"]

log = logging.getLogger(__name__)


class Session:
    def __init__(
        self,
        engines: Engines,
        emit: Callable[[SessionEvent], Awaitable[None]],
        *,
        persona: str | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        s = engines.settings
        name = persona.lower() if persona and persona.lower() in s.personas else s.default_persona
        v = s.vad
        config = SessionConfig(
            id=new_id("sess"),
            model=name,
            # connecting to the default persona means automatic routing; another one pins it
            persona="auto" if name == s.default_persona else name,
            turn_detection=TurnDetection(
                threshold=v.threshold,
                prefix_padding_ms=v.prefix_padding_ms,
                silence_duration_ms=v.silence_ms,
                semantic=v.type == "semantic_vad",
                eagerness=v.eagerness,
            ),
        )
        self.ctx = SessionContext(engines, emit, config, clock)
        self.replies = Replies(self.ctx)
        self.speaker = self.replies.speaker
        played = self.speaker.played
        listener = Listener(
            engines.new_vad(),
            self._turn_config(),
            max_queue_ms=s.server.input_queue_ms,
            echo=EchoPath(played, INPUT_RATE, clock) if v.echo_cancellation else None,
        )
        self.listening = Listening(self.ctx, listener, self.replies)

    # --- what transports read ------------------------------------------------------------

    @property
    def engines(self) -> Engines:
        return self.ctx.engines

    @property
    def config(self) -> SessionConfig:
        return self.ctx.config

    @property
    def items(self) -> list[Item]:
        return self.ctx.items

    def find(self, item_id: str) -> int:
        return self.ctx.find(item_id)

    # --- lifecycle ---------------------------------------------------------------------

    async def run(self) -> None:
        await self.ctx.emit(SessionStarted(self.config))
        await self.ctx.set_state("listening")
        try:
            async with asyncio.TaskGroup() as tg:
                tg.create_task(self.listening.listen_loop(), name="listen")
                tg.create_task(self.speaker.run_loop(), name="speaker")
        finally:
            await self.close()

    async def close(self, grace_s: float = 5.0) -> None:
        tasks = [*self.replies.cancel_all(), *self.ctx.tasks, *self.ctx.user.pending]
        for t in tasks:
            t.cancel()
        if tasks:
            _, pending = await asyncio.wait(tasks, timeout=grace_s)
            for t in pending:
                log.warning("session %s: task %s did not stop", self.config.id, t.get_name())

    async def wait_idle(self, timeout_s: float) -> bool:
        """Wait (up to `timeout_s`) until no reply is being generated or played."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout_s
        while self.replies.speaking:
            if loop.time() >= deadline:
                return False
            await asyncio.sleep(0.05)
        return True

    def _turn_config(self, config: SessionConfig | None = None) -> vad.TurnConfig:
        td = (config or self.config).turn_detection or TurnDetection()
        v = self.engines.settings.vad
        finished, longest = vad.EAGERNESS[td.eagerness]
        judge_after_s = v.judge_after_ms / 1000
        return vad.TurnConfig(
            threshold=td.threshold,
            min_speech_s=max(v.min_speech_ms, 10) / 1000,
            silence_s=td.silence_duration_ms / 1000,
            prefix_padding_s=td.prefix_padding_ms / 1000,
            max_turn_s=v.max_turn_s,
            strict_threshold=max(v.barge_in_threshold, td.threshold),
            strict_min_speech_s=max(v.barge_in_min_speech_ms, 10) / 1000,
            semantic=td.semantic,
            judge_after_s=judge_after_s,
            max_silence_s=max(longest, judge_after_s),
            finished_threshold=finished,
        )

    # --- client commands ---------------------------------------------------------------

    def append_audio(self, pcm: np.ndarray) -> None:
        """PCM16 at 24 kHz from the client; never blocks."""
        self.listening.listener.push(pcm)

    async def update(
        self, *, announce: bool = True, ignored: tuple[str, ...] = (), **changes: Any
    ) -> None:
        """Change the config, all of it or (SessionError) nothing.  `ignored`: what the
        client asked for that this session does not do; logged and reported back.
        `announce=False` configures a session before it starts (its `session.created` then
        carries the config)."""
        voice = changes.get("voice")
        if voice is not None:
            try:
                session_voice(self.engines.settings.voices, voice)
            except UnknownVoice as exc:
                param = "session.audio.output.voice"
                raise SessionError("invalid_value", exc.message, param) from None
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
            self.replies.router.sticky = None
        if ignored:
            log.info("session %s: accepted, not honoured: %s", self.config.id, ", ".join(ignored))
        config = dataclasses.replace(self.config, **changes, ignored=ignored)
        try:
            turn = self._turn_config(config)
        except ValueError as exc:  # the codec checks each field; this catches combinations
            raise SessionError(
                "invalid_value", f"turn detection: {exc}", "session.audio.input.turn_detection"
            ) from None
        self.ctx.config = config
        listener = self.listening.listener
        listener.detecting = config.turn_detection is not None
        listener.detector.reconfigure(turn)
        if announce:
            await self.ctx.emit(SessionUpdated(self.config))

    async def commit(self) -> None:
        """Commit buffered input as a user turn (push-to-talk, or forcing the end of a turn)."""
        await self.listening.commit()

    async def clear_input(self) -> None:
        self.listening.clear()
        await self.ctx.emit(InputCleared())

    async def add_item(self, role: str, text: str, item_id: str | None = None) -> None:
        self._check_room(text, item_id)
        await self.ctx.append_item(Item(item_id or self.ctx.new_id("item"), role, text))  # type: ignore[arg-type]

    async def add_function_item(
        self, kind: str, call_id: str, text: str, name: str | None, item_id: str | None
    ) -> None:
        """A client's `function_call_output` (or `function_call`) item."""
        self._check_room(text, item_id)
        await self.ctx.append_item(function_item(self.ctx, kind, call_id, text, name, item_id))

    def _check_room(self, text: str, item_id: str | None) -> None:
        if item_id and any(i.id == item_id for i in self.items):
            raise SessionError("invalid_value", f"item {item_id!r} already exists", "item.id")
        limits = self.engines.settings.limits
        if len(self.items) >= limits.max_items:
            raise SessionError(
                "conversation_too_large",
                f"the conversation holds {len(self.items)} items, the most a session may "
                "(limits.max_items): delete some first",
            )
        if sum(len(i.text) for i in self.items) + len(text) > limits.max_item_chars:
            raise SessionError(
                "conversation_too_large",
                f"the conversation's text would exceed {limits.max_item_chars} characters "
                "(limits.max_item_chars): delete some items first",
            )

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
        self.ctx.items[index] = dataclasses.replace(
            self.items[index], text=text, status="incomplete"
        )
        await self.ctx.emit(ItemTruncated(item_id, audio_end_ms, text))

    async def delete_item(self, item_id: str) -> None:
        del self.ctx.items[self.find(item_id)]
        await self.ctx.emit(ItemDeleted(item_id))

    async def create_response(
        self,
        *,
        instructions: str | None = None,
        modalities: tuple[str, ...] | None = None,
        tools: tuple[ToolSpec, ...] | None = None,
        tool_choice: str | None = None,
    ) -> None:
        active = self.replies.active
        if active is not None:
            raise SessionError(
                "conversation_already_has_active_response",
                f"response {active.turn.response_id} is still in progress; cancel it first",
            )
        self.replies.start(
            instructions=instructions, modalities=modalities, tools=tools, tool_choice=tool_choice
        )

    async def cancel_response(self) -> None:
        if self.replies.active is None:
            raise SessionError("response_cancel_not_active", "there is no response to cancel")
        await self.replies.interrupt("client_cancelled")

    async def stop_audio(self) -> None:
        """The client flushed its playback: stop the reply as a barge-in would."""
        if self.replies.speaking:
            await self.replies.interrupt("client_cancelled")
