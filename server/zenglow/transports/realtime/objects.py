"""The objects Realtime server events carry: the session, items and responses (pure).

GA shapes only: the session object of `session.created` / `session.updated`, message items
(typed text, spoken user turns, replies as audio or text) and the response object.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Literal, Protocol

from .client_events import SAMPLE_RATE, MaxTokens, Role, Transcription

Json = dict[str, Any]
Modality = Literal["audio", "text"]
ItemStatus = Literal["completed", "incomplete", "in_progress"]
ResponseStatus = Literal["in_progress", "completed", "cancelled", "incomplete", "failed"]
PCM_FORMAT: Json = {"type": "audio/pcm", "rate": SAMPLE_RATE}


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
    @property
    def semantic(self) -> bool: ...
    @property
    def eagerness(self) -> str: ...


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
    zenglow: Json | None = None,  # ZenGlow's part, for clients that asked for extensions
    tools: Sequence[Json] = (),  # function tools, as `ToolSpec.wire()` writes them
    tool_choice: str = "auto",
) -> Json:
    """The full, effective GA session object of `session.created` / `session.updated`."""
    vad = turn_detection
    session = {
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
                "turn_detection": _turn_detection(vad),
            },
            "output": {"format": dict(PCM_FORMAT), "voice": voice, "speed": speed},
        },
        "max_output_tokens": max_output_tokens,
        "tools": list(tools),
        "tool_choice": tool_choice_object(tool_choice),
        "tracing": None,
    }
    return session if zenglow is None else {**session, "zenglow": zenglow}


def tool_choice_object(choice: str) -> str | Json:
    """`auto`, `none` and `required` as they are; a function's name as GA's object."""
    return (
        choice if choice in ("auto", "none", "required") else {"type": "function", "name": choice}
    )


def _turn_detection(vad: VadSettings | None) -> Json | None:
    if vad is None:
        return None
    flags = {"create_response": vad.create_response, "interrupt_response": vad.interrupt_response}
    if vad.semantic:
        return {"type": "semantic_vad", "eagerness": vad.eagerness, **flags}
    return {
        "type": "server_vad",
        "threshold": vad.threshold,
        "prefix_padding_ms": vad.prefix_padding_ms,
        "silence_duration_ms": vad.silence_duration_ms,
        **flags,
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


def function_call_item(
    item_id: str, call_id: str, name: str, arguments: str, *, status: ItemStatus = "completed"
) -> Json:
    """The model calls a client's function; `arguments` is JSON text ("" while it streams)."""
    return {
        "id": item_id,
        "object": "realtime.item",
        "type": "function_call",
        "status": status,
        "call_id": call_id,
        "name": name,
        "arguments": arguments,
    }


def function_output_item(item_id: str, call_id: str, output: str) -> Json:
    """What the client's function returned."""
    return {
        "id": item_id,
        "object": "realtime.item",
        "type": "function_call_output",
        "status": "completed",
        "call_id": call_id,
        "output": output,
    }


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
