"""What a Session tells its transport: small frozen facts, in the order they happened.

Transports translate these to their wire protocol (see `transports/realtime/encoder.py`);
the session never sees JSON.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

from ..engines.base import VisemeCue
from ..engines.budget import AUTO, Truncation
from ..knowledge.documents import Passage
from ..speech import vad
from ..tools.specs import ToolSpec

State = Literal["listening", "user_speaking", "thinking", "working", "speaking", "interrupted"]
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
    tools: tuple[ToolSpec, ...] = ()  # the client's functions (they run at the client)
    tool_choice: str = "auto"  # auto, none, required, or a function's name
    truncation: Truncation = AUTO  # what is dropped when the history outgrows the context
    # what the latest update asked for that this session does not do (wire paths)
    ignored: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class Item:
    id: str
    role: Role
    text: str
    kind: Literal["audio", "text", "function_call", "function_call_output"] = "text"
    status: Literal["completed", "incomplete", "in_progress"] = "completed"
    persona: str | None = None
    call_id: str | None = None  # function calls and their outputs (text: arguments | output)
    name: str | None = None  # the function a call names


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
    message: bool = True  # False: the reply's message item is announced when it starts


@dataclass(frozen=True, slots=True)
class MessageStarted:
    """The reply's message item starts, after the function calls before it."""

    response_id: str
    item_id: str
    previous_item_id: str | None
    output_index: int


@dataclass(frozen=True, slots=True)
class FunctionCallAdded:
    """The model calls a client's function: the item, its arguments still to come."""

    response_id: str
    item: Item
    previous_item_id: str | None
    output_index: int


@dataclass(frozen=True, slots=True)
class FunctionCallDone:
    """The call's arguments (`item.text`) are complete."""

    response_id: str
    item: Item
    output_index: int


@dataclass(frozen=True, slots=True)
class ToolRan:
    """A server-side tool started (`status` running) or ended (completed or failed)."""

    response_id: str
    call_id: str
    name: str
    status: Literal["running", "completed", "failed"]
    output: str | None = None


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
class SourcesCited:
    """The sentence about to play (from `audio_offset_ms` of the response's audio; None in a
    text-only reply) names or draws on these passages of the user's documents."""

    response_id: str
    item_id: str
    audio_offset_ms: float | None
    text: str  # the sentence: a key point of its sources
    sources: tuple[Passage, ...]


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
    calls: tuple[Item, ...] = ()  # the client function calls, in output order first
    message: bool = True  # whether the response has a message item (after the calls)


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


@dataclass(frozen=True, slots=True)
class ConversationOpened:
    """The session belongs to conversation `id`: a new one, or one resumed with `items`."""

    id: str
    resumed: bool
    items: int


@dataclass(frozen=True, slots=True)
class ItemRestored:
    """An item of a resumed conversation, told again so that the client can show it."""

    item: Item
    previous_item_id: str | None


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
    | MessageStarted
    | FunctionCallAdded
    | FunctionCallDone
    | ToolRan
    | AudioOut
    | TextOut
    | SourcesCited
    | ResponseDone
    | TurnMetrics
    | ErrorRaised
    | ConversationOpened
    | ItemRestored
)
