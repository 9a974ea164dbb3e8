"""Replies: the session's voice.  Starts, gates, interrupts and finishes each Turn.

A reply can start *speculatively* while the user is still pausing: the transcript of the
speech so far goes to the chat model and TTS at once, but nothing is sent (events are held
and the Speaker holds its audio) until the end of the turn is confirmed.  If the user goes
on, the speculative reply is dropped unheard.  Confirmed, it starts playing immediately,
which takes the model's and TTS's first-audio time off the voice-to-voice latency.
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging

from ..engines.base import ChatMessage, EngineError
from ..ops.redact import public
from ..tools.specs import ToolSpec
from .context import SessionContext
from .events import AudioOut, Item, ResponseDone, ResponseStarted, SessionEvent, TurnMetrics
from .grounding import Grounding
from .router import Router
from .speaker import Speaker
from .tooling import ToolRounds, chat_messages, may_call
from .turn import Turn

log = logging.getLogger(__name__)


@dataclasses.dataclass(eq=False)
class Reply:
    turn: Turn
    modalities: tuple[str, ...]
    instructions: str | None = None
    gate: asyncio.Future[bool] | None = None  # speculative until it resolves True
    held: list[SessionEvent] = dataclasses.field(default_factory=list)
    task: asyncio.Task[None] | None = None
    announced: bool = False  # response.created went out: it must end with response.done


class Replies:
    """The replying half of a session: its replies, and the Speaker that plays them."""

    def __init__(self, ctx: SessionContext) -> None:
        self.ctx = ctx
        settings = ctx.engines.settings
        self.speaker = Speaker(
            self.on_audio, sample_rate=settings.output_sample_rate, clock=ctx.clock
        )
        self.active: Reply | None = None  # the reply being generated or sent
        self.playing: Reply | None = None  # the last reply whose audio may still play
        self.speculation: Reply | None = None
        self.turns: dict[str, Turn] = {}  # assistant item id -> its turn (recent ones)
        self.router = Router(ctx)
        self.grounding = Grounding(ctx, self.router)

    # --- starting ----------------------------------------------------------------------

    def _new(
        self,
        *,
        instructions: str | None,
        modalities: tuple[str, ...] | None,
        tools: tuple[ToolSpec, ...] | None = None,
        tool_choice: str | None = None,
    ) -> Reply:
        s = self.ctx
        name = s.config.model
        persona = s.engines.settings.persona(name)
        modalities = modalities or s.config.output_modalities
        audio = "audio" in modalities
        voice = self.router.voice(name)
        turn = Turn(
            response_id=s.new_id("resp"),
            item_id=s.new_id("item"),
            persona=name,
            messages=[],
            chat=s.engines.chat_for(name),
            emit=s.emit,
            tts=s.engines.tts if audio else None,
            speaker=self.speaker if audio else None,
            voice=voice,
            max_tokens=s.config.max_output_tokens or persona.chat.max_tokens,
            max_sentences=persona.chat.max_sentences,
            truncation=s.config.truncation,
            clock=s.clock,
        )
        if may_call(s) or tools:
            client = s.config.tools if tools is None else tools
            turn.tools = ToolRounds(s, client, tool_choice or s.config.tool_choice)
        return Reply(turn, modalities, instructions)

    def start(
        self,
        *,
        instructions: str | None = None,
        modalities: tuple[str, ...] | None = None,
        auto: bool = False,
        tools: tuple[ToolSpec, ...] | None = None,
        tool_choice: str | None = None,
    ) -> None:
        reply = self._new(
            instructions=instructions, modalities=modalities, tools=tools, tool_choice=tool_choice
        )
        self.active = reply
        reply.task = self.ctx.spawn(self._run(reply, auto=auto), f"reply {reply.turn.response_id}")

    def speculate(self, transcript: asyncio.Future[str]) -> None:
        """Prepare the reply to a turn that may be over; `confirm()` or `abandon()` it."""
        if may_call(self.ctx):
            return  # a tool must not run for a turn that may go on
        reply = self._new(instructions=None, modalities=None)
        reply.gate = asyncio.get_running_loop().create_future()
        reply.turn.emit = self._holder(reply)
        self.speculation = reply
        reply.task = self.ctx.spawn(self._speculate(reply, transcript), "speculative reply")

    def confirm(self) -> bool:
        """The turn is over: let the speculative reply out.  False if there is none."""
        reply, self.speculation = self.speculation, None
        if reply is None or reply.task is None or reply.task.done() or self.active is not None:
            self.abandon(reply)
            return False
        assert reply.gate is not None
        reply.gate.set_result(True)
        self.active = reply
        return True

    def abandon(self, reply: Reply | None = None) -> None:
        reply = reply or self.speculation
        if reply is None:
            return
        if reply is self.speculation:
            self.speculation = None
        if reply.task is not None:
            reply.task.cancel()
        if reply.turn.speaker is not None:
            reply.turn.speaker.discard(reply.turn.response_id)

    def _holder(self, reply: Reply):  # type: ignore[no-untyped-def]
        async def hold(event: SessionEvent) -> None:
            reply.held.append(event)

        return hold

    # --- running -----------------------------------------------------------------------

    def _messages(self, instructions: str | None) -> list[ChatMessage]:
        s = self.ctx
        messages = s.engines.system_messages(s.config.model, instructions or s.config.instructions)
        return [*messages, *chat_messages(s.items)]  # type: ignore[list-item]

    async def _speculate(self, reply: Reply, transcript: asyncio.Future[str]) -> None:
        turn = reply.turn
        text = await asyncio.shield(transcript)  # the user's item still needs it if we stop
        if not text.strip():
            return  # nothing to answer; the confirmed turn will find out too
        turn.messages = [*self._messages(None), {"role": "user", "content": text}]
        turn.messages = self.router.route(reply.turn, list(turn.messages))
        turn.messages = await self.grounding.ground(turn, list(turn.messages))
        if turn.speaker is not None:
            turn.speaker.hold(turn.response_id)
        run = asyncio.ensure_future(turn.run())
        try:
            assert reply.gate is not None
            await reply.gate  # cancelled when the user goes on talking
        except asyncio.CancelledError:
            run.cancel()
            await asyncio.wait([run])
            raise
        turn.marks.committed = self.ctx.clock()
        await self.ctx.user.settled()  # the user's transcript is announced first
        await self._announce(reply)
        turn.emit = self.ctx.emit
        for event in reply.held:
            await self.ctx.emit(event)
        reply.held.clear()
        if turn.speaker is not None:
            turn.speaker.release(turn.response_id)
        await self._complete(reply, run)

    async def _run(self, reply: Reply, *, auto: bool) -> None:
        """Runs the reply to its end; barge-in cancels this task (see `interrupt`)."""
        s = self.ctx
        await self.ctx.user.settled()
        last = s.items[-1] if s.items else None
        if auto and last is not None and last.role == "user" and not last.text.strip():
            self.active = None  # nothing was said (a cough, noise): no reply
            await s.set_state("listening")
            return
        reply.turn.messages = self.router.route(reply.turn, self._messages(reply.instructions))
        reply.turn.messages = await self.grounding.ground(reply.turn, list(reply.turn.messages))
        reply.turn.marks.started = reply.turn.marks.committed = s.clock()
        await self._announce(reply)
        await self._complete(reply, asyncio.ensure_future(reply.turn.run()))

    async def _announce(self, reply: Reply) -> None:
        s, turn = self.ctx, reply.turn
        previous = s.items[-1].id if s.items else None
        kind = "audio" if turn.audio else "text"
        lazy = turn.tools is not None and turn.tools.prepare(turn)
        if not lazy:  # with tools, the message item is added when its text starts
            s.items.append(
                Item(
                    turn.item_id,
                    "assistant",
                    "",
                    kind=kind,
                    status="in_progress",
                    persona=turn.persona,
                )
            )
        self.turns[turn.item_id] = turn
        while len(self.turns) > 16:
            del self.turns[next(iter(self.turns))]
        reply.announced = True
        first = turn.preface.persona if turn.preface else turn.persona
        reason = "handoff" if turn.preface else turn.reason
        await s.emit(
            ResponseStarted(
                turn.response_id,
                turn.item_id,
                previous,
                first,
                reply.modalities,
                reason,
                message=not lazy,
            )
        )
        await s.set_state("thinking")

    async def _complete(self, reply: Reply, run: asyncio.Future[None]) -> None:
        s, turn = self.ctx, reply.turn
        status, reason = "completed", None
        try:
            await run
        except* EngineError as group:
            status, reason = "failed", "engine_error"
            for exc in group.exceptions:
                log.warning("response %s failed: %s", turn.response_id, exc)
                await s.error("engine_error", public(str(exc)), kind="server_error")
        except* Exception as group:  # a bug must not leave the session without a reply
            log.error("response %s failed", turn.response_id, exc_info=group)
            status, reason = "failed", "server_error"
            await s.error(
                "server_error", "the reply failed; see the server log", kind="server_error"
            )
        finally:
            if not run.done():  # this task was cancelled: stop the turn too
                run.cancel()
                await asyncio.wait([run])
        if turn.audio:
            assert turn.speaker is not None
            await turn.speaker.wait_released(turn.response_id)
        capped = turn.max_tokens and turn.output_tokens >= turn.max_tokens and not turn.capped
        if status == "completed" and capped:
            status, reason = "incomplete", "max_output_tokens"
        self.active = None
        await self._finish(reply, status, reason, turn.heard_text(None))
        if turn.audio and status != "failed":
            self.playing = reply
            s.spawn(self._after_playback(reply), "playback")
        elif not s.user.speaking:
            await s.set_state("listening")

    async def _after_playback(self, reply: Reply) -> None:
        assert reply.turn.speaker is not None
        await reply.turn.speaker.wait_played(reply.turn.response_id)
        if self.playing is reply and self.active is None and not self.ctx.user.speaking:
            self.playing = None
            await self.ctx.set_state("listening")

    async def _finish(self, reply: Reply, status: str, reason: str | None, text: str) -> None:
        s, turn = self.ctx, reply.turn
        s.set_item_text(turn.item_id, text, "completed" if status == "completed" else "incomplete")
        if s.engines.settings.server.log_content:
            log.info("session %s: %s (%s) said %r", s.config.id, turn.persona, status, text)
        await s.emit(
            ResponseDone(
                turn.response_id,
                turn.item_id,
                status,
                text,
                reason,  # type: ignore[arg-type]
                modalities=reply.modalities,
                output_tokens=turn.output_tokens,
                input_tokens=sum(len(m["content"]) for m in turn.messages) // 4,
                persona=turn.persona,
                calls=tuple(turn.tools.calls) if turn.tools else (),
                message=turn.tools is None or not turn.tools.lazy or turn.tools.message_open,
            )
        )
        metrics = self.turn_metrics(turn)
        s.engines.metrics.observe_turn(turn.persona, status, metrics)
        await s.emit(TurnMetrics(turn.response_id, metrics))

    def turn_metrics(self, turn: Turn) -> dict[str, float | None]:
        silence, stopped, transcribed = self.ctx.user.times

        def ms(a: float | None, b: float | None) -> float | None:
            return None if a is None or b is None else round(1000.0 * (b - a), 1)

        sent = self.speaker.first_release_at(turn.response_id)
        return {
            "endpoint_ms": ms(silence, stopped),
            "stt_ms": ms(stopped, transcribed),
            **turn.metrics(),
            "voice_to_voice_ms": ms(silence, sent),
        }

    # --- stopping ----------------------------------------------------------------------

    @property
    def speaking(self) -> bool:
        return self.active is not None or self.speaker.busy

    async def interrupt(self, reason: str) -> None:
        """Barge-in or cancel: stop the reply now and keep only what was heard."""
        reply = self.active or self.playing
        if reply is None:
            return
        turn = reply.turn
        if reply is self.active and reply.task is not None:
            reply.task.cancel()
            await asyncio.wait([reply.task])
            self.active = None
            if not reply.announced:  # still waiting for the transcript: nobody saw it start
                if turn.speaker is not None:
                    turn.speaker.discard(turn.response_id)
                return
            played = self.speaker.clear() if turn.audio else None
            await self.ctx.set_state("interrupted")
            await self._finish(reply, "cancelled", reason, turn.heard_text(played))
        else:  # complete but still playing: keep only what was heard
            played = self.speaker.clear()
            self.playing = None
            await self.ctx.set_state("interrupted")
            self.ctx.set_item_text(turn.item_id, turn.heard_text(played), "incomplete")

    async def on_audio(self, out: AudioOut) -> None:
        reply = self.active or self.playing
        if reply is None or out.response_id != reply.turn.response_id:
            return  # stale audio of an interrupted reply
        if not self.ctx.user.speaking and not reply.turn.working:
            await self.ctx.set_state("speaking")
        await self.ctx.emit(out)

    def hold(self) -> None:
        """The user may be talking over the reply: send no more of it until `go_on()` or
        `interrupt()` (what was already sent still plays)."""
        self.speaker.pause()

    async def go_on(self) -> None:
        """It was only a backchannel: the reply carries on where it stopped."""
        self.speaker.resume()
        if self.speaking:
            await self.ctx.set_state("speaking")

    def cancel_all(self) -> list[asyncio.Task[None]]:
        tasks = [r.task for r in (self.active, self.speculation) if r and r.task]
        for t in tasks:
            t.cancel()
        return tasks
