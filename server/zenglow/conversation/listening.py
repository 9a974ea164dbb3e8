"""How a Session listens: VAD turn events -> utterances -> committed user turns.

Speech starts an utterance (and barges in on a reply); a pause starts the speculative
transcript and reply; speech resuming drops them; the end of the turn commits the user's
item and confirms or starts the reply (through `Replies`, which it drives).

Barge-in: speech over a reply interrupts it at once, unless it may be our own echo (the
microphone no louder than the room's echo of the reply, or mostly cancelled) or
backchannels are configured; a voice well louder than the loudest echo interrupts it even
before the VAD hears its onset (`Listener`, by level).  Otherwise the reply is held (no
more of it is sent) while the user speaks: speech that goes on past `backchannel_max_ms`,
or whose transcript at its first pause is not a backchannel, interrupts it; a backchannel
("mm-hm", "okay"), our echo or a noise with no words lets it go on, and was never
announced as a turn.
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
from typing import cast

import numpy as np

from ..engines.base import EngineError
from ..ops.redact import public
from ..speech import vad
from ..speech.hallucination import said_something
from ..speech.wording import is_backchannel, is_echo, sounds_unfinished
from .context import SessionContext, SessionError
from .events import (
    InputCommitted,
    Item,
    SpeechStarted,
    SpeechStopped,
    TranscriptionCompleted,
    TranscriptionDelta,
    TranscriptionFailed,
)
from .listener import ASR_RATE, Listener
from .replies import Replies

log = logging.getLogger(__name__)

ECHO_AHEAD_MS = 1500  # reply audio sent ahead of the play position whose echo may be heard

# Audio between partial transcripts while the user speaks.  Partials share the STT worker
# with the speculative end-of-turn transcript, so they are kept sparse.
PARTIAL_EVERY_S = 2.0


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
    onset_s: float = 0.0  # where the speech began
    over_reply: bool = False  # said over a held reply: interruption or backchannel?
    too_long: bool = False  # ... and too long for a backchannel
    settling: asyncio.Task[None] | None = None  # judging its pause: backchannel or turn?


class Listening:
    """The listening half of a session: the listen loop and the user's committed turns."""

    def __init__(self, ctx: SessionContext, listener: Listener, replies: Replies) -> None:
        self.ctx = ctx
        self.listener = listener
        self.replies = replies
        self.dropped_input_ms = 0
        self._overflow_reported = False
        if ctx.engines.turn_model is not None:
            listener.turn_end = self._turn_finished

    @property
    def _utt(self) -> Utterance | None:
        return cast("Utterance | None", self.ctx.user.utterance)

    @_utt.setter
    def _utt(self, utt: Utterance | None) -> None:
        self.ctx.user.utterance = utt

    # --- client commands ---------------------------------------------------------------

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
        await self._add_user_audio(self.ctx.new_id("item"), audio)

    def clear(self) -> None:
        """Drop the utterance being heard and the buffered input."""
        self._drop_utterance()
        self.listener.clear()

    # --- listening ---------------------------------------------------------------------

    async def listen_loop(self) -> None:
        v = self.ctx.engines.settings.vad
        speculate_s, longest_s = v.speculate_ms / 1000, v.backchannel_max_ms / 1000
        backchannels = bool(v.backchannels)
        while True:
            heard = await self.listener.next_batch()
            await self._report_dropped()
            self.listener.detector.set_strict(self.replies.speaking)
            for event in heard.events:
                await self._on_turn_event(event)
            utt = self._utt
            if utt is None:
                td = self.ctx.config.turn_detection
                if heard.over_echo and self.replies.speaking and td and td.interrupt_response:
                    if not backchannels:  # (they are told by their words: the reply waits)
                        log.info("a voice over our echo interrupts the reply, by its level")
                        await self._barge_in()  # the VAD starts the turn when it hears it
                continue
            if utt.over_reply and utt.pause_s is None and not backchannels:
                if self.listener.voice_over_echo(utt.onset_s):
                    log.info("a voice over the held reply's echo interrupts it")
                    await self._interrupt(utt)  # someone spoke up in what sounded like echo
                    continue
            if (
                utt.over_reply
                and not utt.too_long
                and utt.pause_s is None
                and heard.end_s - utt.onset_s > longest_s
            ):  # too long for a backchannel: an interruption, unless it is our own echo
                utt.too_long = True
                audio = self.listener.audio_between(utt.start_s)
                self.ctx.spawn(self._settle(utt, audio), "interruption or echo")
            if (
                utt.pause_s is not None
                and utt.speculative is None
                and utt.settling is None
                and heard.end_s - utt.pause_s >= (0.0 if utt.over_reply else speculate_s)
            ):
                self._speculate(utt)
            elif (
                self.ctx.config.transcription
                and not utt.over_reply
                and utt.pause_s is None
                and utt.partial_task is None
                and heard.end_s >= utt.next_partial_s
            ):
                utt.partial_task = self.ctx.spawn(self._partial(utt), "partial transcript")

    async def _report_dropped(self) -> None:
        dropped = self.listener.take_dropped_ms()
        if not dropped:
            return
        self.dropped_input_ms += dropped
        self.ctx.engines.metrics.input_dropped_seconds_total.inc(dropped / 1000)
        if not self._overflow_reported:  # once per session; later drops are only counted
            self._overflow_reported = True
            await self.ctx.error(
                "input_audio_buffer_overflow",
                f"audio arrived faster than it could be processed: dropped the oldest "
                f"{dropped} ms (further drops are counted, not reported)",
            )

    async def _on_turn_event(self, event: vad.TurnEvent) -> None:
        td = self.ctx.config.turn_detection
        if isinstance(event, vad.SpeechStarted):
            utt = Utterance(self.ctx.new_id("item"), event.audio_start_s, onset_s=event.at_s)
            utt.next_partial_s = event.at_s + PARTIAL_EVERY_S
            self._utt = utt
            self.listener.pin(event.audio_start_s)
            if self.replies.speaking and td is not None and td.interrupt_response:
                backchannels = bool(self.ctx.engines.settings.vad.backchannels)
                if backchannels or self.listener.sounds_like_echo(event.at_s) is not False:
                    utt.over_reply = True  # announced once it proves to be a turn
                    self.replies.hold()
                    return
                log.info("speech over the reply interrupts it")
                await self._barge_in()
            await self._announce(utt)
            return
        utt = self._utt
        if utt is None:
            return
        if isinstance(event, vad.SilenceStarted):
            utt.pause_s, utt.pause_wall = event.at_s, self.ctx.clock()
        elif isinstance(event, vad.SpeechResumed):
            utt.pause_s = utt.pause_wall = None
            utt.settling = None  # a judgement under way still decides, on its pause
            if utt.speculative is not None:  # the user went on: that text is stale
                utt.speculative.cancel()
                utt.speculative = None
                self.replies.abandon()
        elif isinstance(event, vad.SpeechStopped):
            create = td is not None and td.create_response
            await self._end_utterance(event.at_s, create=create)

    async def _turn_finished(self, audio: np.ndarray) -> bool:
        """semantic_vad's verdict on a pause: the turn-end model hears how the turn ends;
        when it hears an end, the words so far may still say otherwise ("a table for...")."""
        model = self.ctx.engines.turn_model
        assert model is not None
        probability = await asyncio.to_thread(model.complete_probability, audio)
        if probability < self.listener.detector.config.finished_threshold:
            return False
        said = self._utt.speculative if self._utt is not None else None
        if said is None:  # the pause is judged before its transcript was asked for
            said = asyncio.ensure_future(self._transcribe(audio))
        try:
            text = await asyncio.shield(said)
        except asyncio.CancelledError:
            if not said.cancelled():
                raise  # this task itself is being cancelled
            return True
        except EngineError:
            return True
        return not sounds_unfinished(text)

    def _speculate(self, utt: Utterance) -> None:
        """The user paused: transcribe what was said, and prepare the reply, in case the
        turn is over.  Both are dropped if the user goes on."""
        assert utt.pause_s is not None
        if utt.partial_task is not None:
            utt.partial_task.cancel()
        audio = self.listener.audio_between(utt.start_s, utt.pause_s)
        if utt.over_reply:
            utt.settling = self.ctx.spawn(self._settle(utt, audio), "backchannel or interruption")
            return
        utt.speculative = asyncio.ensure_future(self._transcribe(audio))
        td = self.ctx.config.turn_detection
        if (
            td is not None
            and td.create_response
            and self.replies.active is None
            and not self.replies.speaker.busy
        ):
            self.replies.speculate(utt.speculative)

    async def _announce(self, utt: Utterance) -> None:
        await self.ctx.emit(SpeechStarted(utt.item_id, round(utt.start_s * 1000)))
        await self.ctx.set_state("user_speaking")

    async def _interrupt(self, utt: Utterance) -> None:
        """What the user says over the reply is an interruption: stop the reply."""
        utt.over_reply = False
        await self._barge_in()
        await self._announce(utt)

    async def _barge_in(self) -> None:
        self.ctx.engines.metrics.speech_over_reply_total.labels("interruption").inc()
        await self.replies.interrupt("turn_detected")

    async def _settle(self, utt: Utterance, audio: np.ndarray) -> None:
        """Speech over a held reply paused (or ended, or went on too long): a backchannel,
        our own echo or a noise lets the reply go on (and is no turn); anything else
        interrupts it.  Whoever gets here first decides."""
        try:
            heard = await self.ctx.engines.stt.transcribe(audio)
        except EngineError:
            heard = None
        text = None if heard is None else heard.text
        if heard is not None and not said_something(heard.no_speech_prob, heard.avg_logprob):
            text = ""  # Whisper's words for a noise ("Thank you."): nothing was said
        if self.listener.sounds_like_echo(utt.start_s) is True:
            text = ""  # only our own voice came back
        if self._utt is not utt or not utt.over_reply:
            return
        phrases = () if utt.too_long else self.ctx.engines.settings.vad.backchannels
        echo = text is not None and is_echo(text, self._playing())
        if text is None or not (echo or is_backchannel(text, phrases)):
            log.info("speech over the reply interrupts it: %r", text)
            await self._interrupt(utt)
            return
        if utt.pause_s is None and not utt.too_long:
            return  # the user went on meanwhile: judged again at the next pause
        outcome = "echo" if echo else "backchannel"
        log.info("speech over the reply was %s: %r", outcome, text)
        self.ctx.engines.metrics.speech_over_reply_total.labels(outcome).inc()
        utt.over_reply = False
        self._drop_utterance(abandon=False)  # never announced: no turn, nothing to answer
        await self.replies.go_on()

    def _playing(self) -> str:
        """The latest words of the reply (what its echo could be saying)."""
        reply = self.replies.active or self.replies.playing
        if reply is None:
            return ""
        turn = reply.turn  # played so far, and what was sent ahead of it
        played = self.replies.speaker.played_ms(turn.response_id)
        return " ".join(turn.heard_text(played + ECHO_AHEAD_MS).split()[-40:])

    async def _partial(self, utt: Utterance) -> None:
        try:
            text = await self._transcribe(self.listener.audio_between(utt.start_s))
        except EngineError:
            return
        finally:
            utt.partial_task = None
            utt.next_partial_s = self.listener.now_s + PARTIAL_EVERY_S
        if self._utt is utt and text.startswith(utt.partial) and len(text) > len(utt.partial):
            delta, utt.partial = text[len(utt.partial) :], text
            await self.ctx.emit(TranscriptionDelta(utt.item_id, delta))

    async def _transcribe(self, audio: np.ndarray) -> str:
        return (await self.ctx.engines.stt.transcribe(audio)).text

    def _drop_utterance(self, *, abandon: bool = True) -> None:
        utt, self._utt = self._utt, None
        if utt is not None:
            for fut in (utt.speculative, utt.partial_task):
                if fut is not None:
                    fut.cancel()
            if abandon:
                self.replies.abandon()
        self.listener.pin(None)
        self.listener.detector.reset()

    async def _end_utterance(self, end_s: float, *, create: bool) -> None:
        utt = self._utt
        assert utt is not None
        if utt.over_reply:  # said over a held reply: was it only a backchannel?
            if utt.settling is not None and utt.pause_s == end_s:
                await asyncio.shield(utt.settling)  # judging this pause already
            else:
                await self._settle(utt, self.listener.audio_between(utt.start_s, end_s))
            if self._utt is not utt:
                return
        stopped = self.ctx.clock()
        audio = self.listener.audio_between(utt.start_s, end_s)
        speculative = utt.speculative if utt.pause_s == end_s else None
        if utt.speculative is not None and speculative is None:
            utt.speculative.cancel()
        if utt.partial_task is not None:
            utt.partial_task.cancel()
        self._utt = None
        self.listener.pin(None)
        await self.ctx.emit(SpeechStopped(utt.item_id, round(end_s * 1000)))
        self.ctx.user.times = (utt.pause_wall, stopped, None)
        await self._add_user_audio(utt.item_id, audio, speculative)
        if not create or self.replies.active is not None:
            self.replies.abandon()
            await self.ctx.set_state("listening")
        elif speculative is None or not self.replies.confirm():
            self.replies.start(auto=True)

    async def _add_user_audio(
        self, item_id: str, audio: np.ndarray, speculative: asyncio.Future[str] | None = None
    ) -> None:
        previous = self.ctx.items[-1].id if self.ctx.items else None
        await self.ctx.emit(InputCommitted(item_id, previous))
        await self.ctx.append_item(Item(item_id, "user", "", kind="audio", status="in_progress"))
        if speculative is not None and speculative.done() and not speculative.cancelled():
            await self._complete_transcript(item_id, audio, speculative)  # known already
            return
        task = self.ctx.spawn(self._complete_transcript(item_id, audio, speculative), "transcript")
        self.ctx.user.pending.add(task)
        task.add_done_callback(self.ctx.user.pending.discard)

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
            self.ctx.set_item_text(item_id, "", "incomplete")
            log.warning("session %s: transcript of %s failed: %s", self.ctx.config.id, item_id, exc)
            await self.ctx.emit(TranscriptionFailed(item_id, public(str(exc))))
            await self.ctx.error(
                "transcription_failed",
                f"what was said ({item_id}) could not be transcribed: {public(str(exc))}; "
                "still listening",
                kind="server_error",
            )
            return
        silence, stopped, _ = self.ctx.user.times
        if stopped is not None:
            self.ctx.user.times = (silence, stopped, self.ctx.clock())
        self.ctx.set_item_text(item_id, text, "completed")
        if self.ctx.engines.settings.server.log_content:
            log.info("session %s: %s heard %r", self.ctx.config.id, item_id, text)
        if self.ctx.config.transcription:
            await self.ctx.emit(TranscriptionCompleted(item_id, text, len(audio) / ASR_RATE))
