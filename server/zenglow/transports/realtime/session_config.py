"""`session.update` on the wire (GA and beta shapes) -> a `SessionConfigPatch`."""

from __future__ import annotations

import enum
import json
from dataclasses import dataclass
from typing import Any, Literal

from ...engines.budget import Truncation
from ...tools.specs import MODES, NAME, ToolSpec, schema_problem
from .typed_json import JsonObject

SAMPLE_RATE = 24000
# Every refused session.update says so: like OpenAI's, it is refused whole, nothing applied.
REFUSED = "refused as a whole: nothing in this session config was applied"
Modalities = tuple[Literal["audio"]] | tuple[Literal["text"]]
MaxTokens = int | Literal["inf"]
Eagerness = Literal["low", "medium", "high", "auto"]
EAGERNESS: tuple[Eagerness, ...] = ("low", "medium", "high", "auto")


class Off(enum.Enum):
    """A setting the client switched off with an explicit `null`."""

    OFF = "off"


OFF = Off.OFF


@dataclass(frozen=True, slots=True)
class TurnDetection:
    """Turn detection settings (the Realtime API's documented defaults)."""

    threshold: float = 0.5
    prefix_padding_ms: int = 300
    silence_duration_ms: int = 500
    create_response: bool = True
    interrupt_response: bool = True
    semantic: bool = False  # `semantic_vad`: a turn-end model judges each pause
    eagerness: Eagerness = "auto"  # semantic_vad: how soon an unsure turn is taken as over


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
    truncation: Truncation | None = None
    persona: str | None = None  # "auto": routing decides
    tools: tuple[ToolSpec, ...] | None = None  # the client's functions
    tool_choice: str | None = None  # auto, none, required, or a function's name
    ignored: tuple[str, ...] = ()


_SESSION_KEYS = {
    "type", "audio", "instructions", "output_modalities", "modalities", "voice", "speed",
    "input_audio_format", "output_audio_format", "turn_detection", "input_audio_transcription",
    "max_output_tokens", "max_response_output_tokens", "zenglow", "tools", "tool_choice",
    "truncation",
}  # fmt: skip


def parse_tools(o: JsonObject) -> tuple[ToolSpec, ...] | None:
    """`tools`: function tools (name, description, parameters as a JSON Schema object)."""
    values = o.array("tools")
    if values is None:
        return None
    tools: list[ToolSpec] = []
    for i, value in enumerate(values):
        key = f"tools[{i}]"
        if not isinstance(value, dict):
            raise o.error(key, f"'{o.param(key)}' must be an object")
        t = JsonObject(value, o.param(key), o.event_id)
        kind = t.text("type") or "function"
        if kind != "function":
            message = f"tool type {kind!r} is not served: send function tools (MCP servers are "
            raise t.error("type", message + "configured on the server)", "unsupported_content")
        name = t.text("name", required=True) or ""
        if not NAME.match(name):
            raise t.error("name", "a function name is 1 to 64 letters, digits, _ or -")
        if any(tool.name == name for tool in tools):
            raise t.error("name", f"two tools are named {name!r}")
        parameters = value.get("parameters")
        parameters = {"type": "object", "properties": {}} if parameters is None else parameters
        problem = schema_problem(parameters)
        if problem:
            raise t.error("parameters", f"the parameters of {name!r} {problem}")
        tools.append(ToolSpec(name, t.text("description") or "", parameters))
    return tuple(tools)


def parse_tool_choice(o: JsonObject) -> str | None:
    """`tool_choice`: auto, none, required, or {"type": "function", "name": ...}."""
    value = o.data.get("tool_choice")
    if value is None:
        return None
    if isinstance(value, str) and value in MODES:
        return value
    if isinstance(value, dict) and value.get("type") == "function":
        name = o.sub("tool_choice").text("name", required=True) or ""
        if NAME.match(name):
            return name
    raise o.error(
        "tool_choice",
        'tool_choice must be "auto", "none", "required" or {"type": "function", "name": ...}',
    )


def check_format(o: JsonObject, key: str) -> None:
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


def parse_modalities(o: JsonObject, *keys: str) -> Modalities | None:
    key = next((k for k in keys if o.given(k)), keys[0])
    values = o.array(key)
    if values is None:
        return None
    if not values or any(v not in ("audio", "text") for v in values):
        raise o.error(key, f'\'{o.param(key)}\' must be ["audio"] or ["text"]')
    return ("audio",) if "audio" in values else ("text",)


def parse_max_tokens(o: JsonObject, *keys: str) -> MaxTokens | None:
    key = next((k for k in keys if o.given(k)), keys[0])
    if o.data.get(key) == "inf":
        return "inf"
    return o.integer(key, lo=1, hi=4096)


def parse_voice(o: JsonObject) -> str | None:
    if isinstance(o.data.get("voice"), dict):  # GA custom voice: {"id": "..."}
        voice = o.child("voice")
        return voice.text("id", required=True, nonempty=True) if voice else None
    return o.text("voice", nonempty=True)


MIN_SILENCE_MS = 100  # shorter ends turns inside words; the VAD works in 32 ms frames
_VAD_KEYS = {"type", "threshold", "prefix_padding_ms", "silence_duration_ms", "create_response",
             "interrupt_response"}  # fmt: skip
_SEMANTIC_KEYS = {"type", "eagerness", "create_response", "interrupt_response"}


def _turn_detection(o: JsonObject, ignored: list[str]) -> TurnDetection | Off:
    td = o.child("turn_detection")
    if td is None:
        return OFF
    kind = td.text("type") or "server_vad"
    if kind not in ("server_vad", "semantic_vad"):
        raise td.error(
            "type", f"turn detection {kind!r} is not served: use server_vad, semantic_vad or null"
        )
    ignored += td.unknown(_SEMANTIC_KEYS if kind == "semantic_vad" else _VAD_KEYS)
    if kind == "semantic_vad":
        eagerness = td.text("eagerness") or "auto"
        if eagerness not in EAGERNESS:
            raise td.error("eagerness", f"eagerness must be one of {', '.join(EAGERNESS)}")
        flags = {"create_response": td.flag("create_response"),
                 "interrupt_response": td.flag("interrupt_response")}  # fmt: skip
        values = {k: v for k, v in flags.items() if v is not None}
        return TurnDetection(**values, semantic=True, eagerness=eagerness)  # type: ignore[arg-type]
    given: dict[str, Any] = {
        "threshold": td.number("threshold", 0.01, 1.0),
        "prefix_padding_ms": td.integer("prefix_padding_ms", hi=10_000),
        "silence_duration_ms": td.integer("silence_duration_ms", lo=MIN_SILENCE_MS, hi=10_000),
        "create_response": td.flag("create_response"),
        "interrupt_response": td.flag("interrupt_response"),
    }
    values = {k: v for k, v in given.items() if v is not None}
    return TurnDetection(**values)


def _transcription(o: JsonObject, key: str, ignored: list[str]) -> Transcription | Off:
    t = o.child(key)
    if t is None:
        return OFF
    ignored += t.unknown({"model", "language", "prompt"})
    result = Transcription(t.text("model"), t.text("language"), t.text("prompt"))
    ignored += t.asked("model", "language", "prompt")  # the server's Whisper settings decide
    return result


def parse_truncation(s: JsonObject) -> Truncation | None:
    """`truncation`: "auto", "disabled", or {"type": "retention_ratio", "retention_ratio": r}."""
    if not s.given("truncation"):
        return None
    value = s.data["truncation"]
    if value in ("auto", "disabled"):
        return Truncation(value)
    t = s.sub("truncation")
    kind = t.text("type", required=True)
    if kind in ("auto", "disabled"):
        return Truncation(kind)
    if kind != "retention_ratio":
        raise s.error("truncation", 'truncation is "auto", "disabled" or a retention_ratio object')
    ratio = t.number("retention_ratio", 0.0, 1.0)
    if ratio is None:
        raise s.error("truncation", "retention_ratio needs a retention_ratio from 0 to 1")
    return Truncation("retention_ratio", ratio)


def parse_session_patch(s: JsonObject) -> SessionConfigPatch:
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
        check_format(o, key)
    for key in ("input_audio_format", "output_audio_format"):
        check_format(s, key)
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
        voice=parse_voice(out) if out.given("voice") else parse_voice(s),
        speed=(out if out.given("speed") else s).number("speed", 0.25, 1.5),
        output_modalities=parse_modalities(s, "output_modalities", "modalities"),
        turn_detection=turn_detection,
        transcription=transcription,
        max_output_tokens=parse_max_tokens(s, "max_output_tokens", "max_response_output_tokens"),
        truncation=parse_truncation(s),
        persona=None if zen is None else zen.text("persona", nonempty=True),
        tools=parse_tools(s),
        tool_choice=parse_tool_choice(s),
        ignored=tuple(ignored),
    )
