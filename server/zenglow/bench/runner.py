"""`zenglow bench`: voice-to-voice latency over a folder of recorded speech.

Every clip gets a fresh Realtime session (`client.run_clip`); clips run one after
another so they do not compete for the machine.  Without `--url` a `zenglow serve` is
started on loopback for the run.  Prints a table per clip, then medians and p95.
"""

from __future__ import annotations

import argparse
import asyncio
import csv
import itertools
import json
import os
import platform
import re
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.parse
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

import numpy as np

from ..speech.audio import AudioError, float_to_int16, read_audio
from ..transports.realtime.extensions import METRICS, wants_extensions
from ..transports.realtime.extensions import NAME as ZENGLOW
from ..transports.realtime.extensions import QUERY_PARAM as EXTENSIONS
from .client import RATE, Busy, run_clip, run_clip_webrtc, voiced_end

# A session turned away as busy (a session limit) is asked for again this often: the server
# frees the slot of the clip before only once that session has wound up.
BUSY_TRIES, BUSY_WAIT_S = 10, 0.5
COLUMNS = ("v2v", "srv_v2v", "endpoint", "stt", "llm_1st", "sentence", "tts_1st", "sent_1st")
STAGES = ("voice_to_voice_ms", "server.voice_to_voice_ms", *(f"server.{m}" for m in METRICS[:-1]))
Json = dict[str, Any]


class BenchError(Exception):
    """The benchmark cannot run: printed as one line."""


@dataclass(frozen=True)
class Clip:
    path: Path
    reference: str | None


def corpus_root() -> Path:
    """The shared speech corpus beside the repository; ZENGLOW_SPEECH_DIR overrides it."""
    default = Path(__file__).resolve().parents[3].parent / "shared" / "speech"
    return Path(os.environ.get("ZENGLOW_SPEECH_DIR") or default)


def find_folder(arg: str | None) -> Path:
    """The folder given (or a corpus subfolder by name); without one, the corpus's setA."""
    folder = Path(arg) if arg else corpus_root() / "setA"
    if arg and not folder.is_dir() and (corpus_root() / arg).is_dir():
        folder = corpus_root() / arg
    if not folder.is_dir():
        raise BenchError(f"no speech folder at {folder}: pass a folder of WAV files")
    return folder


def load_clips(folder: Path) -> list[Clip]:
    """`manifest.tsv` (file, duration_s, transcript, ...) if present, else every .wav."""
    manifest = folder / "manifest.tsv"
    if manifest.is_file():
        with open(manifest, newline="", encoding="utf-8") as f:
            rows = list(csv.DictReader(f, delimiter="\t", quoting=csv.QUOTE_NONE))
        clips = [Clip(folder / r["file"], r.get("transcript") or None) for r in rows]
    else:
        clips = [Clip(p, None) for p in sorted(folder.glob("*.wav"))]
    if not clips:
        raise BenchError(f"no clips in {folder}: expected manifest.tsv or .wav files")
    return clips


def normalise(text: str) -> str:
    text = re.sub(r"[^a-z0-9 ]+", " ", text.lower().replace("'", ""))
    words = {"mr": "mister", "mrs": "missus", "dr": "doctor"}
    return " ".join(words.get(w, w) for w in text.split())


def word_error_rate(references: list[str], hypotheses: list[str]) -> float | None:
    """Pooled WER after normalising both sides."""
    import jiwer

    hyps = [normalise(h) or "<empty>" for h in hypotheses]
    return float(jiwer.wer([normalise(r) for r in references], hyps))


def summarise(values: list[float]) -> Json:
    """Count, median and 95th percentile (inclusive method; one value is its own p95)."""
    if not values:
        return {"n": 0, "median": None, "p95": None}
    p95 = statistics.quantiles(values, n=20, method="inclusive")[18] if len(values) > 1 else None
    median = statistics.median(values)
    return {"n": len(values), "median": round(median, 1), "p95": round(p95 or values[0], 1)}


async def bench_clips(
    url: str,
    clips: list[tuple[Clip, np.ndarray]],
    repeat: int,
    reply_timeout: float,
    transport: str = "websocket",
    concurrency: int = 1,
) -> list[Json]:
    """Every clip `repeat` times, in `concurrency` sessions at once (each its own copy of
    the clip list, the sessions a little apart so their turns do not line up exactly)."""

    async def session(n: int) -> list[Json]:
        await asyncio.sleep(n * 0.7)
        return await _bench_session(url, clips, repeat, reply_timeout, transport, n)

    runs = await asyncio.gather(*(session(n) for n in range(concurrency)))
    return [row for rows in runs for row in rows]


async def _bench_session(
    url: str,
    clips: list[tuple[Clip, np.ndarray]],
    repeat: int,
    reply_timeout: float,
    transport: str,
    session: int,
) -> list[Json]:
    from httpx import HTTPError
    from websockets.exceptions import WebSocketException

    run_one = run_clip_webrtc if transport == "webrtc" else run_clip
    rows: list[Json] = []
    for run in range(1, repeat + 1):
        for clip, audio in clips:
            end = voiced_end(audio)
            try:
                for attempt in itertools.count(1):
                    try:
                        row = await run_one(url, float_to_int16(audio), end, reply_timeout)
                        break
                    except Busy:  # the last session's slot is still being released
                        if attempt >= BUSY_TRIES:
                            raise
                        await asyncio.sleep(BUSY_WAIT_S)
            except (OSError, TimeoutError, WebSocketException, HTTPError, Busy) as exc:
                row = {"ok": False, "voice_to_voice_ms": None, "errors": [repr(exc)], "server": {}}
            ref, heard = clip.reference, row.get("transcript")
            wer = word_error_rate([ref], [heard]) if ref and heard is not None else None
            row = {"clip": clip.path.name, "run": run, "session": session,
                   "duration_s": len(audio) / RATE,
                   "voiced_end_s": round(end / RATE, 3), "reference": ref,
                   "wer": None if wer is None else round(wer, 3), **row}  # fmt: skip
            rows.append(row)
            _print_row(row)
    return rows


def realtime_url(url: str) -> str:
    """`host:port`, `http://host:port` or a full `ws://.../v1/realtime` -> the Realtime URL,
    asking for the zenglow.* events (the bench reads `zenglow.turn_metrics`)."""
    u = urllib.parse.urlsplit(url if "://" in url else f"ws://{url}")
    scheme = {"http": "ws", "https": "wss"}.get(u.scheme, u.scheme)
    path = u.path if u.path not in ("", "/") else "/v1/realtime"
    query = dict(urllib.parse.parse_qsl(u.query, keep_blank_values=True))
    if not wants_extensions(query):
        query[EXTENSIONS] = ",".join(filter(None, [query.get(EXTENSIONS), ZENGLOW]))
    return urllib.parse.urlunsplit((scheme, u.netloc, path, urllib.parse.urlencode(query), ""))


def calls_url(url: str) -> str:
    """Any form `realtime_url` takes -> the WebRTC calls URL (`http://.../v1/realtime/calls`)."""
    u = urllib.parse.urlsplit(realtime_url(url))
    scheme = {"ws": "http", "wss": "https"}.get(u.scheme, u.scheme)
    path = u.path.rstrip("/")
    path = path if path.endswith("/calls") else f"{path}/calls"
    return urllib.parse.urlunsplit((scheme, u.netloc, path, u.query, ""))


def wait_ready(url: str, timeout: float, proc: subprocess.Popen[bytes] | None = None) -> None:
    u = urllib.parse.urlsplit(url)
    ready = f"{'https' if u.scheme in ('wss', 'https') else 'http'}://{u.netloc}/ready"
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc is not None and proc.poll() is not None:
            raise BenchError(f"the server exited with status {proc.returncode} while starting")
        try:
            with urllib.request.urlopen(ready, timeout=5):
                return
        except urllib.error.HTTPError as exc:
            if exc.code != 503:
                return  # no readiness route: take the server as it is
        except OSError:
            pass  # not listening yet
        time.sleep(0.5)
    raise BenchError(f"the server at {url} was not ready within {timeout:.0f} s")


def start_server(config: str | None, log: IO[bytes]) -> tuple[subprocess.Popen[bytes], str]:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    cmd = [sys.executable, "-m", "zenglow.cli", *(["--config", config] if config else [])]
    cmd += ["serve", "--host", "127.0.0.1", "--port", str(port), "--log-level", "warning"]
    proc = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT)
    return proc, realtime_url(f"127.0.0.1:{port}")


def stop_server(proc: subprocess.Popen[bytes]) -> None:
    proc.terminate()
    try:
        proc.wait(timeout=20)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


def _figure(row: Json, stage: str) -> float | None:
    value = row["server"].get(stage[7:]) if stage.startswith("server.") else row.get(stage)
    return float(value) if isinstance(value, int | float) else None


def _cells(values: list[float | None]) -> str:
    return "".join(f"{'-' if v is None else f'{v:.0f}':>9}" for v in values)


def _print_row(row: Json) -> None:
    name = Path(row["clip"]).stem[:24] + (f"#{row['run']}" if row["run"] > 1 else "")
    wer = "-" if row.get("wer") is None else f"{row['wer']:.2f}"
    tail = f"{wer:>6}{row.get('reply_chars', 0):>7}" + ("" if row["ok"] else "  FAILED")
    print(f"{name:<28}{row['duration_s']:>6.1f}{_cells([_figure(row, s) for s in STAGES])}{tail}")
    if not row["ok"]:
        print(f"{'':<28}{'; '.join(row['errors'])}")


def report(rows: list[Json], url: str, concurrency: int = 1) -> Json:
    ok = [r for r in rows if r["ok"]]
    summary = {s: summarise([v for r in ok if (v := _figure(r, s)) is not None]) for s in STAGES}
    for key in ("median", "p95"):
        print(f"{key:<34}{_cells([summary[s][key] for s in STAGES])}")
    pairs = [(r["reference"], r["transcript"]) for r in ok if r.get("reference")]
    wer = word_error_rate([p[0] for p in pairs], [p[1] for p in pairs]) if pairs else None
    underruns = sum(r.get("underruns") or 0 for r in ok)
    cpus, machine = os.cpu_count(), f"{platform.system()} {platform.machine()}"
    print(f"{len(ok)}/{len(rows)} clips measured, {cpus} CPU cores ({machine}), server {url}")
    v2v = summary["voice_to_voice_ms"]
    print(
        f"sessions {concurrency}: v2v median {v2v['median']} ms, p95 {v2v['p95']} ms; "
        f"input WER {'-' if wer is None else f'{wer:.3f}'}; reply audio underruns {underruns}"
    )
    return {"machine": {"cpu_count": cpus, "platform": platform.platform(),
                        "python": platform.python_version()},
            "server": url, "concurrency": concurrency, "measured": len(ok), "count": len(rows),
            "wer": wer, "underruns": underruns, "summary": summary, "clips": rows}  # fmt: skip


def run_bench(args: argparse.Namespace) -> int:
    try:
        found = load_clips(find_folder(args.folder))[: args.limit or None]
        clips = [(c, read_audio(c.path, sample_rate=RATE)) for c in found]
    except (BenchError, AudioError) as exc:
        print(f"zenglow bench: {exc}", file=sys.stderr)
        return 2
    header = f"{'clip':<28}{'dur_s':>6}" + "".join(f"{c:>9}" for c in COLUMNS)
    with tempfile.TemporaryFile() as log:
        proc, url = (None, realtime_url(args.url)) if args.url else start_server(args.config, log)
        try:
            transport = getattr(args, "transport", "websocket")
            url = calls_url(url) if transport == "webrtc" else url
            print(f"waiting for the server at {url} ...", file=sys.stderr, flush=True)
            wait_ready(url, args.ready_timeout, proc)
            print(f"{header}{'wer':>6}{'reply':>7}  (times in ms, {transport})", flush=True)
            runs, sessions = max(1, args.repeat), max(1, getattr(args, "concurrency", 1))
            bench = bench_clips(url, clips, runs, args.timeout, transport, sessions)
            rows = asyncio.run(bench)
        except BenchError as exc:
            log.seek(0)
            lines = log.read().decode(errors="replace").splitlines()[-15:]
            print(f"zenglow bench: {exc}", *lines, sep="\n", file=sys.stderr)
            return 2
        finally:
            if proc is not None:
                stop_server(proc)
    result = report(rows, url, sessions)
    if args.json_out:
        Path(args.json_out).write_text(json.dumps(result, indent=1))
    return 0 if result["measured"] else 1
