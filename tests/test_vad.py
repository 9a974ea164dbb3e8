"""TurnDetector: a pure state machine over (audio seconds, speech probability)."""

from __future__ import annotations

import random

import numpy as np
import pytest

from tests.speech import clip
from zenglow.engines.silero import SileroVAD, shared_model
from zenglow.speech.audio import read_audio
from zenglow.speech.vad import (
    SilenceStarted,
    SpeechResumed,
    SpeechStarted,
    SpeechStopped,
    TurnConfig,
    TurnDetector,
    TurnEvent,
)

F = 0.032  # a Silero frame: 512 samples at 16 kHz
HI, LO, MID = 0.9, 0.05, 0.42  # voiced, silent, inside the hysteresis band (0.35-0.5)


def feed(det: TurnDetector, probs: list[float], frame_s: float = F) -> list[TurnEvent]:
    return det.update_many(probs, frame_s)


def kinds(events: list[TurnEvent]) -> list[str]:
    return [type(e).__name__ for e in events]


def frames(seconds: float, frame_s: float = F) -> int:
    return round(seconds / frame_s)


def assert_valid(events: list[TurnEvent]) -> None:
    """Events form turns: Started (Silence Resumed)* [Silence] Stopped, times never go back."""
    state = "idle"
    allowed = {
        ("idle", SpeechStarted): "speaking",
        ("speaking", SilenceStarted): "paused",
        ("speaking", SpeechStopped): "idle",  # only when forced by max_turn_s
        ("paused", SpeechResumed): "speaking",
        ("paused", SpeechStopped): "idle",
    }
    last = 0.0
    for e in events:
        key = (state, type(e))
        assert key in allowed, f"{type(e).__name__} while {state}: {kinds(events)}"
        if key == ("speaking", SpeechStopped):
            assert isinstance(e, SpeechStopped) and e.forced
        assert e.at_s >= last - 1e-9, events
        last = e.at_s
        state = allowed[key]


# --- onset ---------------------------------------------------------------------------


def test_silence_produces_nothing() -> None:
    det = TurnDetector()
    assert feed(det, [LO] * frames(10.0)) == []
    assert not det.in_speech
    assert det.audio_seconds == pytest.approx(frames(10.0) * F)


def test_onset_needs_min_speech_and_is_backdated() -> None:
    det = TurnDetector(TurnConfig(min_speech_s=0.25, prefix_padding_s=0.3))
    assert feed(det, [LO] * 25) == []  # 0.8 s of silence
    needed = 8  # ceil(0.25 / 0.032)
    assert feed(det, [HI] * (needed - 1)) == []
    assert not det.in_speech
    events = feed(det, [HI])
    assert events == [SpeechStarted(at_s=pytest.approx(0.8), audio_start_s=pytest.approx(0.5))]
    assert det.in_speech


def test_prefix_padding_is_clipped_at_the_start_of_the_audio() -> None:
    det = TurnDetector(TurnConfig(prefix_padding_s=0.3))
    (started,) = feed(det, [LO, HI] + [HI] * 8)
    assert started == SpeechStarted(at_s=pytest.approx(F), audio_start_s=0.0)


@pytest.mark.parametrize("blip_frames", [1, 3, 7])
def test_brief_blips_do_not_start_a_turn(blip_frames: int) -> None:
    det = TurnDetector()
    probs = ([HI] * blip_frames + [LO] * 10) * 20
    assert feed(det, probs) == []
    assert not det.in_speech


def test_blips_do_not_add_up_across_silence() -> None:
    det = TurnDetector(TurnConfig(min_speech_s=0.25))
    assert feed(det, [HI] * 5 + [LO] + [HI] * 5) == []


# --- pauses and end of turn ----------------------------------------------------------


def test_short_pause_is_silence_then_resumed() -> None:
    det = TurnDetector(TurnConfig(silence_s=0.6))
    feed(det, [HI] * 20)
    events = feed(det, [LO] * frames(0.4))
    assert events == [SilenceStarted(at_s=pytest.approx(20 * F))]
    assert det.in_speech and det.in_pause
    events = feed(det, [HI] * 5)
    assert events == [SpeechResumed(at_s=pytest.approx((20 + frames(0.4)) * F))]
    assert det.in_speech and not det.in_pause


def test_reconfigure_applies_to_the_turn_under_way() -> None:
    det = TurnDetector(TurnConfig(silence_s=1.0))
    feed(det, [HI] * 20)
    feed(det, [LO] * frames(0.4))
    det.reconfigure(TurnConfig(silence_s=0.5))
    events = feed(det, [LO] * frames(0.2))
    assert kinds(events) == ["SpeechStopped"]  # 0.6 s of pause > the new 0.5 s
    det.reconfigure(TurnConfig(min_speech_s=1.0))
    assert feed(det, [HI] * frames(0.5)) == []  # the new onset time applies too


def test_full_turn_sequence() -> None:
    det = TurnDetector()
    probs = [LO] * 10 + [HI] * 30 + [LO] * 8 + [HI] * 30 + [LO] * 40
    events = feed(det, probs)
    assert kinds(events) == [
        "SpeechStarted",
        "SilenceStarted",
        "SpeechResumed",
        "SilenceStarted",
        "SpeechStopped",
    ]
    assert events[0].at_s == pytest.approx(10 * F)
    assert events[-1] == SpeechStopped(at_s=pytest.approx(78 * F))
    assert not det.in_speech


@pytest.mark.parametrize("frame_s", [0.01, 0.02, 0.032, 0.03, 0.064])
@pytest.mark.parametrize("silence_s", [0.3, 0.6, 1.0])
def test_end_of_turn_after_silence_s_within_one_frame(frame_s: float, silence_s: float) -> None:
    det = TurnDetector(TurnConfig(silence_s=silence_s, min_speech_s=0.1))
    feed(det, [HI] * frames(0.5, frame_s), frame_s)
    stopped_at = None
    silence_from = det.audio_seconds
    for _ in range(frames(3.0, frame_s)):
        events = det.update(LO, frame_s)
        if events and isinstance(events[-1], SpeechStopped):
            stopped_at = det.audio_seconds
            assert events[-1].at_s == pytest.approx(silence_from)
            break
    assert stopped_at is not None
    waited = stopped_at - silence_from
    assert silence_s - 1e-9 <= waited < silence_s + frame_s


def test_silence_exactly_one_frame_short_does_not_end_the_turn() -> None:
    det = TurnDetector(TurnConfig(silence_s=0.32))  # exactly 10 frames of 32 ms
    feed(det, [HI] * 20)
    assert kinds(feed(det, [LO] * 9)) == ["SilenceStarted"]
    assert kinds(feed(det, [HI])) == ["SpeechResumed"]
    feed(det, [LO] * 9)
    assert kinds(feed(det, [LO])) == ["SpeechStopped"]


def test_silence_shorter_than_a_frame_ends_in_the_same_frame() -> None:
    det = TurnDetector(TurnConfig(silence_s=0.01, min_speech_s=0.05))
    feed(det, [HI] * 5)
    assert kinds(det.update(LO, F)) == ["SilenceStarted", "SpeechStopped"]


def test_a_new_turn_can_follow() -> None:
    det = TurnDetector()
    events = feed(det, ([HI] * 20 + [LO] * 30) * 3)
    assert kinds(events) == ["SpeechStarted", "SilenceStarted", "SpeechStopped"] * 3
    assert_valid(events)


# --- max turn ------------------------------------------------------------------------


def test_run_on_speech_is_cut_at_max_turn() -> None:
    det = TurnDetector(TurnConfig(max_turn_s=2.0, min_speech_s=0.25))
    events = feed(det, [LO] * 5 + [HI] * frames(5.0))
    assert_valid(events)
    first_start, first_stop = events[0], events[1]
    assert isinstance(first_start, SpeechStarted) and isinstance(first_stop, SpeechStopped)
    assert first_stop.forced
    assert first_stop.at_s - first_start.at_s == pytest.approx(2.0, abs=F)
    # speech that goes on starts a new turn right after the cut
    assert isinstance(events[2], SpeechStarted)
    assert events[2].at_s == pytest.approx(first_stop.at_s)


def test_max_turn_during_a_pause_stops_where_the_silence_began() -> None:
    det = TurnDetector(TurnConfig(max_turn_s=1.0, silence_s=0.6))
    feed(det, [HI] * 25)  # 0.8 s
    events = feed(det, [LO] * 10)
    assert kinds(events) == ["SilenceStarted", "SpeechStopped"]
    assert events[1] == SpeechStopped(at_s=pytest.approx(25 * F), forced=True)


# --- hysteresis ----------------------------------------------------------------------


def test_band_probabilities_keep_speech_going() -> None:
    det = TurnDetector(TurnConfig(threshold=0.5))  # off below 0.35
    feed(det, [HI] * 20)
    assert feed(det, [MID] * 100) == []
    assert det.in_speech and not det.in_pause
    assert kinds(feed(det, [0.3])) == ["SilenceStarted"]


def test_band_probabilities_do_not_start_speech() -> None:
    det = TurnDetector()
    assert feed(det, [MID] * 100) == []


def test_once_silent_the_band_does_not_resume() -> None:
    det = TurnDetector()
    feed(det, [HI] * 20 + [LO])
    assert kinds(feed(det, [MID] * 30)) == ["SpeechStopped"]


def test_explicit_neg_threshold() -> None:
    det = TurnDetector(TurnConfig(threshold=0.6, neg_threshold=0.55))
    feed(det, [HI] * 20)
    assert kinds(feed(det, [0.54])) == ["SilenceStarted"]


def test_bad_config_is_refused() -> None:
    with pytest.raises(ValueError):
        TurnConfig(threshold=0.5, neg_threshold=0.7)
    with pytest.raises(ValueError):
        TurnConfig(silence_s=0)
    with pytest.raises(ValueError):
        TurnConfig(strict_threshold=0.4)
    with pytest.raises(ValueError):
        TurnConfig(max_turn_s=0.2)
    with pytest.raises(ValueError):
        TurnDetector().update(0.9, 0.0)


# --- strict mode ---------------------------------------------------------------------


def test_strict_onset_needs_higher_probability() -> None:
    det = TurnDetector(TurnConfig(strict_threshold=0.8, strict_min_speech_s=0.5))
    det.set_strict(True)
    assert feed(det, [0.7] * 100) == []  # would start a turn in normal mode
    assert not det.in_speech


def test_strict_onset_needs_longer_speech() -> None:
    det = TurnDetector(TurnConfig(strict_threshold=0.8, strict_min_speech_s=0.5))
    det.set_strict(True)
    assert feed(det, [0.95] * 15 + [LO] * 10) == []  # 0.48 s: enough normally, not strict
    events = feed(det, [0.95] * 16)
    assert events == [
        SpeechStarted(at_s=pytest.approx(25 * F), audio_start_s=pytest.approx(25 * F - 0.3))
    ]


def test_strict_mode_does_not_touch_a_turn_under_way() -> None:
    det = TurnDetector()
    feed(det, [HI] * 20)
    det.set_strict(True)
    assert feed(det, [0.6] * 30) == []  # normal thresholds keep the turn going
    assert kinds(feed(det, [LO] * 30)) == ["SilenceStarted", "SpeechStopped"]
    assert feed(det, [0.7] * 50) == []  # the next onset is judged strictly


def test_leaving_strict_mode_restores_normal_onset() -> None:
    det = TurnDetector()
    det.set_strict(True)
    assert feed(det, [0.7] * 50) == []
    det.set_strict(False)
    assert det.strict is False
    assert kinds(feed(det, [0.7] * 8)) == ["SpeechStarted"]


# --- reset and the clock -------------------------------------------------------------


def test_reset_forgets_the_turn_but_keeps_the_clock() -> None:
    det = TurnDetector()
    feed(det, [HI] * 20)
    det.reset()
    assert not det.in_speech
    assert det.audio_seconds == pytest.approx(20 * F)
    assert feed(det, [LO] * 50) == []
    (started,) = feed(det, [HI] * 8)
    assert started.at_s == pytest.approx(70 * F)


def test_clock_does_not_drift() -> None:
    det = TurnDetector()
    feed(det, [LO] * 100_000, 0.01)
    assert det.audio_seconds == 1000.0


# --- every sequence is valid ---------------------------------------------------------


@pytest.mark.parametrize("seed", range(40))
def test_random_probabilities_give_valid_event_sequences(seed: int) -> None:
    rng = random.Random(seed)
    config = TurnConfig(
        threshold=rng.uniform(0.3, 0.7),
        min_speech_s=rng.choice([0.03, 0.1, 0.25]),
        silence_s=rng.choice([0.03, 0.2, 0.6]),
        max_turn_s=rng.choice([0.5, 2.0, 30.0]),
        strict_min_speech_s=rng.choice([0.05, 0.3]),
    )
    det = TurnDetector(config)
    frame_s = rng.choice([0.01, 0.02, 0.032])
    events: list[TurnEvent] = []
    p = 0.0
    for _ in range(3000):
        if rng.random() < 0.1:
            det.set_strict(rng.random() < 0.3)
        # sticky random walk, so real turns and pauses happen as well as noise
        p = min(1.0, max(0.0, p + rng.uniform(-0.4, 0.4))) if rng.random() < 0.3 else p
        new = det.update(p, frame_s)
        events.extend(new)
        assert_valid(events)
        assert det.in_speech == (
            type(events[-1]) in (SpeechStarted, SilenceStarted, SpeechResumed) if events else False
        )
        for e in new:
            assert e.at_s <= det.audio_seconds + 1e-9
    assert any(isinstance(e, SpeechStopped) for e in events)


# --- with real speech and the real model ---------------------------------------------


def test_real_speech_makes_one_turn() -> None:
    audio = read_audio(clip("a04").path, 16000)  # speech from about 0.45 s to the end
    audio = np.concatenate([audio, np.zeros(16000, dtype=np.float32)])
    vad = SileroVAD(shared_model())
    det = TurnDetector()
    events: list[TurnEvent] = []
    for i in range(0, len(audio), 1600):  # 100 ms pieces, as a client would send them
        for p in vad.process(audio[i : i + 1600]):
            events.extend(det.update(p, vad.frame_samples / vad.sample_rate))
    assert_valid(events)
    started = [e for e in events if isinstance(e, SpeechStarted)]
    stopped = [e for e in events if isinstance(e, SpeechStopped)]
    assert len(started) == 1 and len(stopped) == 1, kinds(events)
    assert isinstance(events[0], SpeechStarted) and isinstance(events[-1], SpeechStopped)
    assert 0.3 <= started[0].at_s <= 0.7
    assert not stopped[0].forced
    assert 4.5 <= stopped[0].at_s <= 5.0
    assert det.audio_seconds == pytest.approx(len(audio) // 512 * 512 / 16000)


# --- semantic mode: pauses judged by a turn-end model --------------------------------


def semantic(**kw: float) -> TurnDetector:
    return TurnDetector(TurnConfig(semantic=True, judge_after_s=0.2, max_silence_s=2.0, **kw))


def test_semantic_pause_is_judged_once_after_judge_after_s() -> None:
    det = semantic()
    assert kinds(feed(det, [HI] * 20 + [LO] * 6)) == ["SpeechStarted", "SilenceStarted"]
    assert not det.verdict_due  # 0.19 s of silence
    feed(det, [LO])
    assert det.verdict_due
    assert det.pause_start_s == pytest.approx(20 * F)
    assert det.judge(False) == []
    assert not det.verdict_due  # judged: not asked again for this pause


def test_semantic_finished_ends_the_turn_at_the_pause() -> None:
    det = semantic()
    feed(det, [HI] * 20 + [LO] * 7)
    (stopped,) = det.judge(True)
    assert stopped == SpeechStopped(at_s=pytest.approx(20 * F))
    assert not det.in_speech
    assert det.judge(True) == []  # nothing left to judge


def test_semantic_unfinished_waits_for_the_longest_silence() -> None:
    det = semantic(silence_s=0.5)
    feed(det, [HI] * 20 + [LO] * 7)
    det.judge(False)
    assert feed(det, [LO] * frames(1.0)) == []  # far past silence_s: still the same turn
    events = feed(det, [HI] * 10 + [LO] * 7)
    assert kinds(events) == ["SpeechResumed", "SilenceStarted"]
    assert det.verdict_due  # a new pause is judged afresh
    det.judge(False)
    assert kinds(feed(det, [LO] * frames(2.0))) == ["SpeechStopped"]


def test_semantic_without_a_verdict_ends_at_the_longest_silence() -> None:
    det = semantic()
    events = feed(det, [HI] * 20 + [LO] * frames(2.1))
    assert kinds(events) == ["SpeechStarted", "SilenceStarted", "SpeechStopped"]
    assert events[-1].at_s == pytest.approx(20 * F)


def test_server_vad_is_never_judged() -> None:
    det = TurnDetector(TurnConfig(silence_s=0.5))
    feed(det, [HI] * 20 + [LO] * 10)
    assert not det.verdict_due
    assert det.judge(True) == []
    assert det.in_speech
