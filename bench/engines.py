"""Engine figures on this machine: STT word error rate and latency, Piper real-time factor,
and the embedded chat model's time to first token.  Medians of several runs.  Whisper is
set up as the server sets it up (ZENGLOW_STT__* and the `[stt]` table of ZENGLOW_CONFIG apply),
e.g. ZENGLOW_STT__MIN_WINDOW_S=30 for the full 30 s window.

    .venv/bin/python bench/engines.py [--runs 5] [--folder ../shared/speech/setA]
"""

from __future__ import annotations

import argparse
import asyncio
import csv
import os
import statistics
import time
from pathlib import Path

from zenglow.engines.llamacpp import LlamaCppChat
from zenglow.engines.loader import stt_from
from zenglow.engines.piper import PiperTTS
from zenglow.settings import load_settings
from zenglow.speech.audio import read_audio

REPO = Path(__file__).resolve().parents[1]
SENTENCES = [
    "Hello! It's lovely to hear from you today.",
    "The weather should clear up by the afternoon, so a walk would be a fine idea.",
    "Paris is the capital of France, and it is famous for its museums and cafes.",
]
PROMPTS = ["Hello! How are you today?", "What is the capital of France?", "Tell me a joke."]


def median_ms(values: list[float]) -> str:
    return f"{1000 * statistics.median(values):.0f} ms"


def stt_figures(folder: Path, runs: int) -> None:
    import jiwer

    with open(folder / "manifest.tsv", newline="", encoding="utf-8") as f:
        rows = list(csv.DictReader(f, delimiter="\t", quoting=csv.QUOTE_NONE))
    stt = stt_from(load_settings(None))  # $ZENGLOW_CONFIG and ZENGLOW_STT__* apply
    t0 = time.perf_counter()
    stt.load()
    print(
        f"whisper {stt.model_path.name} load: {time.perf_counter() - t0:.2f} s "
        f"(window: the audio + 3 s, at least {stt.min_window_s:g} s)"
    )
    refs, hyps, by_len = [], [], []
    norm = jiwer.Compose(
        [
            jiwer.ToLowerCase(),
            jiwer.RemovePunctuation(),
            jiwer.RemoveMultipleSpaces(),
            jiwer.Strip(),
        ]
    )
    for row in rows:
        audio = read_audio(folder / row["file"])
        times = []
        for _ in range(runs):
            t0 = time.perf_counter()
            text = stt.transcribe_sync(audio, words=False).text
            times.append(time.perf_counter() - t0)
        refs.append(norm(row["transcript"]).replace("mister", "mr"))
        hyps.append(norm(text).replace("mister", "mr"))
        by_len.append((float(row["duration_s"]), statistics.median(times), row["file"]))
    print(f"STT WER over {len(rows)} clips: {jiwer.wer(refs, hyps):.3f}")
    for dur, t, name in sorted(by_len):
        print(f"  {name:32s} {dur:5.1f} s audio -> {1000 * t:5.0f} ms (median of {runs})")


def tts_figures(runs: int) -> None:
    tts = PiperTTS()
    tts.load()

    async def speak(text: str) -> tuple[float, float, float]:
        t0 = time.perf_counter()
        first = None
        audio_s = 0.0
        async for chunk in tts.synthesize(text, sample_rate=24000):
            first = first if first is not None else time.perf_counter() - t0
            audio_s += chunk.duration_ms / 1000
        return time.perf_counter() - t0, first or 0.0, audio_s

    rtf, firsts = [], []
    for _ in range(runs):
        for text in SENTENCES:
            total, first, audio_s = asyncio.run(speak(text))
            rtf.append(total / audio_s)
            firsts.append(first)
    print(
        f"Piper joe-medium real-time factor: {statistics.median(rtf):.3f} "
        f"(first audio {median_ms(firsts)}; {len(rtf)} sentences)"
    )


def llm_figures(runs: int) -> None:
    chat = LlamaCppChat()
    t0 = time.perf_counter()
    chat.load()
    print(f"gemma 3 270m load: {time.perf_counter() - t0:.2f} s")
    system = "You are Jarvis, a friendly voice companion."

    async def ask(prompt: str) -> tuple[float, float, int]:
        messages = [{"role": "system", "content": system}, {"role": "user", "content": prompt}]
        t0 = time.perf_counter()
        first, n = None, 0
        async for _ in chat.stream(messages, max_tokens=60):  # type: ignore[arg-type]
            first = first if first is not None else time.perf_counter() - t0
            n += 1
        return first or 0.0, time.perf_counter() - t0, n

    asyncio.run(chat.warm_up(system))
    firsts, rates = [], []
    for _ in range(runs):
        for prompt in PROMPTS:
            first, total, n = asyncio.run(ask(prompt))
            firsts.append(first)
            if n > 1:
                rates.append((n - 1) / max(total - first, 1e-6))
    print(
        f"LLM time to first token: {median_ms(firsts)}; "
        f"{statistics.median(rates):.0f} tokens/s ({len(firsts)} replies)"
    )


def main() -> None:
    default = Path(os.environ.get("ZENGLOW_SPEECH_DIR", REPO.parent / "shared" / "speech"))
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--runs", type=int, default=5)
    p.add_argument("--folder", type=Path, default=default / "setA")
    args = p.parse_args()
    print(f"{os.cpu_count()} CPU cores")
    stt_figures(args.folder, args.runs)
    tts_figures(args.runs)
    llm_figures(args.runs)


if __name__ == "__main__":
    main()
