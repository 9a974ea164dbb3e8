"""Typed settings: defaults < TOML file < `ZENGLOW_*` environment, validated at start.

Nothing here runs at import time: `load_settings()` reads the file and the environment when
the server or a command starts, and `check_environment()` validates what depends on the
machine (model files, CUDA devices) with messages that say what to do.
"""

from __future__ import annotations

import contextvars
import logging
import os
from pathlib import Path
from typing import Any, Literal

from pydantic import (
    Field,
    ValidationError,
    field_validator,
)
from pydantic_settings import (
    BaseSettings,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
    TomlConfigSettingsSource,
)

from .knowledge import EmbedderSettings, KnowledgeSettings
from .personas import (
    DEFAULT_OLLAMA_URL,
    AvatarSettings,
    ChatSettings,
    EndpointKind,
    EndpointSettings,
    PersonaSettings,
    Section,
    VoiceSettings,
    _default_personas,
    _invalid,
)
from .security import AuthSettings, LimitSettings
from .server import ServerSettings, WebRtcSettings
from .storage import StorageSettings
from .tools import McpServerSettings, ToolSettings
from .voices import SessionVoiceSettings, alias_problems, default_voices

__all__ = [
    "DEFAULT_OLLAMA_URL",
    "AuthSettings",
    "AvatarSettings",
    "ChatSettings",
    "EmbedderSettings",
    "EndpointKind",
    "EndpointSettings",
    "KnowledgeSettings",
    "LimitSettings",
    "McpServerSettings",
    "PersonaSettings",
    "ServerSettings",
    "SessionVoiceSettings",
    "Settings",
    "SettingsError",
    "StorageSettings",
    "ToolSettings",
    "VoiceSettings",
    "WebRtcSettings",
    "check_environment",
    "load_settings",
]

log = logging.getLogger(__name__)

_config_file: contextvars.ContextVar[Path | None] = contextvars.ContextVar(
    "zenglow_config_file", default=None
)


class SettingsError(ValueError):
    """The configuration cannot be used; the message says which key and why."""


class SttSettings(Section):
    model: Path | None = Field(None, description="CTranslate2 Whisper folder; None = tiny.en")
    device: str = Field("cpu", description="cpu, cuda or cuda:N")
    compute_type: str = "int8"
    language: str | None = "en"
    beam_size: int = Field(1, ge=1, le=10)
    initial_prompt: str | None = None
    cpu_threads: int = Field(0, ge=0, description="0 = CTranslate2's default")
    min_window_s: float = Field(
        10.0,
        ge=1.0,
        le=30.0,
        description="encode the audio plus 3 s, at least this much, of Whisper's 30 s window "
        "(short turns cost a third of the encoder time on a CPU); 30 = the full window",
    )

    @field_validator("device")
    @classmethod
    def _device_shape(cls, v: str) -> str:
        if v == "cpu" or v == "cuda" or (v.startswith("cuda:") and v[5:].isdigit()):
            return v
        raise ValueError(f"device must be 'cpu', 'cuda' or 'cuda:N', not {v!r}")


BACKCHANNELS = ("mm hmm", "mhm", "mm", "hmm", "uh huh", "yeah", "yes", "yep", "okay", "ok",
                "right", "sure", "i see", "got it")  # fmt: skip


class VadSettings(Section):
    type: Literal["server_vad", "semantic_vad"] = Field(
        "server_vad", description="a session's turn detection until it asks for another"
    )
    eagerness: Literal["low", "medium", "high", "auto"] = "auto"  # semantic_vad
    judge_after_ms: int = Field(
        200, ge=32, description="semantic_vad: pause after which the turn-end model judges"
    )
    threshold: float = Field(0.5, gt=0.0, lt=1.0)
    min_speech_ms: int = Field(250, ge=0)
    silence_ms: int = Field(500, ge=100, description="end-of-turn silence")
    speculate_ms: int = Field(
        0, ge=0, description="pause after which the reply is prepared, unheard, in advance"
    )
    prefix_padding_ms: int = Field(300, ge=0)
    max_turn_s: float = Field(30.0, gt=1.0)
    barge_in_threshold: float = Field(
        0.7, gt=0.0, lt=1.0, description="speech probability that talks over a reply"
    )
    barge_in_min_speech_ms: int = Field(150, ge=0, description="speech that talks over a reply")
    backchannels: tuple[str, ...] = Field(
        (),
        description="what said over a reply lets it go on (held meanwhile, so speech over "
        "a reply interrupts it only after backchannel_max_ms); () = none, e.g. BACKCHANNELS",
    )
    backchannel_max_ms: int = Field(
        700, ge=100, description="speech over a reply longer than this interrupts it"
    )
    echo_cancellation: bool = Field(
        True, description="cancel the echo of our replies in the microphone (WebRTC AEC3)"
    )


class EmbeddedLlmSettings(Section):
    model: Path | None = Field(
        None, description="GGUF file for every persona; None = each persona's embedded_model"
    )
    n_ctx: int = Field(2048, ge=256)
    n_threads: int | None = Field(None, ge=1)
    first_chunk_threads: int | None = Field(
        None, ge=1, description="threads for a reply's first spoken chunk; None = every core"
    )
    temperature: float = Field(
        0.0, ge=0.0, le=2.0, description="0 = greedy, as the evaluation set measures it"
    )


class _BuiltInDefaults(PydanticBaseSettingsSource):
    """Lowest-priority source: the built-in personas and voices, so the file and the
    environment can change one key of a persona (`ZENGLOW_PERSONAS__JARVIS__CHAT__BACKEND=
    ollama`) or a voice (`[voices.joe-calm] aliases = ["ash"]`) and keep the rest, and add
    personas and voices beside the built-in ones."""

    def get_field_value(self, field: Any, field_name: str) -> tuple[Any, str, bool]:
        return None, field_name, False

    def __call__(self) -> dict[str, Any]:
        return {
            "personas": {k: v.model_dump() for k, v in _default_personas().items()},
            "voices": {k: v.model_dump() for k, v in default_voices().items()},
        }


class Settings(BaseSettings):
    model_config = SettingsConfigDict(
        env_prefix="ZENGLOW_",
        env_nested_delimiter="__",
        extra="forbid",
        frozen=True,
    )

    server: ServerSettings = ServerSettings()
    auth: AuthSettings = AuthSettings()
    limits: LimitSettings = LimitSettings()
    webrtc: WebRtcSettings = WebRtcSettings()
    stt: SttSettings = SttSettings()
    vad: VadSettings = VadSettings()
    llm: EmbeddedLlmSettings = EmbeddedLlmSettings()
    knowledge: KnowledgeSettings = Field(default_factory=KnowledgeSettings)
    storage: StorageSettings = Field(default_factory=StorageSettings)
    tools: ToolSettings = Field(default_factory=ToolSettings)
    personas: dict[str, PersonaSettings] = Field(default_factory=_default_personas)
    voices: dict[str, SessionVoiceSettings] = Field(
        default_factory=default_voices, description="voices a session may choose for its persona"
    )
    default_persona: str = "jarvis"
    allow_device_fallback: bool = Field(
        False, description="use the CPU when a configured CUDA device is missing"
    )
    output_sample_rate: int = 24000

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        sources: list[PydanticBaseSettingsSource] = [init_settings, env_settings]
        path = _config_file.get()
        if path is not None:
            sources.append(TomlConfigSettingsSource(settings_cls, toml_file=path))
        sources.append(_BuiltInDefaults(settings_cls))
        return tuple(sources)

    @field_validator("voices")
    @classmethod
    def _one_voice_per_name(
        cls, voices: dict[str, SessionVoiceSettings]
    ) -> dict[str, SessionVoiceSettings]:
        problems = alias_problems(voices)
        if problems:
            raise _invalid("; ".join(problems))
        return voices

    def persona(self, name: str | None) -> PersonaSettings:
        key = (name or self.default_persona).lower()
        try:
            return self.personas[key]
        except KeyError:
            known = ", ".join(sorted(self.personas))
            raise SettingsError(f"unknown persona {name!r}; configured: {known}") from None


def _format_errors(exc: ValidationError, source: str) -> str:
    lines = [f"invalid configuration ({source}):"]
    for err in exc.errors():
        where = ".".join(str(p) for p in err["loc"]) or "(top level)"
        msg = "unknown key" if err["type"] == "extra_forbidden" else err["msg"]
        lines.append(f"  {where}: {msg}")
    return "\n".join(lines)


# ZENGLOW_* variables that are not settings: the config file and the speech corpus.
_NOT_SETTINGS = frozenset({"config", "speech_dir"})


def _unknown_env_keys() -> list[str]:
    unknown = []
    for name in os.environ:
        low = name.lower()
        if low.startswith("zenglow_"):
            top = low.removeprefix("zenglow_").split("__", 1)[0]
            if top not in Settings.model_fields and top not in _NOT_SETTINGS:
                unknown.append(name)
    return sorted(unknown)


def load_settings(config: str | Path | None = None, **overrides: Any) -> Settings:
    """Build settings from defaults, the TOML file (`config` or $ZENGLOW_CONFIG) and the env."""
    raw = config if config is not None else os.environ.get("ZENGLOW_CONFIG")
    path = Path(raw) if raw else None
    if path is not None and not path.is_file():
        raise SettingsError(f"config file not found: {path}")
    unknown = _unknown_env_keys()
    if unknown:
        raise SettingsError(
            "invalid configuration (environment):\n"
            + "\n".join(f"  {name}: unknown key" for name in unknown)
        )
    token = _config_file.set(path)
    try:
        settings = Settings(**overrides)
    except ValidationError as exc:
        raise SettingsError(
            _format_errors(exc, f"{path} or environment" if path else "environment")
        ) from None
    except ValueError as exc:  # TOML syntax errors
        raise SettingsError(f"cannot read config file {path}: {exc}") from None
    finally:
        _config_file.reset(token)
    if settings.default_persona not in settings.personas:
        raise SettingsError(
            f"default_persona {settings.default_persona!r} is not among the personas "
            f"({', '.join(sorted(settings.personas))})"
        )
    return settings


def cuda_device_count() -> int:
    try:
        import ctranslate2

        return int(ctranslate2.get_cuda_device_count())
    except (ImportError, RuntimeError):
        return 0


def _endpoint_problems(key: str, chat: ChatSettings) -> list[str]:
    problems = []
    for i, endpoint in enumerate(chat.pool()):
        where = f"{key}.endpoints.{i}.model" if chat.endpoints else f"{key}.model"
        if endpoint.kind == "ollama" and not endpoint.model:
            problems.append(f"{where}: an Ollama model tag is required, e.g. phi3:3.8b")
        elif endpoint.kind == "openai" and not endpoint.model:
            problems.append(f"{where}: a model name is required, one that GET /v1/models lists")
    return problems


def check_environment(settings: Settings, *, cuda_devices: int | None = None) -> Settings:
    """Validate what depends on this machine; returns settings with allowed fallbacks applied."""
    problems: list[str] = []
    paths: list[tuple[str, Path | None]] = [("stt.model", settings.stt.model)]
    paths.append(("llm.model", settings.llm.model))
    paths.append(("server.certfile", settings.server.certfile))
    paths.append(("server.keyfile", settings.server.keyfile))
    for name, voice in settings.voices.items():
        paths.append((f"voices.{name}.model", voice.model))
    for name, persona in settings.personas.items():
        paths.append((f"personas.{name}.voice.model", persona.voice.model))
        problems += _endpoint_problems(f"personas.{name}.chat", persona.chat)
    for key, path in paths:
        if path is not None and not path.exists():
            problems.append(f"{key}: {path} does not exist")
    device = settings.stt.device
    if device.startswith("cuda"):
        count = cuda_device_count() if cuda_devices is None else cuda_devices
        index = int(device.partition(":")[2] or 0)
        if index >= count:
            found = f"{count} CUDA device(s)" if count else "no CUDA device"
            if settings.allow_device_fallback:
                log.warning("stt.device %s requested but %s found: using the CPU", device, found)
                stt = settings.stt.model_copy(update={"device": "cpu", "compute_type": "int8"})
                settings = settings.model_copy(update={"stt": stt})
            else:
                problems.append(
                    f"stt.device: {device} requested but this machine has {found}; "
                    'set stt.device = "cpu" or allow_device_fallback = true'
                )
    if problems:
        raise SettingsError("invalid configuration:\n  " + "\n  ".join(problems))
    return settings
