"""Client side of the OpenAI Realtime wire codec (GA event names) served at `/v1/realtime`.

Pure: no I/O, no event loop.  The transport hands every received frame to
`parse_client_event` and gives the session the small frozen dataclass it returns; server
events are built by `realtime_events.ServerEvents`.  The session never sees JSON.

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
  of `TurnDetection`.  `semantic_vad` is served by the server VAD (`TurnDetection.semantic`
  records the request).
- ZenGlow's own options travel in `session.zenglow`: `{"persona": "<name>" | "auto"}`.
- Fields that change nothing here (tools, tracing, noise_reduction, model, ...) are not
  errors; their paths are listed in `ignored` for the session to log.

Limits and error codes (`ProtocolError.code`, sent back as an `error` event of type
`invalid_request_error` carrying the client's `event_id` when it could be read):
  message_too_large         frame over `max_bytes` (UTF-8 bytes)
  invalid_json              not UTF-8, not JSON, or NaN/Infinity
  invalid_event             not a JSON object, or no string `type`
  unknown_event_type        a `type` this server does not handle (named in the message)
  invalid_value             a missing, mistyped or out-of-range field (`param` names it)
  invalid_audio             bad base64, or an odd number of PCM16 bytes
  unsupported_audio_format  any input/output format but PCM16 24 kHz mono
  unsupported_content       items or parts other than text messages (images, audio, tools)
Floods, the input buffer's size and the number of sessions are bounded by the transport and
the session, not here.
"""

from __future__ import annotations

import base64
import binascii
import enum
import json
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Literal, cast

import numpy as np

from ..audio import AudioError, pcm16_from_bytes

SAMPLE_RATE = 24000
Modalities = tuple[Literal["audio"]] | tuple[Literal["text"]]
MaxTokens = int | Literal["inf"]
Role = Literal["user", "assistant", "system"]


class ProtocolError(ValueError):
    """A client event this server cannot accept; becomes a Realtime `error` event."""

    def __init__(
        self, code: str, message: str, *, event_id: str | None = None, param: str | None = None
    ) -> None:
        super().__init__(message)
        self.code, self.message, self.event_id, self.param = code, message, event_id, param


class Off(enum.Enum):
    """A setting the client switched off with an explicit `null`."""

    OFF = "off"


OFF = Off.OFF


@dataclass(frozen=True, slots=True)
class TurnDetection:
    """Server VAD settings (the Realtime API's documented defaults)."""

    threshold: float = 0.5
    prefix_padding_ms: int = 300
    silence_duration_ms: int = 500
    create_response: bool = True
    interrupt_response: bool = True
    semantic: bool = False  # the client asked for `semantic_vad`


@dataclass(frozen=True, slots=True)
class Transcription:
    model: str | None = None
    language: str | None = None
    prompt: str | None = None


@dataclass(frozen=True, slots=True)
class SessionConfigPatch:
    """Only what the client set; `None` leaves a setting unchanged."""

    instructions: str | None = None  # "" clears
    voice: str | None = None
    speed: float | None = None
    output_modalities: Modalities | None = None
    turn_detection: TurnDetection | Off | None = None  # OFF: push-to-talk
    transcription: Transcription | Off | None = None  # OFF: no input transcription
    max_output_tokens: MaxTokens | None = None
    persona: str | None = None  # "auto": routing decides
    ignored: tuple[str, ...] = ()


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
    ignored: tuple[str, ...] = field(default=())


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
    | ItemTruncate
    | ItemDelete
    | ItemRetrieve
    | ResponseCreate
    | ResponseCancel
)


# --- typed access to JSON objects ------------------------------------------------------


class _Obj:
    """One JSON object; errors name the parameter path and carry the client's event id."""

    def __init__(self, data: dict[str, Any], path: str, event_id: str | None) -> None:
        self.data, self.path, self.event_id = data, path, event_id

    def param(self, key: str) -> str:
        return f"{self.path}.{key}" if self.path else key

    def error(self, key: str, message: str, code: str = "invalid_value") -> ProtocolError:
        return ProtocolError(code, message, event_id=self.event_id, param=self.param(key))

    def given(self, key: str) -> bool:
        return self.data.get(key) is not None

    def _value(self, key: str, kinds: tuple[type, ...], what: str, required: bool) -> Any:
        value = self.data.get(key)
        if value is None:
            if required:
                raise self.error(key, f"missing required parameter '{self.param(key)}'")
            return None
        if not isinstance(value, kinds) or (bool not in kinds and isinstance(value, bool)):
            raise self.error(key, f"'{self.param(key)}' must be {what}")
        return value

    def text(self, key: str, *, required: bool = False, nonempty: bool = False) -> str | None:
        value = self._value(key, (str,), "a string", required)
        if nonempty and value == "":
            raise self.error(key, f"'{self.param(key)}' must not be empty")
        return value

    def integer(
        self, key: str, *, required: bool = False, lo: int = 0, hi: int = 2**31
    ) -> int | None:
        value = self._value(key, (int, float), "an integer", required)
        if value is None:
            return None
        if not lo <= value <= hi or value != int(value):
            raise self.error(key, f"'{self.param(key)}' must be an integer in [{lo}, {hi}]")
        return int(value)

    def number(self, key: str, lo: float, hi: float) -> float | None:
        value = self._value(key, (int, float), "a number", False)
        if value is not None and not lo <= value <= hi:
            raise self.error(key, f"'{self.param(key)}' must be between {lo} and {hi}")
        return None if value is None else float(value)

    def flag(self, key: str) -> bool | None:
        return self._value(key, (bool,), "true or false", False)

    def child(self, key: str, *, required: bool = False) -> _Obj | None:
        value = self._value(key, (dict,), "an object", required)
        return None if value is None else _Obj(value, self.param(key), self.event_id)

    def sub(self, key: str, *, required: bool = False) -> _Obj:
        """The object at `key`, or an empty one when it is absent."""
        return self.child(key, required=required) or _Obj({}, self.param(key), self.event_id)

    def array(self, key: str, *, required: bool = False) -> list[Any] | None:
        return self._value(key, (list,), "an array", required)

    def unknown(self, known: set[str]) -> list[str]:
        return [self.param(k) for k in self.data if k not in known]


# --- session.update ---------------------------------------------------------------------

_SESSION_KEYS = {
    "type", "audio", "instructions", "output_modalities", "modalities", "voice", "speed",
    "input_audio_format", "output_audio_format", "turn_detection", "input_audio_transcription",
    "max_output_tokens", "max_response_output_tokens", "zenglow",
}  # fmt: skip


def _check_format(o: _Obj, key: str) -> None:
    """GA `{"type": "audio/pcm", "rate": 24000}` or beta `"pcm16"`; nothing else."""
    value = o.data.get(key)
    if value is None or value == "pcm16":
        return
    if isinstance(value, dict) and value.get("type", "audio/pcm") == "audio/pcm":
        if value.get("rate", SAMPLE_RATE) == SAMPLE_RATE:
            return
    raise o.error(
        key,
        f"unsupported audio format {json.dumps(value)[:80]}: only PCM16 mono at 24 kHz is served "
        '({"type": "audio/pcm", "rate": 24000}, or "pcm16")',
        "unsupported_audio_format",
    )


def _modalities(o: _Obj, *keys: str) -> Modalities | None:
    key = next((k for k in keys if o.given(k)), keys[0])
    values = o.array(key)
    if values is None:
        return None
    if not values or any(v not in ("audio", "text") for v in values):
        raise o.error(key, f'\'{o.param(key)}\' must be ["audio"] or ["text"]')
    return ("audio",) if "audio" in values else ("text",)


def _max_tokens(o: _Obj, *keys: str) -> MaxTokens | None:
    key = next((k for k in keys if o.given(k)), keys[0])
    if o.data.get(key) == "inf":
        return "inf"
    return o.integer(key, lo=1, hi=4096)


def _voice(o: _Obj) -> str | None:
    if isinstance(o.data.get("voice"), dict):  # GA custom voice: {"id": "..."}
        voice = o.child("voice")
        return voice.text("id", required=True, nonempty=True) if voice else None
    return o.text("voice", nonempty=True)


_VAD_KEYS = {"type", "threshold", "prefix_padding_ms", "silence_duration_ms", "create_response",
             "interrupt_response"}  # fmt: skip


def _turn_detection(o: _Obj, ignored: list[str]) -> TurnDetection | Off:
    td = o.child("turn_detection")
    if td is None:
        return OFF
    ignored += td.unknown(_VAD_KEYS)
    kind = td.text("type") or "server_vad"
    if kind not in ("server_vad", "semantic_vad"):
        raise td.error("type", f"turn detection {kind!r} is not served: use server_vad or null")
    given: dict[str, Any] = {
        "threshold": td.number("threshold", 0.0, 1.0),
        "prefix_padding_ms": td.integer("prefix_padding_ms", hi=10_000),
        "silence_duration_ms": td.integer("silence_duration_ms", hi=10_000),
        "create_response": td.flag("create_response"),
        "interrupt_response": td.flag("interrupt_response"),
    }
    values = {k: v for k, v in given.items() if v is not None}
    return TurnDetection(**values, semantic=kind == "semantic_vad")


def _transcription(o: _Obj, key: str, ignored: list[str]) -> Transcription | Off:
    t = o.child(key)
    if t is None:
        return OFF
    ignored += t.unknown({"model", "language", "prompt"})
    return Transcription(t.text("model"), t.text("language"), t.text("prompt"))


def _session_patch(s: _Obj) -> SessionConfigPatch:
    kind = s.text("type")
    if kind not in (None, "realtime"):
        raise s.error("type", f'session type {kind!r} is not served: use "realtime"')
    ignored = s.unknown(_SESSION_KEYS)
    audio = s.sub("audio")
    inp, out = audio.sub("input"), audio.sub("output")
    ignored += audio.unknown({"input", "output"})
    ignored += inp.unknown({"format", "turn_detection", "transcription"})
    ignored += out.unknown({"format", "voice", "speed"})
    for o, key in ((inp, "format"), (out, "format")):
        _check_format(o, key)
    for key in ("input_audio_format", "output_audio_format"):
        _check_format(s, key)
    # `null` means "off", so presence (not value) picks the GA or the beta spelling
    turn_detection = transcription = None
    if "turn_detection" in inp.data or "turn_detection" in s.data:
        turn_detection = _turn_detection(inp if "turn_detection" in inp.data else s, ignored)
    if "transcription" in inp.data:
        transcription = _transcription(inp, "transcription", ignored)
    elif "input_audio_transcription" in s.data:
        transcription = _transcription(s, "input_audio_transcription", ignored)
    zen = s.child("zenglow")
    if zen is not None:
        ignored += zen.unknown({"persona"})
    return SessionConfigPatch(
        instructions=s.text("instructions"),
        voice=_voice(out) if out.given("voice") else _voice(s),
        speed=(out if out.given("speed") else s).number("speed", 0.25, 1.5),
        output_modalities=_modalities(s, "output_modalities", "modalities"),
        turn_detection=turn_detection,
        transcription=transcription,
        max_output_tokens=_max_tokens(s, "max_output_tokens", "max_response_output_tokens"),
        persona=None if zen is None else zen.text("persona", nonempty=True),
        ignored=tuple(ignored),
    )


# --- the other events ------------------------------------------------------------------

_TEXT_PARTS = {"user": ("input_text", "text"), "system": ("input_text", "text"),
               "assistant": ("output_text", "text")}  # fmt: skip


def _item_create(o: _Obj) -> ItemCreate:
    item = o.sub("item", required=True)
    kind = item.text("type") or "message"
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
        p = _Obj(part, item.param(f"content[{i}]"), o.event_id)
        ptype = p.text("type", required=True)
        if ptype not in _TEXT_PARTS[role]:
            message = f"{ptype!r} content is not supported in a {role} message: send text"
            raise p.error("type", message, "unsupported_content")
        texts.append(p.text("text", required=True) or "")
    if not texts:
        raise item.error("content", "'item.content' must hold at least one text part")
    item_id, previous = item.text("id", nonempty=True), o.text("previous_item_id")
    return ItemCreate(o.event_id, cast(Role, role), "\n".join(texts), item_id, previous)


def _response_create(o: _Obj) -> ResponseCreate:
    r = o.child("response")
    if r is None:
        return ResponseCreate(o.event_id)
    out = r.sub("audio").sub("output")
    _check_format(out, "format")
    _check_format(r, "output_audio_format")
    known = {"instructions", "output_modalities", "modalities", "voice", "audio",
             "output_audio_format", "max_output_tokens", "max_response_output_tokens"}  # fmt: skip
    return ResponseCreate(
        o.event_id,
        instructions=r.text("instructions"),
        output_modalities=_modalities(r, "output_modalities", "modalities"),
        voice=_voice(out) if out.given("voice") else _voice(r),
        max_output_tokens=_max_tokens(r, "max_output_tokens", "max_response_output_tokens"),
        ignored=tuple(r.unknown(known) + out.unknown({"format", "voice"})),
    )


def _audio_append(o: _Obj) -> AudioAppend:
    encoded = o.text("audio", required=True)
    try:
        pcm = pcm16_from_bytes(base64.b64decode(encoded or "", validate=True))
    except (binascii.Error, ValueError) as exc:
        message = str(exc) if isinstance(exc, AudioError) else "'audio' is not valid base64"
        raise ProtocolError("invalid_audio", message, event_id=o.event_id, param="audio") from None
    return AudioAppend(o.event_id, pcm)


def _item_id(o: _Obj) -> str:
    return o.text("item_id", required=True, nonempty=True) or ""


_PARSERS: dict[str, Callable[[_Obj], ClientEvent]] = {
    "session.update": lambda o: SessionUpdate(
        o.event_id, _session_patch(o.sub("session", required=True))
    ),
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
    return parser(_Obj(data, "", event_id))
