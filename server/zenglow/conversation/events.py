"""What a Session tells its transport: small frozen facts, in the order they happened.

Transports translate these to their wire protocol (see `transports/realtime/encoder.py`);
the session never sees JSON.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

from ..engines.base import VisemeCue
from ..engines.budget import AUTO, Truncation
from ..speech import vad

State = Literal["listening", "user_speaking", "thinking", "speaking", "interrupted"]
ResponseStatus = Literal["completed", "cancelled", "incomplete", "failed"]
Role = Literal["user", "assistant", "system"]


@dataclass(frozen=True, slots=True)
class TurnDetection:
    threshold: float = 0.5
    prefix_padding_ms: int = 300
    silence_duration_ms: int = 600
    create_response: bool = True
    interrupt_response: bool = True
    semantic: bool = False  # semantic_vad: a turn-end model judges each pause
    eagerness: str = "auto"  # semantic_vad: low, medium, high or auto

    @property
    def longest_pause_s(self) -> float:
        """The longest silence that can pass before the turn is over."""
        if self.semantic:
            return vad.EAGERNESS[self.eagerness][1]
        return self.silence_duration_ms / 1000


@dataclass(frozen=True, slots=True)
class SessionConfig:
    id: str
    model: str  # the persona named when connecting (?model=)
    persona: str = "auto"  # "auto": routing picks the persona per turn; else always this one
    instructions: str | None = None
    voice: str = "default"
    speed: float = 1.0
    output_modalities: tuple[str, ...] = ("audio",)
    turn_detection: TurnDetection | None = TurnDetection()  # None: push-to-talk
    transcription: bool = True
    max_output_tokens: int | None = None
    truncation: Truncation = AUTO  # what is dropped when the history outgrows the context
    # what the latest update asked for that this session does not do (wire paths)
    ignored: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class Item:
    id: str
    role: Role
    text: str
    kind: Literal["audio", "text"] = "text"  # how the content came: spoken or typed
    status: Literal["completed", "incomplete", "in_progress"] = "completed"
    persona: str | None = None


# --- facts -----------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class SessionStarted:
    config: SessionConfig


@dataclass(frozen=True, slots=True)
class SessionUpdated:
    config: SessionConfig


@dataclass(frozen=True, slots=True)
class StateChanged:
    state: State


@dataclass(frozen=True, slots=True)
class SpeechStarted:
    item_id: str
    audio_start_ms: int


@dataclass(frozen=True, slots=True)
class SpeechStopped:
    item_id: str
    audio_end_ms: int


@dataclass(frozen=True, slots=True)
class InputCommitted:
    item_id: str
    previous_item_id: str | None


@dataclass(frozen=True, slots=True)
class InputCleared:
    pass


@dataclass(frozen=True, slots=True)
class ItemAdded:
    item: Item
    previous_item_id: str | None


@dataclass(frozen=True, slots=True)
class TranscriptionDelta:
    item_id: str
    delta: str


@dataclass(frozen=True, slots=True)
class TranscriptionCompleted:
    item_id: str
    transcript: str
    audio_seconds: float


@dataclass(frozen=True, slots=True)
class TranscriptionFailed:
    item_id: str
    message: str


@dataclass(frozen=True, slots=True)
class ItemTruncated:
    item_id: str
    audio_end_ms: int
    text: str


@dataclass(frozen=True, slots=True)
class ItemDeleted:
    item_id: str


@dataclass(frozen=True, slots=True)
class ResponseStarted:
    response_id: str
    item_id: str
    previous_item_id: str | None
    persona: str  # who speaks first
    modalities: tuple[str, ...]
    reason: str = "default"


@dataclass(frozen=True, slots=True)
class PersonaChanged:
    """From here on in the response, `persona` speaks (escalation, handoff, failover)."""

    response_id: str
    persona: str
    reason: str
    cue: str | None = None


@dataclass(frozen=True, slots=True)
class AudioOut:
    """Paced audio on its way to the client, with the viseme cues that belong to it."""

    response_id: str
    item_id: str
    pcm: bytes  # PCM16 mono at the session's output rate
    offset_ms: float  # from the start of this response's audio
    cues: tuple[VisemeCue, ...] = ()


@dataclass(frozen=True, slots=True)
class TextOut:
    """Reply text: the transcript of audio about to play, or the text itself (text-only)."""

    response_id: str
    item_id: str
    delta: str


@dataclass(frozen=True, slots=True)
class ResponseDone:
    response_id: str
    item_id: str
    status: ResponseStatus
    text: str  # what the user got (heard, when spoken)
    reason: str | None = None
    modalities: tuple[str, ...] = ("audio",)
    output_tokens: int = 0
    input_tokens: int = 0
    persona: str = ""


@dataclass(frozen=True, slots=True)
class TurnMetrics:
    response_id: str
    metrics_ms: dict[str, float | None] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class ErrorRaised:
    code: str
    message: str
    event_id: str | None = None
    param: str | None = None
    type: str = "invalid_request_error"


SessionEvent = (
    SessionStarted
    | SessionUpdated
    | StateChanged
    | SpeechStarted
    | SpeechStopped
    | InputCommitted
    | InputCleared
    | ItemAdded
    | TranscriptionDelta
    | TranscriptionCompleted
    | TranscriptionFailed
    | ItemTruncated
    | ItemDeleted
    | ResponseStarted
    | PersonaChanged
    | AudioOut
    | TextOut
    | ResponseDone
    | TurnMetrics
    | ErrorRaised
)
