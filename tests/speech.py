"""The shared recorded-speech corpus (`../shared/speech` beside the repository) and WER."""

from __future__ import annotations

import csv
import os
import re
from dataclasses import dataclass
from pathlib import Path

import jiwer

REPO = Path(__file__).resolve().parents[1]


def speech_dir() -> Path:
    """Root of the corpus; ZENGLOW_SPEECH_DIR overrides the default beside the repository."""
    root = Path(os.environ.get("ZENGLOW_SPEECH_DIR", REPO.parent / "shared" / "speech"))
    if not (root / "setA" / "manifest.tsv").is_file():
        raise FileNotFoundError(
            f"speech corpus not found at {root}: set ZENGLOW_SPEECH_DIR to the folder "
            "holding setA/manifest.tsv"
        )
    return root


@dataclass(frozen=True)
class Clip:
    path: Path
    duration: float
    transcript: str


def clips(folder: str = "setA") -> list[Clip]:
    base = speech_dir() / folder
    with open(base / "manifest.tsv", newline="", encoding="utf-8") as f:
        rows = list(csv.DictReader(f, delimiter="\t", quoting=csv.QUOTE_NONE))
    return [Clip(base / r["file"], float(r["duration_s"]), r["transcript"]) for r in rows]


def clip(name_prefix: str, folder: str = "setA") -> Clip:
    for c in clips(folder):
        if c.path.name.startswith(name_prefix):
            return c
    raise KeyError(name_prefix)


_MAP = {"mr": "mister", "mrs": "missus", "dr": "doctor"}


def _spoken_numbers(text: str) -> str:
    """Digits as words ("5" -> "five", "1450" -> "one thousand four hundred and fifty")."""
    from num2words import num2words

    return re.sub(r"\d+", lambda m: f" {num2words(int(m.group()))} ", text)


def normalise(text: str) -> str:
    text = _spoken_numbers(text.lower().replace("'", ""))
    text = re.sub(r"[^a-z0-9 ]+", " ", text)
    return " ".join(_MAP.get(w, w) for w in text.split())


def wer(reference: str | list[str], hypothesis: str | list[str]) -> float:
    """Word error rate after lower-casing and stripping punctuation (corpus-level for lists)."""
    refs = [reference] if isinstance(reference, str) else reference
    hyps = [hypothesis] if isinstance(hypothesis, str) else hypothesis
    return float(jiwer.wer([normalise(r) for r in refs], [normalise(h) or "<empty>" for h in hyps]))
