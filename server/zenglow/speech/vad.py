"""TurnDetector: when a user starts and stops talking, from per-frame speech probabilities.

A pure state machine over audio time: feed it one `update` per VAD frame and read the events
back.  Time is counted from the audio fed (in whole microseconds, so sums do not drift), never
from a wall clock.

Each frame is first classified as voiced or not with hysteresis: speech switches on at
`threshold` and off only below `neg_threshold`.  Then:

    idle --(voiced for min_speech_s)--> speaking          SpeechStarted (backdated)
    speaking --(first unvoiced frame)--> paused            SilenceStarted
    paused --(voiced)--> speaking                          SpeechResumed
    paused --(unvoiced for silence_s)--> idle              SpeechStopped
    speaking|paused --(turn reaches max_turn_s)--> idle    SpeechStopped(forced=True)

In semantic mode a pause is judged instead of timed: once it has lasted `judge_after_s`,
`verdict_due` asks the caller whether the turn sounds finished (a turn-end model hears the
audio so far) and `judge()` takes the answer.  Finished: the turn ends at once.  Not
finished, or no answer: it ends only after `max_silence_s`, so a speaker who pauses mid
sentence ("a table for... um... four") is not cut off.

In strict mode (while a reply is playing, where an interruption should be told from noise)
the onset needs `strict_threshold` and `strict_min_speech_s`; a turn under way is unaffected.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from enum import Enum


@dataclass(frozen=True, slots=True)
class TurnConfig:
    threshold: float = 0.5  # speech probability at which a frame becomes voiced
    neg_threshold: float | None = None  # below this it stops being voiced; None = threshold-0.15
    min_speech_s: float = 0.25  # voiced time before a turn starts
    silence_s: float = 0.6  # unvoiced time that ends a turn
    prefix_padding_s: float = 0.3  # audio kept before the speech onset
    max_turn_s: float = 30.0  # a turn is cut here even if the speaker goes on
    strict_threshold: float = 0.8  # onset threshold in strict mode
    strict_min_speech_s: float = 0.5  # onset time in strict mode
    semantic: bool = False  # pauses are judged by a turn-end model, not only timed
    judge_after_s: float = 0.2  # semantic: pause after which the turn's end is judged
    max_silence_s: float = 2.0  # semantic: a turn judged unfinished ends after this pause
    finished_threshold: float = 0.5  # semantic: turn-end probability that counts as finished

    def __post_init__(self) -> None:
        if not 0.0 < self.threshold <= 1.0:
            raise ValueError(f"threshold must be in (0, 1], got {self.threshold}")
        if not 0.0 <= self.off_threshold <= self.threshold:
            raise ValueError(f"neg_threshold must be in [0, threshold], got {self.off_threshold}")
        if not self.threshold <= self.strict_threshold <= 1.0:
            raise ValueError(
                f"strict_threshold must be in [threshold, 1], got {self.strict_threshold}"
            )
        names = ("min_speech_s", "silence_s", "strict_min_speech_s", "judge_after_s")
        for name in names:
            if getattr(self, name) <= 0:
                raise ValueError(f"{name} must be positive, got {getattr(self, name)}")
        if self.prefix_padding_s < 0:
            raise ValueError(f"prefix_padding_s must not be negative, got {self.prefix_padding_s}")
        if self.max_silence_s < self.judge_after_s:
            raise ValueError("max_silence_s must not be shorter than judge_after_s")
        if self.max_turn_s <= max(self.min_speech_s, self.strict_min_speech_s):
            raise ValueError("max_turn_s must be longer than the minimum speech time")

    @property
    def off_threshold(self) -> float:
        """The effective `neg_threshold`."""
        if self.neg_threshold is None:
            return max(self.threshold - 0.15, 0.0)
        return self.neg_threshold


# semantic_vad's eagerness -> (finished_threshold, max_silence_s): an eager detector takes
# a less certain "finished" and waits less for an unfinished turn; "auto" is "medium".
EAGERNESS: dict[str, tuple[float, float]] = {
    "low": (0.7, 3.0),
    "medium": (0.5, 2.0),
    "high": (0.3, 1.2),
    "auto": (0.5, 2.0),
}


@dataclass(frozen=True, slots=True)
class SpeechStarted:
    at_s: float  # where the speech began (backdated to the start of the onset)
    audio_start_s: float  # at_s less the prefix padding: where the turn's audio begins


@dataclass(frozen=True, slots=True)
class SilenceStarted:
    at_s: float  # first unvoiced frame of a pause; the turn may be over


@dataclass(frozen=True, slots=True)
class SpeechResumed:
    at_s: float  # the pause was only a pause: the turn goes on


@dataclass(frozen=True, slots=True)
class SpeechStopped:
    at_s: float  # where the final silence began (where it was cut, if forced)
    forced: bool = False  # True when max_turn_s ended the turn


TurnEvent = SpeechStarted | SilenceStarted | SpeechResumed | SpeechStopped


class _State(Enum):
    IDLE = "idle"
    SPEAKING = "speaking"
    PAUSED = "paused"


def _us(seconds: float) -> int:
    return round(seconds * 1_000_000)


def _s(us: int) -> float:
    return us / 1_000_000


class TurnDetector:
    """Feed `update(probability, frame_seconds)` once per VAD frame; it returns the events."""

    def __init__(self, config: TurnConfig | None = None) -> None:
        self.reconfigure(config or TurnConfig())
        self._now = 0  # audio fed so far, microseconds
        self._strict = False
        self.reset()

    def reconfigure(self, config: TurnConfig) -> None:
        """Apply new settings (a client's session.update); a turn under way carries on."""
        self.config = c = config
        self._min_speech = _us(c.min_speech_s)
        self._strict_min_speech = _us(c.strict_min_speech_s)
        self._silence = _us(c.max_silence_s if c.semantic else c.silence_s)
        self._judge_after = _us(c.judge_after_s) if c.semantic else None
        self._max_turn = _us(c.max_turn_s)
        self._padding = _us(c.prefix_padding_s)
        self._gap = c.threshold - c.off_threshold  # hysteresis width, kept in strict mode

    def reset(self) -> None:
        """Forget any speech in progress (no event is emitted); the audio clock keeps counting."""
        self._state = _State.IDLE
        self._voiced = False
        self._onset: int | None = None  # start of the current voiced run while idle
        self._turn_start = 0
        self._silence_start = 0
        self._verdict: bool | None = None  # semantic: the current pause's judgement

    @property
    def audio_seconds(self) -> float:
        """Total audio fed, in seconds."""
        return _s(self._now)

    @property
    def in_speech(self) -> bool:
        """True from SpeechStarted until SpeechStopped (pauses included)."""
        return self._state is not _State.IDLE

    @property
    def in_pause(self) -> bool:
        """True between SilenceStarted and SpeechResumed or SpeechStopped."""
        return self._state is _State.PAUSED

    @property
    def verdict_due(self) -> bool:
        """Semantic mode: the pause is long enough to judge and has not been judged yet."""
        return (
            self._judge_after is not None
            and self._state is _State.PAUSED
            and self._verdict is None
            and self._now - self._silence_start >= self._judge_after
        )

    @property
    def turn_audio_start_s(self) -> float | None:
        """Where the current turn's audio begins (prefix padding included), while in one."""
        if self._state is _State.IDLE:
            return None
        return _s(max(self._turn_start - self._padding, 0))

    @property
    def pause_start_s(self) -> float | None:
        """Where the current pause began, while there is one."""
        return _s(self._silence_start) if self._state is _State.PAUSED else None

    def judge(self, finished: bool) -> list[TurnEvent]:
        """The verdict on the current pause: finished ends the turn now (SpeechStopped at
        the pause's start); unfinished lets it run to `max_silence_s`.  Ignored when there
        is no pause to judge (the speaker went on meanwhile)."""
        if self._judge_after is None or self._state is not _State.PAUSED:
            return []
        if self._verdict is not None:
            return []
        self._verdict = finished
        if not finished:
            return []
        stopped = SpeechStopped(_s(self._silence_start))
        self._end_turn()
        return [stopped]

    @property
    def strict(self) -> bool:
        return self._strict

    def set_strict(self, strict: bool) -> None:
        """Require stronger evidence (`strict_threshold`, `strict_min_speech_s`) for an onset.

        A change while idle drops any onset in progress, so it is judged by one rule only.
        """
        if strict != self._strict and self._state is _State.IDLE:
            self._voiced = False
            self._onset = None
        self._strict = strict

    def update(self, probability: float, frame_seconds: float) -> list[TurnEvent]:
        """One VAD frame: its speech probability and its length in seconds."""
        step = _us(frame_seconds)
        if step <= 0:
            raise ValueError(f"frame_seconds must be at least a microsecond, got {frame_seconds}")
        start = self._now
        self._now = end = start + step
        voiced = self._classify(probability)
        events: list[TurnEvent] = []
        if self._state is _State.IDLE:
            self._idle(voiced, start, end, events)
        elif self._state is _State.SPEAKING:
            if not voiced:
                self._state = _State.PAUSED
                self._silence_start = start
                self._verdict = None
                events.append(SilenceStarted(_s(start)))
        elif voiced:
            self._state = _State.SPEAKING
            events.append(SpeechResumed(_s(start)))
        if self._state is _State.PAUSED and end - self._silence_start >= self._silence:
            events.append(SpeechStopped(_s(self._silence_start)))
            self._end_turn()
        elif self.in_speech and end - self._turn_start >= self._max_turn:
            paused = self._state is _State.PAUSED
            events.append(SpeechStopped(_s(self._silence_start if paused else end), forced=True))
            self._end_turn()
        return events

    def update_many(self, probabilities: Iterable[float], frame_seconds: float) -> list[TurnEvent]:
        """`update` for consecutive frames of the same length; the events of all of them."""
        events: list[TurnEvent] = []
        for p in probabilities:
            events.extend(self.update(p, frame_seconds))
        return events

    def _classify(self, probability: float) -> bool:
        c = self.config
        on = c.strict_threshold if self._strict and self._state is _State.IDLE else c.threshold
        off = max(on - self._gap, 0.0)
        self._voiced = probability >= (off if self._voiced else on)
        return self._voiced

    def _idle(self, voiced: bool, start: int, end: int, events: list[TurnEvent]) -> None:
        if not voiced:
            self._onset = None
            return
        if self._onset is None:
            self._onset = start
        needed = self._strict_min_speech if self._strict else self._min_speech
        if end - self._onset >= needed:
            self._state = _State.SPEAKING
            self._turn_start = self._onset
            self._onset = None
            events.append(
                SpeechStarted(_s(self._turn_start), _s(max(self._turn_start - self._padding, 0)))
            )

    def _end_turn(self) -> None:
        self._state = _State.IDLE
        self._onset = None
