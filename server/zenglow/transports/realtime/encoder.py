"""Session facts -> Realtime server events (pure).

One `SessionEvent` can become several wire events: a started response announces the
response, its output item and its content part; a finished one closes them in reverse.
"""

from __future__ import annotations

from typing import Any

from ...conversation import events as ev
from .client_events import Transcription
from .extensions import is_extension
from .objects import (
    assistant_item,
    function_call_item,
    function_output_item,
    message_item,
    response_object,
    session_object,
    user_audio_item,
)
from .server_events import ServerEvents

Json = dict[str, Any]


def wire_session(config: ev.SessionConfig, *, extensions: bool = False) -> Json:
    """What the session really does; with extensions, also what it was asked and does not do
    (`zenglow.ignored`, paths of the latest update) and its persona."""
    zenglow = {"persona": config.persona, "ignored": list(config.ignored)}
    return session_object(
        session_id=config.id,
        model=config.model,
        voice=config.voice,
        instructions=config.instructions or "",
        output_modalities=config.output_modalities,  # type: ignore[arg-type]
        turn_detection=config.turn_detection,
        transcription=Transcription(model="whisper") if config.transcription else None,
        speed=config.speed,
        max_output_tokens=config.max_output_tokens or "inf",
        zenglow=zenglow if extensions else None,
        tools=[t.wire() for t in config.tools],
        tool_choice=config.tool_choice,
    )


def wire_item(item: ev.Item) -> Json:
    if item.kind == "function_call":
        status = item.status
        return function_call_item(
            item.id, item.call_id or "", item.name or "", item.text, status=status
        )
    if item.kind == "function_call_output":
        return function_output_item(item.id, item.call_id or "", item.text)
    if item.role == "user" and item.kind == "audio":
        transcript = item.text if item.status == "completed" else None
        return user_audio_item(item.id, transcript, status=item.status)
    if item.role == "assistant":
        return assistant_item(
            item.id, "audio" if item.kind == "audio" else "text", item.text, status=item.status
        )
    return message_item(item.id, item.role, item.text, status=item.status)


class RealtimeEncoder:
    """Session facts -> wire events.  `extensions`: the client asked for the `zenglow.*`
    events (and the session object's `zenglow` part); without, only GA events go out."""

    def __init__(
        self, server_events: ServerEvents | None = None, *, extensions: bool = False
    ) -> None:
        self.out = server_events or ServerEvents()
        self.extensions = extensions
        self._responses: dict[str, ev.ResponseStarted] = {}
        self._message_at: dict[str, int] = {}  # response id -> its message's output index
        self._call_at: dict[str, int] = {}  # function call item id -> its output index

    def encode(self, e: ev.SessionEvent) -> list[Json]:
        wire = self._encode(e)
        at = self._message_at.get(getattr(e, "response_id", ""), 0)
        if at and isinstance(e, ev.AudioOut | ev.TextOut):
            wire = [{**w, "output_index": at} if "output_index" in w else w for w in wire]
        return wire if self.extensions else [w for w in wire if not is_extension(w)]

    def _encode(self, e: ev.SessionEvent) -> list[Json]:
        o = self.out
        match e:
            case ev.AudioOut():
                wire = [o.audio_delta(e.response_id, e.item_id, e.pcm)]
                if e.cues:
                    wire.append(o.visemes(e.response_id, e.item_id, e.offset_ms, e.cues))
                return wire
            case ev.TextOut():
                started = self._responses.get(e.response_id)
                if started is not None and "audio" not in started.modalities:
                    return [o.text_delta(e.response_id, e.item_id, e.delta)]
                return [o.transcript_delta(e.response_id, e.item_id, e.delta)]
            case ev.SessionStarted():
                return [o.session_created(wire_session(e.config, extensions=self.extensions))]
            case ev.SessionUpdated():
                return [o.session_updated(wire_session(e.config, extensions=self.extensions))]
            case ev.StateChanged():
                return [o.state(e.state)]
            case ev.SpeechStarted():
                return [o.speech_started(e.item_id, e.audio_start_ms)]
            case ev.SpeechStopped():
                return [o.speech_stopped(e.item_id, e.audio_end_ms)]
            case ev.InputCommitted():
                return [o.audio_committed(e.item_id, e.previous_item_id)]
            case ev.InputCleared():
                return [o.audio_cleared()]
            case ev.ItemAdded():
                item = wire_item(e.item)
                wire = [o.item_added(item, e.previous_item_id)]
                if e.item.status == "completed":
                    wire.append(o.item_done(item, e.previous_item_id))
                return wire
            case ev.TranscriptionDelta():
                return [o.transcription_delta(e.item_id, e.delta)]
            case ev.TranscriptionCompleted():
                item = user_audio_item(e.item_id, e.transcript)
                return [
                    o.transcription_completed(
                        e.item_id, e.transcript, audio_seconds=e.audio_seconds
                    ),
                    o.item_done(item),
                ]
            case ev.TranscriptionFailed():
                return [o.transcription_failed(e.item_id, e.message)]
            case ev.ItemTruncated():
                return [o.item_truncated(e.item_id, e.audio_end_ms)]
            case ev.ItemDeleted():
                return [o.item_deleted(e.item_id)]
            case ev.ResponseStarted():
                return self._started(e)
            case ev.ResponseDone():
                return self._done(e)
            case ev.MessageStarted():
                return self._message(e)
            case ev.FunctionCallAdded():
                self._call_at[e.item.id] = e.output_index
                item = wire_item(e.item)
                return [
                    o.output_item_added(e.response_id, item, e.output_index),
                    o.item_added(item, e.previous_item_id),
                ]
            case ev.FunctionCallDone():
                return self._call_done(e)
            case ev.ToolRan():
                return [o.tool(e.response_id, e.call_id, e.name, e.status, e.output)]
            case ev.PersonaChanged():
                return [o.persona(e.persona, e.reason)]
            case ev.SourcesCited():
                return [o.citations(e.response_id, e.item_id, e.audio_offset_ms, e.text, e.sources)]
            case ev.TurnMetrics():
                return [o.turn_metrics(e.response_id, **e.metrics_ms)]
            case ev.ConversationOpened():
                return [o.conversation(e.id, e.resumed, e.items)]
            case ev.ItemRestored():
                item = wire_item(e.item)
                return [
                    o.item_added(item, e.previous_item_id),
                    o.item_done(item, e.previous_item_id),
                ]
            case ev.ErrorRaised():
                return [o.error(e.code, e.message, event_id=e.event_id, param=e.param, kind=e.type)]
        raise TypeError(f"no wire form for {type(e).__name__}")

    def _started(self, e: ev.ResponseStarted) -> list[Json]:
        o = self.out
        self._responses[e.response_id] = e
        modality = "audio" if "audio" in e.modalities else "text"
        wire = [
            o.response_created(response_object(e.response_id, output_modalities=[modality])),
            o.persona(e.persona, e.reason),
        ]
        if e.message:
            wire += self._message(
                ev.MessageStarted(e.response_id, e.item_id, e.previous_item_id, 0)
            )
        return wire

    def _message(self, e: ev.MessageStarted) -> list[Json]:
        o = self.out
        started = self._responses.get(e.response_id)
        modality = "audio" if started is None or "audio" in started.modalities else "text"
        self._message_at[e.response_id] = e.output_index
        item = assistant_item(e.item_id, modality, None, status="in_progress")
        part = o.content_part_added(e.response_id, e.item_id, modality)
        return [
            o.output_item_added(e.response_id, item, e.output_index),
            o.item_added(item, e.previous_item_id),
            {**part, "output_index": e.output_index},
        ]

    def _call_done(self, e: ev.FunctionCallDone) -> list[Json]:
        o, item = self.out, e.item
        call_id, name = item.call_id or "", item.name or ""
        wire = wire_item(item)
        return [
            o.function_arguments_delta(e.response_id, item.id, call_id, item.text, e.output_index),
            o.function_arguments_done(
                e.response_id, item.id, call_id, name, item.text, e.output_index
            ),
            o.output_item_done(e.response_id, wire, e.output_index),
            o.item_done(wire),
        ]

    def _done(self, e: ev.ResponseDone) -> list[Json]:
        o = self.out
        started = self._responses.pop(e.response_id, None)
        at = self._message_at.pop(e.response_id, 0)
        audio = started is None or "audio" in started.modalities
        modality = "audio" if audio else "text"
        status = "completed" if e.status == "completed" else "incomplete"
        calls = [(self._call_at.pop(c.id, i), wire_item(c)) for i, c in enumerate(e.calls)]
        if not e.message:
            return [o.response_done(self._response(e, [c for _, c in sorted(calls)], modality))]
        item = assistant_item(e.item_id, modality, e.text, status=status)
        wire = []
        if audio:
            wire += [
                o.audio_done(e.response_id, e.item_id),
                o.transcript_done(e.response_id, e.item_id, e.text),
            ]
        else:
            wire.append(o.text_done(e.response_id, e.item_id, e.text))
        wire += [
            o.content_part_done(e.response_id, e.item_id, modality, e.text),
            o.output_item_done(e.response_id, item, at),
            o.item_done(item),
        ]
        if at:
            wire = [{**w, "output_index": at} if "output_index" in w else w for w in wire]
        output = [w for _, w in sorted([*calls, (at, item)], key=lambda p: p[0])]
        return [*wire, o.response_done(self._response(e, output, modality))]

    def _response(self, e: ev.ResponseDone, output: list[Json], modality: str) -> Json:
        return response_object(
            e.response_id,
            status=e.status,
            output=output,
            output_modalities=[modality],  # type: ignore[list-item]
            reason=e.reason,
            error=e.reason if e.status == "failed" else None,
            input_tokens=e.input_tokens,
            output_tokens=e.output_tokens,
        )
