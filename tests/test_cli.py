"""The `zenglow` console script, run as a subprocess on the embedded models."""

from __future__ import annotations

import itertools
import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from tests.speech import clip, wer
from zenglow.engines.base import VISEMES
from zenglow.speech.audio import read_audio, resample

# tiny.en transcribes the JFK clip without error; 0.15 (three of its 22 words) leaves room
# for decoding differences between CPUs and library versions, while audio decoded at a
# wrong rate or in the wrong format comes out as different words altogether.
CLIP_WER = 0.15
# Piper speech read back by tiny.en: a little looser, since synthetic prosody varies.
ROUND_TRIP_WER = 0.2
SENTENCE = (
    "The quick brown fox jumps over the lazy dog. Then it runs back home before the rain starts."
)
PIPER_RATE = 22050  # the embedded en_US-joe-medium voice


def zenglow_command() -> list[str]:
    script = Path(sys.executable).with_name("zenglow")
    return [str(script)] if script.is_file() else [sys.executable, "-m", "zenglow.cli"]


def clean_env() -> dict[str, str]:
    return {k: v for k, v in os.environ.items() if not k.upper().startswith("ZENGLOW_")}


def zenglow(*args: str | Path, timeout: float = 180) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*zenglow_command(), *map(str, args)],
        env=clean_env(),
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def ok(*args: str | Path) -> subprocess.CompletedProcess[str]:
    done = zenglow(*args)
    assert done.returncode == 0, done.stderr
    assert "Traceback" not in done.stderr
    return done


# --- transcribe -------------------------------------------------------------------------


def test_transcribe_prints_the_text() -> None:
    c = clip("a01")
    text = ok("transcribe", c.path).stdout.strip()
    assert "\n" not in text
    assert wer(c.transcript, text) <= CLIP_WER, text


def test_transcribe_json_has_segments_and_word_timings() -> None:
    c = clip("a02")
    out = json.loads(ok("transcribe", "--json", c.path).stdout)
    assert out["language"] == "en"
    assert out["duration"] == pytest.approx(c.duration, abs=0.05)
    assert wer(c.transcript, out["text"]) <= CLIP_WER, out["text"]

    segments, words = out["segments"], out["words"]
    assert segments and words
    assert wer(c.transcript, " ".join(w["text"] for w in words)) <= CLIP_WER
    for items in (segments, words):
        starts = [x["start"] for x in items]
        assert starts == sorted(starts)
        assert all(0.0 <= x["start"] <= x["end"] <= c.duration + 0.05 for x in items)
    assert all(a["end"] <= b["start"] + 1e-3 for a, b in itertools.pairwise(words))
    assert all(0.0 <= w["probability"] <= 1.0 for w in words)


@pytest.mark.parametrize(
    ("fmt", "subtype", "rate", "channels"),
    [
        ("FLAC", "PCM_16", 44100, 2),
        ("MP3", "MPEG_LAYER_III", 22050, 1),
        ("OGG", "VORBIS", 48000, 1),
    ],
    ids=["flac-44k-stereo", "mp3-22k", "ogg-vorbis-48k"],
)
def test_transcribe_reads_other_formats_and_rates(
    tmp_path: Path, fmt: str, subtype: str, rate: int, channels: int
) -> None:
    c = clip("a01")
    audio = resample(read_audio(c.path, 16000), 16000, rate)
    data = np.stack([audio] * channels, axis=1) if channels > 1 else audio
    path = tmp_path / f"clip.{fmt.lower()}"
    sf.write(path, data, rate, format=fmt, subtype=subtype)
    info = sf.info(path)
    assert (info.format, info.samplerate, info.channels) == (fmt, rate, channels)

    text = ok("transcribe", path).stdout.strip()
    assert wer(c.transcript, text) <= CLIP_WER, text


# --- say --------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def spoken(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    folder = tmp_path_factory.mktemp("say")
    wav, cues = folder / "out.wav", folder / "cues.json"
    done = ok("say", SENTENCE, "-o", wav, "--visemes", cues)
    assert done.stdout == ""  # the summary goes to stderr
    return wav, cues


def check_cues(doc: dict, wav: Path) -> None:
    info = sf.info(wav)
    duration_ms = 1000.0 * info.frames / info.samplerate
    assert doc["sample_rate"] == info.samplerate
    assert doc["duration_ms"] == pytest.approx(duration_ms, abs=1.0)
    cues = doc["cues"]
    assert len(cues) > 10
    assert cues[0]["start_ms"] == 0.0
    assert abs(cues[-1]["end_ms"] - duration_ms) <= 15.0
    for a, b in itertools.pairwise(cues):
        assert b["start_ms"] == pytest.approx(a["end_ms"], abs=0.5)  # contiguous
    assert all(c["end_ms"] > c["start_ms"] for c in cues)
    assert {c["viseme"] for c in cues} <= set(VISEMES)
    assert len({c["viseme"] for c in cues}) >= 5  # a real sentence moves the mouth


def test_say_writes_a_wav_and_contiguous_viseme_cues(spoken: tuple[Path, Path]) -> None:
    wav, cues = spoken
    info = sf.info(wav)
    assert (info.format, info.subtype, info.channels) == ("WAV", "PCM_16", 1)
    assert info.samplerate == PIPER_RATE
    assert info.duration > 0.5
    audio, _ = sf.read(wav, dtype="float32")
    assert np.sqrt(np.mean(audio**2)) > 0.01  # speech, not silence
    check_cues(json.loads(cues.read_text()), wav)


def test_say_then_transcribe_round_trips(spoken: tuple[Path, Path]) -> None:
    text = ok("transcribe", spoken[0]).stdout.strip()
    assert wer(SENTENCE, text) <= ROUND_TRIP_WER, text


def test_say_rate_changes_the_output_rate(tmp_path: Path) -> None:
    wav, cues = tmp_path / "16k.wav", tmp_path / "16k.json"
    ok("say", SENTENCE, "-o", wav, "--rate", "16000", "--visemes", cues)
    info = sf.info(wav)
    assert (info.samplerate, info.channels) == (16000, 1)
    assert info.duration > 0.5
    check_cues(json.loads(cues.read_text()), wav)


def test_say_speed_makes_it_shorter(tmp_path: Path, spoken: tuple[Path, Path]) -> None:
    fast = tmp_path / "fast.wav"
    ok("say", SENTENCE, "-o", fast, "--speed", "1.5")
    normal_s, fast_s = sf.info(spoken[0]).duration, sf.info(fast).duration
    assert 0.5 < fast_s < 0.85 * normal_s, (normal_s, fast_s)


# --- chat -------------------------------------------------------------------------------


@pytest.mark.parametrize("persona", [None, "leonardo"])
def test_chat_prints_a_reply(persona: str | None) -> None:
    args = ["chat", "Hello there"] + (["--persona", persona] if persona else [])
    lines = [line for line in ok(*args).stdout.splitlines() if line.strip()]
    assert lines, "no reply"


# --- bad input --------------------------------------------------------------------------


@pytest.fixture(scope="module")
def bad_files(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("bad")
    (folder / "notes.wav").write_text("this is not audio\n")
    (folder / "unknown-key.toml").write_text("[stt]\nbeem_size = 2\n[server]\nport = 8001\n")
    return folder


BAD_INPUT = [
    (["transcribe", "{d}/absent.wav"], "transcribe", "no such audio file"),
    (["transcribe", "{d}/notes.wav"], "transcribe", "cannot decode audio file"),
    (["say", "", "-o", "{d}/out.wav"], "say", "empty text"),
    (["say", "   ", "-o", "{d}/out.wav"], "say", "empty text"),
    (["say", "Hello.", "-o", "{d}/no/such/folder/out.wav"], "say", "no such folder"),
    (["say", "Hello.", "-o", "{d}/out.wav", "--speed", "0"], "say", "voice speed"),
    (["chat", ""], "chat", "empty text"),
    (["chat", "Hi", "--persona", "nobody"], "chat", "'nobody'; configured: jarvis, leonardo"),
    (["--config", "{d}/absent.toml", "transcribe", "{d}/notes.wav"], "transcribe", "not found"),
    (["--config", "{d}/unknown-key.toml", "say", "Hi", "-o", "{d}/o.wav"], "say", "stt.beem_size"),
    (["serve", "--certfile", "{d}/notes.wav"], "serve", "needs both --certfile and --keyfile"),
    (["serve", "--port", "70000"], "serve", "server.port"),
]


@pytest.mark.parametrize(("argv", "command", "message"), BAD_INPUT)
def test_bad_input_gives_one_clear_line(
    bad_files: Path, argv: list[str], command: str, message: str
) -> None:
    done = zenglow(*(a.format(d=bad_files) for a in argv), timeout=60)
    assert done.returncode == 2, done.stderr
    assert "Traceback" not in done.stderr
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1, done.stderr
    assert lines[0].startswith(f"zenglow {command}: ")
    assert message in lines[0]
    assert done.stdout == ""


# --- serve ------------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def get_json(url: str) -> tuple[int, dict]:
    try:
        with urllib.request.urlopen(url, timeout=5) as r:
            return r.status, json.loads(r.read())
    except urllib.error.HTTPError as e:  # 503 while warming up
        return e.code, json.loads(e.read())


def test_serve_answers_health_and_ready_then_stops(tmp_path: Path) -> None:
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    log = (tmp_path / "serve.log").open("w+")
    proc = subprocess.Popen(
        [*zenglow_command(), "serve", "--port", str(port)],
        env=clean_env(),
        stdout=log,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        deadline = time.monotonic() + 120
        ready: tuple[int, dict] | None = None
        while time.monotonic() < deadline:
            assert proc.poll() is None, (tmp_path / "serve.log").read_text()
            try:
                ready = get_json(base + "/ready")
            except (urllib.error.URLError, ConnectionError):
                ready = None  # not listening yet: the engines load first
            if ready and ready[0] == 200:
                break
            time.sleep(0.5)
        assert ready is not None and ready[0] == 200, (tmp_path / "serve.log").read_text()
        assert ready[1]["ready"] is True and ready[1]["sessions"] == 0
        status, health = get_json(base + "/health")
        assert status == 200 and health["status"] == "ok" and health["version"]
    finally:
        proc.terminate()
        try:
            code = proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
            raise
        finally:
            log.close()
    text = (tmp_path / "serve.log").read_text()
    # uvicorn shuts down gracefully on SIGTERM, then exits by re-raising the signal
    assert code in (0, -signal.SIGTERM), text
    assert "Finished server process" in text
    assert "Traceback" not in text
    assert "Application shutdown complete" in text
