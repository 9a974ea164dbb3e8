"""Silero VAD v6 over onnxruntime: real model, real speech, streaming state."""

from __future__ import annotations

import threading
from pathlib import Path

import numpy as np
import pytest

from tests.speech import clip
from zenglow.engines.base import EngineError, VoiceActivityStream
from zenglow.engines.silero import FRAME_SAMPLES, SAMPLE_RATE, SileroModel, SileroVAD, shared_model
from zenglow.speech.audio import read_audio

FRAME_S = FRAME_SAMPLES / SAMPLE_RATE


@pytest.fixture(scope="module")
def model() -> SileroModel:
    return shared_model()


@pytest.fixture(scope="module")
def horizon() -> np.ndarray:
    """Speech 0.3-2.6 s, then digital silence to 5.0 s."""
    return read_audio(clip("a09").path, SAMPLE_RATE)


@pytest.fixture(scope="module")
def hester() -> np.ndarray:
    return read_audio(clip("a04").path, SAMPLE_RATE)


def frames_between(probs: list[float], start_s: float, end_s: float) -> np.ndarray:
    """Probabilities of the frames lying wholly inside [start_s, end_s]."""
    t = np.arange(len(probs)) * FRAME_S
    inside = (t >= start_s) & (t + FRAME_S <= end_s)
    return np.asarray(probs)[inside]


def feed_in_pieces(vad: SileroVAD, audio: np.ndarray, rng: np.random.Generator) -> list[float]:
    out: list[float] = []
    i = 0
    while i < len(audio):
        n = int(rng.integers(0, 2000))
        out.extend(vad.process(audio[i : i + n]))
        i += n
    return out


def test_implements_the_protocol(model: SileroModel) -> None:
    vad: VoiceActivityStream = SileroVAD(model)
    assert vad.sample_rate == 16000
    assert vad.frame_samples == 512


def test_shared_model_is_loaded_once(model: SileroModel) -> None:
    assert shared_model() is model
    assert SileroVAD().model is model


def test_missing_model_file_is_an_engine_error(tmp_path: Path) -> None:
    with pytest.raises(EngineError, match="not found"):
        SileroModel(tmp_path / "nope.onnx")


def test_corrupt_model_file_is_an_engine_error(tmp_path: Path) -> None:
    bad = tmp_path / "bad.onnx"
    bad.write_bytes(b"this is not an onnx graph")
    with pytest.raises(EngineError, match="cannot load"):
        SileroModel(bad)


def test_speech_then_silence(model: SileroModel, horizon: np.ndarray) -> None:
    probs = SileroVAD(model).process(horizon)
    assert len(probs) == len(horizon) // FRAME_SAMPLES
    assert all(0.0 <= p <= 1.0 for p in probs)
    speech = frames_between(probs, 0.5, 2.4)
    silence = frames_between(probs, 3.0, 5.0)
    assert np.mean(speech > 0.5) >= 0.9, speech
    assert np.median(speech) > 0.8
    assert silence.max() < 0.2, silence
    # the beginning, before the speaker starts, is not speech either
    assert frames_between(probs, 0.0, 0.25).max() < 0.5


def test_digital_silence_is_not_speech(model: SileroModel) -> None:
    probs = SileroVAD(model).process(np.zeros(3 * SAMPLE_RATE, dtype=np.float32))
    assert len(probs) == 3 * SAMPLE_RATE // FRAME_SAMPLES
    assert max(probs) < 0.1


@pytest.mark.parametrize("dbfs", [-60.0, -45.0, -35.0])
def test_low_white_noise_is_not_speech(model: SileroModel, dbfs: float) -> None:
    rng = np.random.default_rng(7)
    noise = (rng.standard_normal(3 * SAMPLE_RATE) * 10 ** (dbfs / 20)).astype(np.float32)
    assert max(SileroVAD(model).process(noise)) < 0.3


def test_leftover_samples_wait_for_the_next_call(model: SileroModel) -> None:
    vad = SileroVAD(model)
    assert vad.process(np.zeros(FRAME_SAMPLES - 1, dtype=np.float32)) == []
    assert vad.pending_samples == FRAME_SAMPLES - 1
    assert len(vad.process(np.zeros(FRAME_SAMPLES + 2, dtype=np.float32))) == 2
    assert vad.pending_samples == 1
    assert vad.process(np.zeros(0, dtype=np.float32)) == []


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_chunking_does_not_change_results(
    model: SileroModel, horizon: np.ndarray, seed: int
) -> None:
    whole = SileroVAD(model).process(horizon)
    pieces = feed_in_pieces(SileroVAD(model), horizon, np.random.default_rng(seed))
    assert len(pieces) == len(whole)
    np.testing.assert_allclose(pieces, whole, rtol=0, atol=1e-6)


def test_frame_by_frame_equals_one_call(model: SileroModel, hester: np.ndarray) -> None:
    whole = SileroVAD(model).process(hester)
    vad = SileroVAD(model)
    single = [
        p
        for i in range(0, len(hester), FRAME_SAMPLES)
        for p in vad.process(hester[i : i + FRAME_SAMPLES])
    ]
    np.testing.assert_allclose(single, whole, rtol=0, atol=1e-6)


def test_streams_do_not_interfere(
    model: SileroModel, horizon: np.ndarray, hester: np.ndarray
) -> None:
    solo_a = SileroVAD(model).process(horizon)
    solo_b = SileroVAD(model).process(hester)
    a, b = SileroVAD(model), SileroVAD(model)
    got_a: list[float] = []
    got_b: list[float] = []
    step = 3000
    for i in range(0, max(len(horizon), len(hester)), step):
        got_a.extend(a.process(horizon[i : i + step]))
        got_b.extend(b.process(hester[i : i + step]))
    np.testing.assert_allclose(got_a, solo_a, rtol=0, atol=1e-6)
    np.testing.assert_allclose(got_b, solo_b, rtol=0, atol=1e-6)


def test_streams_on_threads_share_one_model(
    model: SileroModel, horizon: np.ndarray, hester: np.ndarray
) -> None:
    expected = [SileroVAD(model).process(x) for x in (horizon, hester)]
    results: dict[int, list[float]] = {}

    def work(k: int, audio: np.ndarray) -> None:
        vad = SileroVAD(model)
        results[k] = [
            p for i in range(0, len(audio), 1000) for p in vad.process(audio[i : i + 1000])
        ]

    threads = [threading.Thread(target=work, args=(k, x)) for k, x in enumerate((horizon, hester))]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    for k in (0, 1):
        np.testing.assert_allclose(results[k], expected[k], rtol=0, atol=1e-6)


def test_reset_restores_the_initial_behaviour(
    model: SileroModel, horizon: np.ndarray, hester: np.ndarray
) -> None:
    fresh = SileroVAD(model).process(horizon)
    vad = SileroVAD(model)
    vad.process(hester[: 3 * SAMPLE_RATE + 100])  # leaves state, context and 100 samples
    carried = vad.process(horizon)
    assert not np.allclose(carried[: len(fresh)], fresh, atol=1e-6)
    vad.reset()
    assert vad.pending_samples == 0
    np.testing.assert_allclose(vad.process(horizon), fresh, rtol=0, atol=1e-6)


def test_rejects_audio_it_cannot_read(model: SileroModel) -> None:
    vad = SileroVAD(model)
    with pytest.raises(ValueError, match="mono"):
        vad.process(np.zeros((2, 512), dtype=np.float32))
    with pytest.raises(ValueError, match="float"):
        vad.process(np.zeros(512, dtype=np.int16))
