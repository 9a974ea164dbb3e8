"""Whisper's fitted window (with its guard) against stock faster-whisper's full 30 s window.

On every corpus folder, whole clips and short cuts of them: one, two, three and five words,
cut halfway between words at the full window's word timings (numbers, names, single words
come out of it).  Prints the word error rate of both, the share of fitted decodes the guard
decoded again, and the time of both (same run, same machine).

    .venv/bin/python bench/stt_window.py
    .venv/bin/python bench/stt_window.py --folders setB --no-cuts
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tests.speech import clips, wer

from zenglow.engines.whisper import FasterWhisperSTT
from zenglow.speech.audio import read_audio

RATE = 16000


def cuts(full: FasterWhisperSTT, audio: np.ndarray) -> list[tuple[np.ndarray, str]]:
    words = full.transcribe_sync(audio[: 28 * RATE], words=True).words
    out = []
    for size in (1, 2, 3, 5):
        for first in range(0, len(words) - size + 1, max(size, 3)):
            last = first + size - 1
            a = (words[first - 1].end + words[first].start) / 2 if first else 0.0
            nxt = words[last + 1].start if last + 1 < len(words) else words[last].end + 0.7
            b = (words[last].end + nxt) / 2
            said = " ".join(w.text for w in words[first : last + 1])
            out.append((audio[int(a * RATE) : int(b * RATE)], said))
    return out


def main(args: argparse.Namespace) -> None:
    fitted, full = FasterWhisperSTT(), FasterWhisperSTT(min_window_s=30.0)
    fitted.load()
    full.load()
    print(f"{'corpus':<12}{'n':>5}{'WER fitted':>12}{'WER full':>10}{'redecoded':>11}{'time':>8}")
    for folder in args.folders:
        sets = {folder: [(read_audio(c.path), c.transcript) for c in clips(folder)]}
        if not args.no_cuts:
            sets[f"{folder}-cut"] = [x for a, _ in sets[folder] for x in cuts(full, a)]
        for name, items in sets.items():
            refs, hyp_fit, hyp_full, t_fit, t_full = [], [], [], 0.0, 0.0
            before = fitted.redecoded
            for audio, ref in items:
                t = time.perf_counter()
                hyp_fit.append(fitted.transcribe_sync(audio, words=False).text)
                t_fit += time.perf_counter() - t
                t = time.perf_counter()
                hyp_full.append(full.transcribe_sync(audio, words=False).text)
                t_full += time.perf_counter() - t
                refs.append(ref)
            again = (fitted.redecoded - before) / max(1, len(items))
            print(
                f"{name:<12}{len(items):>5}{wer(refs, hyp_fit):>12.3f}{wer(refs, hyp_full):>10.3f}"
                f"{again:>10.0%}{t_fit / max(t_full, 1e-9):>8.2f}",
                flush=True,
            )


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--folders", nargs="+", default=["setA", "setB", "long", "noisy"])
    parser.add_argument("--no-cuts", action="store_true")
    main(parser.parse_args())
