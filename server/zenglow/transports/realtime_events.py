"""Server side of the Realtime wire codec: each server event as a dict ready for `json.dumps`.

Pure: no I/O.  Every event gets a fresh `event_id` from the injected factory.  GA names
only: items are announced with `conversation.item.added` then `conversation.item.done` (not
the beta `conversation.item.created`), audio goes out as `response.output_audio.delta`
(base64 PCM16 mono 24 kHz) with `response.output_audio_transcript.*`, text-only replies as
`response.output_text.*`.

ZenGlow extensions, namespaced so stock clients pass them by (the official SDK builds
unknown `type`s loosely, without validation, keeping every field; `connection.on(
"zenglow.visemes", handler)` receives them):
  zenglow.visemes       {response_id, item_id, audio_offset_ms, cues: [{viseme, start_ms,
                        end_ms}]}: `audio_offset_ms` is where the audio chunk the cues belong
                        to starts, from the start of that response's audio; cue times count
                        from the start of that chunk.
  zenglow.state         {state: listening | user_speaking | thinking | speaking | interrupted}
  zenglow.turn_metrics  {response_id, metrics: {<name>_ms: number | null}} (METRICS)
  zenglow.persona       {persona, reason}
"""

from __future__ import annotations

import base64
import secrets
from collections.abc import Callable, Sequence
from typing import Any, Literal, Protocol

import numpy as np

from ..engines.base import VisemeCue
from .realtime import SAMPLE_RATE, MaxTokens, ProtocolError, Role, Transcription

Json = dict[str, Any]
Modality = Literal["audio", "text"]
ItemStatus = Literal["completed", "incomplete", "in_progress"]
ResponseStatus = Literal["in_progress", "completed", "cancelled", "incomplete", "failed"]
STATES = ("listening", "user_speaking", "thinking", "speaking", "interrupted")
METRICS = (
    "endpoint_ms", "stt_ms", "llm_first_token_ms", "first_sentence_ms", "tts_first_audio_ms",
    "first_audio_sent_ms", "voice_to_voice_ms",
)  # fmt: skip
PCM_FORMAT: Json = {"type": "audio/pcm", "rate": SAMPLE_RATE}


def random_id(prefix: str) -> str:
    return f"{prefix}_{secrets.token_hex(10)}"


class VadSettings(Protocol):
    @property
    def threshold(self) -> float: ...
    @property
    def prefix_padding_ms(self) -> int: ...
    @property
    def silence_duration_ms(self) -> int: ...
    @property
    def create_response(self) -> bool: ...
    @property
    def interrupt_response(self) -> bool: ...


def session_object(
    *,
    session_id: str,
    model: str,
    voice: str,
    instructions: str = "",
    output_modalities: Sequence[Modality] = ("audio",),
    turn_detection: VadSettings | None = None,  # None: push-to-talk
    transcription: Transcription | None = None,  # None: no input transcription
    speed: float = 1.0,
    max_output_tokens: MaxTokens = "inf",
    persona: str | None = None,
) -> Json:
    """The full, effective GA session object of `session.created` / `session.updated`."""
    vad = turn_detection
    return {
        "type": "realtime",
        "object": "realtime.session",
        "id": session_id,
        "model": model,
        "output_modalities": list(output_modalities),
        "instructions": instructions,
        "audio": {
            "input": {
                "format": dict(PCM_FORMAT),
                "noise_reduction": None,
                "transcription": _transcription(transcription),
                "turn_detection": None
                if vad is None
                else {
                    "type": "server_vad",
                    "threshold": vad.threshold,
                    "prefix_padding_ms": vad.prefix_padding_ms,
                    "silence_duration_ms": vad.silence_duration_ms,
                    "create_response": vad.create_response,
                    "interrupt_response": vad.interrupt_response,
                },
            },
            "output": {"format": dict(PCM_FORMAT), "voice": voice, "speed": speed},
        },
        "max_output_tokens": max_output_tokens,
        "tools": [],
        "tool_choice": "auto",
        "tracing": None,
        "zenglow": {"persona": persona},
    }


def _transcription(t: Transcription | None) -> Json | None:
    if t is None:
        return None
    fields = {"model": t.model, "language": t.language, "prompt": t.prompt}
    return {k: v for k, v in fields.items() if v is not None}


# --- items ------------------------------------------------------------------------------


def message_item(
    item_id: str,
    role: Role,
    text: str,
    *,
    status: ItemStatus = "completed",
) -> Json:
    """A typed text message (`input_text`, or `output_text` for the assistant)."""
    part = "output_text" if role == "assistant" else "input_text"
    content = [{"type": part, "text": text}]
    return _item(item_id, role, content, status)


def user_audio_item(
    item_id: str, transcript: str | None = None, *, status: ItemStatus = "completed"
) -> Json:
    """A spoken user turn; `transcript` stays null until transcription completes."""
    return _item(item_id, "user", [{"type": "input_audio", "transcript": transcript}], status)


def assistant_item(
    item_id: str,
    modality: Modality = "audio",
    text: str | None = None,
    *,
    status: ItemStatus = "completed",
) -> Json:
    """A reply: `output_audio` with its transcript, or `output_text`; no content while
    `text` is None (the item as first announced)."""
    if text is None:
        content: list[Json] = []
    elif modality == "audio":
        content = [{"type": "output_audio", "transcript": text}]
    else:
        content = [{"type": "output_text", "text": text}]
    return _item(item_id, "assistant", content, status)


def _item(item_id: str, role: str, content: list[Json], status: str) -> Json:
    return {
        "id": item_id,
        "object": "realtime.item",
        "type": "message",
        "role": role,
        "status": status,
        "content": content,
    }


def response_object(
    response_id: str,
    *,
    status: ResponseStatus = "in_progress",
    output: Sequence[Json] = (),
    output_modalities: Sequence[Modality] = ("audio",),
    voice: str | None = None,
    reason: str | None = None,  # cancelled: turn_detected | client_cancelled; incomplete: ...
    error: str | None = None,  # failed: an error code
    input_tokens: int | None = None,
    output_tokens: int | None = None,
    max_output_tokens: MaxTokens = "inf",
    conversation_id: str | None = None,
) -> Json:
    details: Json | None = None
    if status == "failed":
        details = {"type": "failed", "error": {"type": "server_error", "code": error}}
    elif status in ("cancelled", "incomplete"):
        details = {"type": status, "reason": reason}
    usage = None
    if input_tokens is not None and output_tokens is not None:
        total = input_tokens + output_tokens
        usage = {
            "total_tokens": total,
            "input_tokens": input_tokens,
            "output_tokens": output_tokens,
        }
    return {
        "id": response_id,
        "object": "realtime.response",
        "status": status,
        "status_details": details,
        "output": list(output),
        "conversation_id": conversation_id,
        "output_modalities": list(output_modalities),
        "max_output_tokens": max_output_tokens,
        "audio": {"output": {"format": dict(PCM_FORMAT), "voice": voice}},
        "usage": usage,
        "metadata": None,
    }


def _ms(value: float | None) -> float | None:
    return None if value is None else round(value, 1)


def _pcm_base64(pcm: np.ndarray | bytes) -> str:
    if isinstance(pcm, np.ndarray):
        if pcm.dtype != np.int16:
            raise TypeError(f"PCM16 audio must be int16, got {pcm.dtype}")
        pcm = pcm.astype("<i2", copy=False).tobytes()
    if len(pcm) % 2:
        raise ValueError(f"PCM16 audio must have an even number of bytes, got {len(pcm)}")
    return base64.b64encode(pcm).decode("ascii")


# --- events -----------------------------------------------------------------------------


class ServerEvents:
    """Builds server events; `new_id` makes event ids (inject a counter for tests)."""

    def __init__(self, new_id: Callable[[], str] = lambda: random_id("event")) -> None:
        self._new_id = new_id

    def _event(self, type_: str, **fields: Any) -> Json:
        return {"type": type_, "event_id": self._new_id(), **fields}

    def error(
        self,
        code: str,
        message: str,
        *,
        param: str | None = None,
        event_id: str | None = None,  # of the client event that caused it
        kind: str = "invalid_request_error",  # or "server_error"
    ) -> Json:
        error = {"type": kind, "code": code, "message": message, "param": param}
        return self._event("error", error={**error, "event_id": event_id})

    def protocol_error(self, exc: ProtocolError) -> Json:
        return self.error(exc.code, exc.message, param=exc.param, event_id=exc.event_id)

    def session_created(self, session: Json) -> Json:
        return self._event("session.created", session=session)

    def session_updated(self, session: Json) -> Json:
        return self._event("session.updated", session=session)

    # input audio buffer
    def speech_started(self, item_id: str, audio_start_ms: int) -> Json:
        return self._event(
            "input_audio_buffer.speech_started", audio_start_ms=audio_start_ms, item_id=item_id
        )

    def speech_stopped(self, item_id: str, audio_end_ms: int) -> Json:
        return self._event(
            "input_audio_buffer.speech_stopped", audio_end_ms=audio_end_ms, item_id=item_id
        )

    def audio_committed(self, item_id: str, previous_item_id: str | None = None) -> Json:
        return self._event(
            "input_audio_buffer.committed", previous_item_id=previous_item_id, item_id=item_id
        )

    def audio_cleared(self) -> Json:
        return self._event("input_audio_buffer.cleared")

    # conversation
    def item_added(self, item: Json, previous_item_id: str | None = None) -> Json:
        return self._event("conversation.item.added", previous_item_id=previous_item_id, item=item)

    def item_done(self, item: Json, previous_item_id: str | None = None) -> Json:
        return self._event("conversation.item.done", previous_item_id=previous_item_id, item=item)

    def item_retrieved(self, item: Json) -> Json:
        return self._event("conversation.item.retrieved", item=item)

    def item_truncated(self, item_id: str, audio_end_ms: int, content_index: int = 0) -> Json:
        return self._event(
            "conversation.item.truncated",
            item_id=item_id,
            content_index=content_index,
            audio_end_ms=audio_end_ms,
        )

    def item_deleted(self, item_id: str) -> Json:
        return self._event("conversation.item.deleted", item_id=item_id)

    def transcription_delta(self, item_id: str, delta: str, content_index: int = 0) -> Json:
        kind = "conversation.item.input_audio_transcription.delta"
        return self._event(kind, item_id=item_id, content_index=content_index, delta=delta)

    def transcription_completed(
        self, item_id: str, transcript: str, *, audio_seconds: float, content_index: int = 0
    ) -> Json:
        return self._event(
            "conversation.item.input_audio_transcription.completed",
            item_id=item_id,
            content_index=content_index,
            transcript=transcript,
            usage={"type": "duration", "seconds": round(audio_seconds, 3)},
        )

    def transcription_failed(
        self, item_id: str, message: str, *, code: str = "transcription_failed"
    ) -> Json:
        error = {"type": "server_error", "code": code, "message": message, "param": None}
        kind = "conversation.item.input_audio_transcription.failed"
        return self._event(kind, item_id=item_id, content_index=0, error=error)

    # responses
    def response_created(self, response: Json) -> Json:
        return self._event("response.created", response=response)

    def response_done(self, response: Json) -> Json:
        return self._event("response.done", response=response)

    def output_item_added(self, response_id: str, item: Json, output_index: int = 0) -> Json:
        return self._event(
            "response.output_item.added",
            response_id=response_id,
            output_index=output_index,
            item=item,
        )

    def output_item_done(self, response_id: str, item: Json, output_index: int = 0) -> Json:
        return self._event(
            "response.output_item.done",
            response_id=response_id,
            output_index=output_index,
            item=item,
        )

    def _part(self, kind: str, response_id: str, item_id: str, **fields: Any) -> Json:
        return self._event(
            kind,
            response_id=response_id,
            item_id=item_id,
            output_index=0,
            content_index=0,
            **fields,
        )

    def content_part_added(
        self, response_id: str, item_id: str, modality: Modality = "audio", text: str = ""
    ) -> Json:
        part = {"type": modality, "transcript" if modality == "audio" else "text": text}
        return self._part("response.content_part.added", response_id, item_id, part=part)

    def content_part_done(
        self, response_id: str, item_id: str, modality: Modality = "audio", text: str = ""
    ) -> Json:
        event = self.content_part_added(response_id, item_id, modality, text)
        return {**event, "type": "response.content_part.done"}

    def audio_delta(self, response_id: str, item_id: str, pcm: np.ndarray | bytes) -> Json:
        delta = _pcm_base64(pcm)
        return self._part("response.output_audio.delta", response_id, item_id, delta=delta)

    def audio_done(self, response_id: str, item_id: str) -> Json:
        return self._part("response.output_audio.done", response_id, item_id)

    def transcript_delta(self, response_id: str, item_id: str, delta: str) -> Json:
        kind = "response.output_audio_transcript.delta"
        return self._part(kind, response_id, item_id, delta=delta)

    def transcript_done(self, response_id: str, item_id: str, transcript: str) -> Json:
        kind = "response.output_audio_transcript.done"
        return self._part(kind, response_id, item_id, transcript=transcript)

    def text_delta(self, response_id: str, item_id: str, delta: str) -> Json:
        return self._part("response.output_text.delta", response_id, item_id, delta=delta)

    def text_done(self, response_id: str, item_id: str, text: str) -> Json:
        return self._part("response.output_text.done", response_id, item_id, text=text)

    # ZenGlow extensions
    def visemes(
        self, response_id: str, item_id: str, audio_offset_ms: float, cues: Sequence[VisemeCue]
    ) -> Json:
        wire = [
            {"viseme": c.viseme, "start_ms": round(c.start_ms, 1), "end_ms": round(c.end_ms, 1)}
            for c in cues
        ]
        return self._event(
            "zenglow.visemes",
            response_id=response_id,
            item_id=item_id,
            audio_offset_ms=round(audio_offset_ms, 1),
            cues=wire,
        )

    def state(self, state: str) -> Json:
        if state not in STATES:
            raise ValueError(f"unknown state {state!r}; expected one of {STATES}")
        return self._event("zenglow.state", state=state)

    def turn_metrics(self, response_id: str, **metrics: float | None) -> Json:
        unknown = set(metrics) - set(METRICS)
        if unknown:
            raise ValueError(f"unknown turn metrics {sorted(unknown)}; expected {METRICS}")
        values = {m: _ms(metrics.get(m)) for m in METRICS}
        return self._event("zenglow.turn_metrics", response_id=response_id, metrics=values)

    def persona(self, persona: str, reason: str) -> Json:
        return self._event("zenglow.persona", persona=persona, reason=reason)
