"""`zenglow bench`: the pure pieces, then a real run against a real server on two clips."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from zenglow.bench import runner as bench
from zenglow.bench.client import RATE, Tracker, voiced_end
from zenglow.cli import main

from .speech import clip, wer


def _started(rid: str) -> dict[str, object]:
    return {"type": "response.created", "response": {"id": rid}}


def _metrics(rid: str) -> dict[str, object]:
    return {"type": "zenglow.turn_metrics", "response_id": rid, "metrics": {"stt_ms": 80.0}}


def test_voiced_end_trims_trailing_silence_but_not_quiet_speech() -> None:
    t = np.arange(RATE) / RATE
    loud = 0.3 * np.sin(2 * np.pi * 220 * t)
    quiet = 0.01 * np.sin(2 * np.pi * 220 * t[: RATE // 2])  # 30 dB down: still speech
    hiss = np.random.default_rng(0).normal(0, 1e-4, RATE).astype(np.float32)
    audio = np.concatenate([loud, quiet, np.zeros(RATE)]).astype(np.float32)
    assert voiced_end(audio) == int(1.5 * RATE)
    assert voiced_end(audio + np.concatenate([hiss, hiss, hiss[: RATE // 2]])) == int(1.5 * RATE)
    assert voiced_end(np.zeros(RATE, np.float32)) == RATE  # nothing voiced: the whole clip


def test_real_clip_with_trailing_digital_silence() -> None:
    from zenglow.speech.audio import read_audio

    audio = read_audio(clip("a09").path, RATE)  # speech 0.3-2.6 s, then silence to 5.0 s
    assert 2.3 < voiced_end(audio) / RATE < 2.9


def test_tracker_measures_the_reply_after_the_last_user_turn() -> None:
    track = Tracker()
    heard = "conversation.item.input_audio_transcription"
    said = "response.output_audio_transcript"
    feed = [
        (0.5, {"type": "input_audio_buffer.speech_started"}),
        (2.0, {"type": "input_audio_buffer.speech_stopped", "audio_end_ms": 1900}),
        (2.1, _started("r1")),  # a reply to the first half of a paused sentence
        (2.2, {"type": "input_audio_buffer.speech_started"}),  # the user goes on: barge-in
        (2.3, _metrics("r1")),
        (3.0, {"type": "input_audio_buffer.speech_stopped", "audio_end_ms": 2900}),
        (3.1, _started("r2")),
        (3.2, {"type": f"{heard}.completed", "transcript": " the horizon"}),
        (3.3, {"type": f"{heard}.completed", "transcript": "seems distant "}),
        (3.6, {"type": "response.output_audio.delta", "response_id": "r2", "delta": "A" * 64}),
        (3.7, {"type": "response.output_audio.delta", "response_id": "r2", "delta": "A" * 64}),
        (5.0, {"type": f"{said}.done", "response_id": "r2", "transcript": "It does."}),
        (5.0, {"type": "response.done", "response": {"id": "r2", "status": "completed"}}),
    ]
    for now, ev in feed:
        track.on_event(ev, now)
        assert not track.finished()
    track.on_event(_metrics("r2"), 5.1)
    assert track.finished()
    row = track.row(voiced_end_at=2.4, finished=True)
    assert row["ok"] and row["voice_to_voice_ms"] == pytest.approx(1200.0)
    assert row["transcript"] == "the horizon seems distant"
    assert (row["user_turns"], row["replies"], row["reply_chars"]) == (2, 2, 8)
    assert row["server"] == {"stt_ms": 80.0} and row["reply_status"] == "completed"
    assert row["server_speech_end_ms"] == 2900 and row["errors"] == []


def test_tracker_without_a_reply_is_a_failure() -> None:
    track = Tracker()
    track.on_event({"type": "input_audio_buffer.speech_started"}, 0.1)
    track.on_event({"type": "error", "error": {"message": "server busy"}}, 0.2)
    assert not track.finished()
    row = track.row(voiced_end_at=1.0, finished=False)
    assert not row["ok"] and row["voice_to_voice_ms"] is None
    assert row["errors"] == ["server busy", "no measured reply before the timeout"]


def test_summarise_median_and_p95() -> None:
    s = bench.summarise([float(v) for v in range(10, 201, 10)])
    assert (s["n"], s["median"], s["p95"]) == (20, 105.0, 190.5)
    assert bench.summarise([7.0]) == {"n": 1, "median": 7.0, "p95": 7.0}
    assert bench.summarise([])["median"] is None


def test_realtime_url_forms() -> None:
    ext = "extensions=zenglow"  # the bench reads zenglow.turn_metrics
    assert bench.realtime_url("127.0.0.1:8000") == f"ws://127.0.0.1:8000/v1/realtime?{ext}"
    assert bench.realtime_url("https://h:1/") == f"wss://h:1/v1/realtime?{ext}"
    assert bench.realtime_url("ws://h:1/v1/realtime?model=leonardo") == (
        f"ws://h:1/v1/realtime?model=leonardo&{ext}"
    )
    assert bench.realtime_url("ws://h:1/v1/realtime?extensions=zenglow&model=x") == (
        f"ws://h:1/v1/realtime?{ext}&model=x"
    )


def test_clips_from_manifest_or_wav_files(tmp_path: Path) -> None:
    (tmp_path / "b.wav").write_bytes(b"")
    (tmp_path / "a.wav").write_bytes(b"")
    assert [c.path.name for c in bench.load_clips(tmp_path)] == ["a.wav", "b.wav"]
    (tmp_path / "manifest.tsv").write_text("file\tduration_s\ttranscript\nb.wav\t1.0\tHI THERE\n")
    assert bench.load_clips(tmp_path) == [bench.Clip(tmp_path / "b.wav", "HI THERE")]


def test_missing_folder_exits_2_with_one_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    assert main(["bench", str(tmp_path / "nowhere")]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "pass a folder" in err[0]
    monkeypatch.setenv("ZENGLOW_SPEECH_DIR", str(tmp_path))  # no setA there
    assert main(["bench"]) == 2
    assert "setA" in capsys.readouterr().err


def test_bench_two_clips_against_a_real_server(tmp_path: Path) -> None:
    clips = [clip("a09"), clip("a04")]
    rows = "".join(f"{c.path}\t{c.duration}\t{c.transcript}\n" for c in clips)
    (tmp_path / "manifest.tsv").write_text(f"file\tduration_s\ttranscript\n{rows}")
    out = tmp_path / "out.json"
    cmd = [sys.executable, "-m", "zenglow.cli", "bench", str(tmp_path), "--limit", "2"]
    done = subprocess.run(
        [*cmd, "--json", str(out)], capture_output=True, text=True, timeout=500, check=False
    )
    assert done.returncode == 0, done.stdout + done.stderr
    lines = done.stdout.splitlines()
    assert any(line.startswith("median") for line in lines), done.stdout
    assert any(line.startswith("p95") for line in lines), done.stdout
    result = json.loads(out.read_text())
    assert result["count"] == result["measured"] == 2
    assert result["machine"]["cpu_count"] >= 1
    assert [r["clip"] for r in result["clips"]] == [c.path.name for c in clips]
    for row, c in zip(result["clips"], clips, strict=True):
        assert isinstance(row["voice_to_voice_ms"], float) and row["voice_to_voice_ms"] > 0
        assert wer(c.transcript, row["transcript"]) < 0.5, row["transcript"]
        assert row["reply_chars"] > 0 and row["reply_audio_s"] > 0
        assert row["server"]["voice_to_voice_ms"] > 0
    assert result["summary"]["voice_to_voice_ms"]["n"] == 2


async def test_a_session_turned_away_as_busy_is_told_apart() -> None:
    """A server at its session limit closes with 1013 ("try again later"): the bench asks
    again instead of counting the clip as failed."""
    from websockets.asyncio.server import serve

    from zenglow.bench.client import TRY_AGAIN, Busy, run_clip

    async def refuse(ws) -> None:  # type: ignore[no-untyped-def]
        await ws.close(TRY_AGAIN, "this client already holds 4 sessions")

    async with serve(refuse, "127.0.0.1", 0) as server:
        port = server.sockets[0].getsockname()[1]
        pcm = np.zeros(2400, np.int16)
        with pytest.raises(Busy, match="4 sessions"):
            await run_clip(f"ws://127.0.0.1:{port}", pcm, len(pcm), reply_timeout=5)
