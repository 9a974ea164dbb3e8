"""Client side of the OpenAI Realtime wire codec (GA event names) served at `/v1/realtime`.

Pure: no I/O, no event loop.  The transport hands every received frame to
`parse_client_event` and gives the session the small frozen dataclass it returns; server
events are built by `server_events.ServerEvents`.  The session never sees JSON.

Client events: `session.update`, `input_audio_buffer.append|commit|clear`,
`output_audio_buffer.clear`, `conversation.item.create|truncate|delete|retrieve`,
`response.create|cancel`.  Beta spellings are accepted on input: top-level `voice`, `speed`,
`modalities`, `input_audio_format`/`output_audio_format` (`pcm16`), `turn_detection`,
`input_audio_transcription`, `max_response_output_tokens`, and `text` content parts.

Decisions:
- Audio is PCM16 little-endian mono at 24 kHz, base64 encoded; any other format
  (G.711, another rate) is refused.
- `output_modalities` is normalised to `("audio",)` (spoken reply plus its transcript; the
  beta `["text", "audio"]` means the same) or `("text",)`.
- `turn_detection: null` switches to push-to-talk; `transcription: null` switches input
  transcription off (both arrive as `OFF`; `None` in a patch means "unchanged").  A
  `turn_detection` object replaces the previous one: fields it leaves out take the defaults
  of `TurnDetection`.  `semantic_vad` (with `eagerness`) is served by a turn-end model
  (`TurnDetection.semantic`); its silence fields are not part of it.
- ZenGlow's own options travel in `session.zenglow`: `{"persona": "<name>" | "auto"}`.
- `tools` (function tools only; their `parameters` must be a JSON Schema object) and
  `tool_choice` in `session.update` and `response.create`; `conversation.item.create`
  takes `function_call_output` items (and `function_call` items, for a history).
- Fields that change nothing here (tracing, noise_reduction, model, the transcription
  model, `semantic_vad` served by the server VAD, ...) are not errors; their paths are listed
  in `ignored` for the session to log and report.  Null or empty values ask for nothing and
  are not listed.
- A `session.update` with any bad field is refused whole (as OpenAI's is): the error says
  so (`REFUSED`) and nothing in it is applied.

Limits and error codes (`ProtocolError.code`, sent back as an `error` event of type
`invalid_request_error` carrying the client's `event_id` when it could be read):
  message_too_large         frame over `max_bytes` (UTF-8 bytes)
  invalid_json              not UTF-8, not JSON, or NaN/Infinity
  invalid_event             not a JSON object, or no string `type`
  unknown_event_type        a `type` this server does not handle (named in the message)
  invalid_value             a missing, mistyped or out-of-range field (`param` names it)
  invalid_audio             bad base64, or an odd number of PCM16 bytes
  unsupported_audio_format  any input/output format but PCM16 24 kHz mono
  unsupported_content       items or parts other than text messages and function calls and
                            outputs (images, audio), tools other than functions
Floods, the input buffer's size and the number of sessions are bounded by the transport and
the session, not here.
"""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Literal, cast

import numpy as np

from ...speech.audio import AudioError, pcm16_from_bytes
from ...tools.specs import ToolSpec
from .session_config import (
    OFF,
    REFUSED,
    SAMPLE_RATE,
    MaxTokens,
    Modalities,
    Off,
    SessionConfigPatch,
    Transcription,
    TurnDetection,
    check_format,
    parse_max_tokens,
    parse_modalities,
    parse_session_patch,
    parse_tool_choice,
    parse_tools,
    parse_voice,
)
from .typed_json import JsonObject, ProtocolError

__all__ = [
    "OFF",
    "REFUSED",
    "SAMPLE_RATE",
    "ClientEvent",
    "FunctionItemCreate",
    "MaxTokens",
    "Modalities",
    "Off",
    "ProtocolError",
    "SessionConfigPatch",
    "Transcription",
    "TurnDetection",
    "parse_client_event",
]
Role = Literal["user", "assistant", "system"]


@dataclass(frozen=True, slots=True)
class SessionUpdate:
    event_id: str | None
    config: SessionConfigPatch


@dataclass(frozen=True, slots=True, eq=False)
class AudioAppend:
    event_id: str | None
    pcm: np.ndarray  # int16 mono at SAMPLE_RATE


@dataclass(frozen=True, slots=True)
class AudioCommit:
    event_id: str | None


@dataclass(frozen=True, slots=True)
class AudioClear:
    event_id: str | None


@dataclass(frozen=True, slots=True)
class OutputAudioClear:
    event_id: str | None


@dataclass(frozen=True, slots=True)
class ItemCreate:
    event_id: str | None
    role: Role
    text: str  # text parts joined by newlines
    item_id: str | None = None  # chosen by the client, else the server picks one
    previous_item_id: str | None = None


@dataclass(frozen=True, slots=True)
class ItemTruncate:
    event_id: str | None
    item_id: str
    content_index: int
    audio_end_ms: int  # how much of the item's audio the client actually played


@dataclass(frozen=True, slots=True)
class ItemDelete:
    event_id: str | None
    item_id: str


@dataclass(frozen=True, slots=True)
class ItemRetrieve:
    event_id: str | None
    item_id: str


@dataclass(frozen=True, slots=True)
class ResponseCreate:
    event_id: str | None
    instructions: str | None = None
    output_modalities: Modalities | None = None
    voice: str | None = None
    max_output_tokens: MaxTokens | None = None
    tools: tuple[ToolSpec, ...] | None = None
    tool_choice: str | None = None
    ignored: tuple[str, ...] = field(default=())


@dataclass(frozen=True, slots=True)
class FunctionItemCreate:
    """A `function_call_output` (or, for a history, a `function_call`) item."""

    event_id: str | None
    kind: Literal["function_call", "function_call_output"]
    call_id: str
    text: str  # the output, or the call's arguments
    name: str | None = None  # function_call: the function
    item_id: str | None = None


@dataclass(frozen=True, slots=True)
class ResponseCancel:
    event_id: str | None
    response_id: str | None = None


ClientEvent = (
    SessionUpdate
    | AudioAppend
    | AudioCommit
    | AudioClear
    | OutputAudioClear
    | ItemCreate
    | FunctionItemCreate
    | ItemTruncate
    | ItemDelete
    | ItemRetrieve
    | ResponseCreate
    | ResponseCancel
)


# --- the other events ------------------------------------------------------------------

_TEXT_PARTS = {"user": ("input_text", "text"), "system": ("input_text", "text"),
               "assistant": ("output_text", "text")}  # fmt: skip


def _function_item(o: JsonObject, item: JsonObject, kind: str) -> FunctionItemCreate:
    call_id = item.text("call_id", required=True, nonempty=True) or ""
    item_id = item.text("id", nonempty=True)
    if kind == "function_call_output":
        output = item.text("output", required=True) or ""
        return FunctionItemCreate(
            o.event_id, "function_call_output", call_id, output, None, item_id
        )
    name = item.text("name", required=True, nonempty=True)
    arguments = item.text("arguments") or "{}"
    return FunctionItemCreate(o.event_id, "function_call", call_id, arguments, name, item_id)


def _item_create(o: JsonObject) -> ItemCreate | FunctionItemCreate:
    item = o.sub("item", required=True)
    kind = item.text("type") or "message"
    if kind in ("function_call", "function_call_output"):
        return _function_item(o, item, kind)
    if kind != "message":
        message = f"item type {kind!r} is not supported: send text messages"
        raise item.error("type", message, "unsupported_content")
    role = item.text("role", required=True)
    if role not in _TEXT_PARTS:
        raise item.error("role", "'item.role' must be user, assistant or system")
    texts = []
    for i, part in enumerate(item.array("content", required=True) or []):
        if not isinstance(part, dict):
            raise item.error(f"content[{i}]", f"'item.content[{i}]' must be an object")
        p = JsonObject(part, item.param(f"content[{i}]"), o.event_id)
        ptype = p.text("type", required=True)
        if ptype not in _TEXT_PARTS[role]:
            message = f"{ptype!r} content is not supported in a {role} message: send text"
            raise p.error("type", message, "unsupported_content")
        texts.append(p.text("text", required=True) or "")
    if not texts:
        raise item.error("content", "'item.content' must hold at least one text part")
    item_id, previous = item.text("id", nonempty=True), o.text("previous_item_id")
    return ItemCreate(o.event_id, cast(Role, role), "\n".join(texts), item_id, previous)


def _response_create(o: JsonObject) -> ResponseCreate:
    r = o.child("response")
    if r is None:
        return ResponseCreate(o.event_id)
    out = r.sub("audio").sub("output")
    check_format(out, "format")
    check_format(r, "output_audio_format")
    known = {"instructions", "output_modalities", "modalities", "voice", "audio",
             "output_audio_format", "max_output_tokens", "max_response_output_tokens",
             "tools", "tool_choice"}  # fmt: skip
    return ResponseCreate(
        o.event_id,
        instructions=r.text("instructions"),
        output_modalities=parse_modalities(r, "output_modalities", "modalities"),
        voice=parse_voice(out) if out.given("voice") else parse_voice(r),
        max_output_tokens=parse_max_tokens(r, "max_output_tokens", "max_response_output_tokens"),
        tools=parse_tools(r),
        tool_choice=parse_tool_choice(r),
        ignored=tuple(r.unknown(known) + out.unknown({"format", "voice"})),
    )


def _audio_append(o: JsonObject) -> AudioAppend:
    encoded = o.text("audio", required=True)
    try:
        pcm = pcm16_from_bytes(base64.b64decode(encoded or "", validate=True))
    except (binascii.Error, ValueError) as exc:
        message = str(exc) if isinstance(exc, AudioError) else "'audio' is not valid base64"
        raise ProtocolError("invalid_audio", message, event_id=o.event_id, param="audio") from None
    return AudioAppend(o.event_id, pcm)


def _item_id(o: JsonObject) -> str:
    return o.text("item_id", required=True, nonempty=True) or ""


def _session_update(o: JsonObject) -> SessionUpdate:
    try:
        return SessionUpdate(o.event_id, parse_session_patch(o.sub("session", required=True)))
    except ProtocolError as exc:
        message = f"{exc.message}; {REFUSED}"
        raise ProtocolError(exc.code, message, event_id=exc.event_id, param=exc.param) from None


_PARSERS: dict[str, Callable[[JsonObject], ClientEvent]] = {
    "session.update": _session_update,
    "input_audio_buffer.append": _audio_append,
    "input_audio_buffer.commit": lambda o: AudioCommit(o.event_id),
    "input_audio_buffer.clear": lambda o: AudioClear(o.event_id),
    "output_audio_buffer.clear": lambda o: OutputAudioClear(o.event_id),
    "conversation.item.create": _item_create,
    "conversation.item.truncate": lambda o: ItemTruncate(
        o.event_id,
        _item_id(o),
        o.integer("content_index", required=True) or 0,
        o.integer("audio_end_ms", required=True) or 0,
    ),
    "conversation.item.delete": lambda o: ItemDelete(o.event_id, _item_id(o)),
    "conversation.item.retrieve": lambda o: ItemRetrieve(o.event_id, _item_id(o)),
    "response.create": _response_create,
    "response.cancel": lambda o: ResponseCancel(o.event_id, o.text("response_id")),
}
CLIENT_EVENT_TYPES = frozenset(_PARSERS)


def _reject_constant(name: str) -> None:
    raise ValueError(f"{name} is not valid JSON")


def parse_client_event(raw: str | bytes, *, max_bytes: int) -> ClientEvent:
    """Decode one client frame, or raise `ProtocolError` saying what is wrong with it."""
    if len(raw) > max_bytes or (
        isinstance(raw, str)
        and len(raw) * 4 > max_bytes
        and len(raw.encode("utf-8", "surrogatepass")) > max_bytes
    ):
        raise ProtocolError("message_too_large", f"message exceeds {max_bytes} bytes")
    try:
        text = raw.decode("utf-8") if isinstance(raw, bytes) else raw
        data = json.loads(text, parse_constant=_reject_constant)
    except (ValueError, RecursionError):  # UnicodeDecodeError and JSONDecodeError included
        raise ProtocolError("invalid_json", "message is not valid UTF-8 JSON") from None
    if not isinstance(data, dict):
        raise ProtocolError("invalid_event", "a client event must be a JSON object")
    event_id = data.get("event_id")
    if event_id is not None and not isinstance(event_id, str):
        raise ProtocolError("invalid_value", "'event_id' must be a string", param="event_id")
    kind = data.get("type")
    if not isinstance(kind, str):
        raise ProtocolError("invalid_event", "missing the 'type' field", event_id=event_id)
    parser = _PARSERS.get(kind)
    if parser is None:
        raise ProtocolError(
            "unknown_event_type", f"unknown event type {kind[:80]!r}", event_id=event_id,
            param="type",
        )  # fmt: skip
    return parser(JsonObject(data, "", event_id))
