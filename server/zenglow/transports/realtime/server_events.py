"""Server side of the Realtime wire codec: each server event as a dict ready for `json.dumps`.

Pure: no I/O.  Every event gets a fresh `event_id` from the injected factory.  GA names
only: items are announced with `conversation.item.added` then `conversation.item.done` (not
the beta `conversation.item.created`), audio goes out as `response.output_audio.delta`
(base64 PCM16 mono 24 kHz) with `response.output_audio_transcript.*`, text-only replies as
`response.output_text.*`.  The objects they carry are built in `objects.py`; ZenGlow's own
`zenglow.*` events in `extensions.py`.
"""

from __future__ import annotations

import base64
import secrets
from collections.abc import Callable
from typing import Any

import numpy as np

from .client_events import ProtocolError
from .extensions import ExtensionEvents
from .objects import Json, Modality


def random_id(prefix: str) -> str:
    return f"{prefix}_{secrets.token_hex(10)}"


def _pcm_base64(pcm: np.ndarray | bytes) -> str:
    if isinstance(pcm, np.ndarray):
        if pcm.dtype != np.int16:
            raise TypeError(f"PCM16 audio must be int16, got {pcm.dtype}")
        pcm = pcm.astype("<i2", copy=False).tobytes()
    if len(pcm) % 2:
        raise ValueError(f"PCM16 audio must have an even number of bytes, got {len(pcm)}")
    return base64.b64encode(pcm).decode("ascii")


# --- events -----------------------------------------------------------------------------


class ServerEvents(ExtensionEvents):
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
        # no `param`: the JavaScript SDK refuses this event when it is null
        error = {"type": "server_error", "code": code, "message": message}
        kind = "conversation.item.input_audio_transcription.failed"
        return self._event(kind, item_id=item_id, content_index=0, error=error)

    def output_audio_buffer(self, what: str, response_id: str) -> Json:
        """`output_audio_buffer.started|stopped|cleared`: the WebRTC track starts a reply,
        finishes it, or drops it on barge-in (as OpenAI's WebRTC calls say)."""
        if what not in ("started", "stopped", "cleared"):
            raise ValueError(f"unknown output audio buffer event {what!r}")
        return self._event(f"output_audio_buffer.{what}", response_id=response_id)

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

    def _part(
        self, kind: str, response_id: str, item_id: str, output_index: int = 0, **fields: Any
    ) -> Json:
        return self._event(
            kind,
            response_id=response_id,
            item_id=item_id,
            output_index=output_index,
            content_index=0,
            **fields,
        )

    def function_arguments_delta(
        self, response_id: str, item_id: str, call_id: str, delta: str, output_index: int
    ) -> Json:
        return self._event(
            "response.function_call_arguments.delta",
            response_id=response_id,
            item_id=item_id,
            output_index=output_index,
            call_id=call_id,
            delta=delta,
        )

    def function_arguments_done(
        self, response_id: str, item_id: str, call_id: str, name: str, arguments: str,
        output_index: int,
    ) -> Json:  # fmt: skip
        return self._event(
            "response.function_call_arguments.done",
            response_id=response_id,
            item_id=item_id,
            output_index=output_index,
            call_id=call_id,
            name=name,
            arguments=arguments,
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
