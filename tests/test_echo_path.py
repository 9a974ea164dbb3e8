"""Whether the microphone hears our replies (`engines.echo.EchoPath.echo_heard`), on
synthetic rooms: an echo is learnt from the reply's rhythm, a user talking over the reply
never unlearns it, and a microphone that stays quiet while the reply plays has no echo."""

from __future__ import annotations

import numpy as np

from zenglow.engines.echo import EchoPath
from zenglow.speech.echo import PlayedAudio

RATE = 16000
CHUNK = RATE // 25  # 40 ms, as clients stream


def syllables(seconds: float, seed: int, level: float = 0.3) -> np.ndarray:
    """Noise under a speech-like envelope: bursts of 80 to 300 ms with gaps between."""
    rng = np.random.default_rng(seed)
    out = np.zeros(int(seconds * RATE), np.float32)
    at = 0
    while at < len(out):
        n = int(rng.uniform(0.08, 0.3) * RATE)
        out[at : at + n] = rng.standard_normal(len(out[at : at + n])) * level
        at += n + int(rng.uniform(0.05, 0.25) * RATE)
    return out


def run(path: EchoPath, far: np.ndarray, near: np.ndarray) -> list[bool]:
    """Feeds the two streams chunk by chunk; the verdict after each chunk."""
    verdicts = []
    for a in range(0, len(near) - CHUNK + 1, CHUNK):
        path.cancel(near[a : a + CHUNK], far[a : a + CHUNK])
        verdicts.append(path.echo_heard())
    return verdicts


def path() -> EchoPath:
    return EchoPath(PlayedAudio(RATE), RATE, clock=lambda: 0.0)


def room(far: np.ndarray, gain: float, delay_s: float = 0.1) -> np.ndarray:
    d = int(delay_s * RATE)
    return np.concatenate([np.zeros(d, np.float32), far[: len(far) - d]]) * gain


def test_an_echo_is_learnt_and_double_talk_does_not_unlearn_it():
    floor = np.random.default_rng(9).standard_normal(int(10 * RATE)).astype(np.float32) * 1e-3
    reply = syllables(10, seed=1)
    user = np.concatenate([np.zeros(4 * RATE, np.float32), syllables(6, seed=2, level=0.4)])
    mic = room(reply, 0.5) + floor + user
    verdicts = run(path(), reply, mic)
    learnt = verdicts.index(True)
    assert learnt < 4 * RATE // CHUNK  # before the user spoke
    assert all(verdicts[learnt:])  # six seconds of double talk later, still an echo


def test_a_microphone_quiet_while_the_reply_plays_hears_no_echo():
    floor = np.random.default_rng(9).standard_normal(int(8 * RATE)).astype(np.float32) * 1e-3
    question = np.concatenate([syllables(2, seed=3), np.zeros(6 * RATE, np.float32)])
    reply = np.concatenate([np.zeros(2 * RATE, np.float32), syllables(6, seed=4)])
    p = path()
    verdicts = run(p, reply, floor + question)  # a client that cancels its own echo
    assert not any(verdicts)
    assert p.is_echo(int(6 * RATE)) is False  # so speech over the reply interrupts at once


def test_no_verdict_without_the_microphones_floor():
    # the reply plays from the first chunk: no telling the room's floor from a quiet echo
    reply = syllables(4, seed=5)
    floor = np.random.default_rng(9).standard_normal(len(reply)).astype(np.float32) * 1e-3
    p = path()
    assert not any(run(p, reply, floor))
    assert p.is_echo(int(3 * RATE)) is None  # the words decide


def test_a_voice_over_the_echo_is_told_from_the_echo_by_its_level():
    # a user as loud as the reply itself talks over its echo (half as loud) from 5 s on:
    # a third of a second of that is a voice, before the canceller or Whisper could say
    floor = np.random.default_rng(9).standard_normal(int(8 * RATE)).astype(np.float32) * 1e-3
    reply = syllables(8, seed=6)
    echo = room(reply, 0.5) + floor
    user = np.concatenate([np.zeros(5 * RATE, np.float32), syllables(3, seed=7)])
    onset, heard = 5 * RATE, int(5.32 * RATE)
    alone, over = path(), path()
    run(alone, reply[:heard], echo[:heard])
    run(over, reply[:heard], (echo + user)[:heard])
    assert alone.echo_heard() and over.echo_heard()
    assert alone.is_echo(onset) is True  # only our echo came back: the reply goes on
    assert over.is_echo(onset) is False  # someone spoke over it: it stops at once


def test_a_voice_is_heard_by_its_level_a_tenth_of_a_second_in_and_the_echo_never_is():
    # what the listener asks on every batch while a reply plays, before the VAD's onset
    floor = np.random.default_rng(9).standard_normal(int(8 * RATE)).astype(np.float32) * 1e-3
    reply = syllables(8, seed=6)
    echo = room(reply, 0.5) + floor
    user = np.concatenate([np.zeros(5 * RATE, np.float32), syllables(3, seed=7)])
    alone = path()
    at = int(2 * RATE)  # the room's gain is learnt by then
    run(alone, reply[:at], echo[:at])
    while at + CHUNK <= len(echo):  # the echo alone, a tenth of a second at a time
        alone.cancel(echo[at : at + CHUNK], reply[at : at + CHUNK])
        at += CHUNK
        assert not alone.voice_by_level(at - RATE // 10), f"echo taken for a voice at {at}"
    over = path()
    run(over, reply[: int(5.12 * RATE)], (echo + user)[: int(5.12 * RATE)])
    assert over.voice_by_level(int(5.02 * RATE))
