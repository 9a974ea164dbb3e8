"""Phonemes (espeak-ng IPA, as Piper speaks them) -> Oculus visemes -> timed cues.

Pure functions: no I/O, no clocks.  Piper reports how many audio samples each phoneme
took; `cues_from_alignments` turns that into contiguous `VisemeCue`s measured in
milliseconds from the first sample of the chunk, so the cues stay valid when the
audio is resampled.
"""

from __future__ import annotations

import bisect
import unicodedata
from collections.abc import Iterable, Sequence

from zenglow.engines.base import VISEMES, VisemeCue


def _table(groups: dict[str, str]) -> dict[str, str]:
    table: dict[str, str] = {}
    for viseme, symbols in groups.items():
        assert viseme in VISEMES, viseme
        for symbol in symbols.split():
            table[unicodedata.normalize("NFD", symbol)] = viseme
    return table


# Symbols are space separated; multi-character entries are affricates that read as one shape.
_VISEME_OF = _table(
    {
        # pad, sentence start/end, word gap, punctuation, intonation arrows, glottal stop
        "sil": "_ ^ $ , . ! ? ; : - ( ) \" ' # ↓ ↑ … ʔ",
        "PP": "p b m β ɸ ɓ ʙ ʘ",
        "FF": "f v ɱ ʋ ⱱ",
        "TH": "θ ð",
        "DD": "t d ɾ ʈ ɖ ɗ ɽ ɺ ǀ ǁ ǃ",
        "kk": "k g ɡ ŋ c ɟ ʄ q ɢ ɠ ʛ x ɣ χ ɰ h ɦ ħ ʕ ʜ ʢ ʡ ɧ ǂ",
        "CH": "ʃ ʒ tʃ dʒ ç ɕ ʑ ʂ ʐ ʝ",
        "SS": "s z ts dz ʦ",
        "nn": "n l ɫ ɬ ɮ ɭ ɲ ɳ ɴ ʎ ʟ",
        "RR": "ɹ r ɻ ʀ ʁ ɚ ɝ",
        "aa": "a ɑ æ ɐ ʌ ɶ",
        "E": "e ɛ ə ɜ ɘ ɞ ε ɤ",
        "ih": "i ɪ ɨ ᵻ j",
        "oh": "o ɔ ɒ ɵ ø œ",
        "ou": "u ʊ ʉ ɯ w ʍ y ʏ ɥ",
    }
)

# Marks that shape a neighbouring phoneme rather than sounding on their own: stress marks
# lead into the syllable that follows; length, rhoticity, secondary articulation and
# combining diacritics trail the phoneme before them.
_LEADING_MARKS = frozenset("ˈˌ")
_TRAILING_CATEGORIES = frozenset({"Lm", "Sk", "Mn", "Mc", "Me"})
_UNKNOWN_SOUND = "E"  # a letter we have no entry for still moves the mouth a little


def _is_mark(char: str) -> bool:
    return char in _LEADING_MARKS or (
        char not in _VISEME_OF and unicodedata.category(char) in _TRAILING_CATEGORIES
    )


def _char_viseme(char: str) -> str:
    known = _VISEME_OF.get(char)
    if known is not None:
        return known
    return _UNKNOWN_SOUND if unicodedata.category(char).startswith("L") else "sil"


def visemes_of(phoneme: str) -> tuple[str, ...]:
    """The visemes one phoneme symbol moves through, in order.

    A diphthong ("aɪ") gives two, a stress or length mark on its own gives none.
    """
    symbol = unicodedata.normalize("NFD", phoneme)
    if symbol in _VISEME_OF:
        return (_VISEME_OF[symbol],)
    base = "".join(char for char in symbol if not _is_mark(char))
    if base in _VISEME_OF:
        return (_VISEME_OF[base],)
    out: list[str] = []
    for char in base:
        viseme = _char_viseme(char)
        if not out or out[-1] != viseme:
            out.append(viseme)
    return tuple(out)


def viseme_for(phoneme: str) -> str:
    """The viseme a phoneme is seen as: its first shape; bare marks and gaps are "sil"."""
    shapes = visemes_of(phoneme)
    return shapes[0] if shapes else "sil"


def _attach_marks(alignments: Sequence[tuple[str, int]]) -> list[tuple[tuple[str, ...], int]]:
    """Give each mark's samples to the phoneme it belongs to; return (shapes, samples)."""
    shapes = [visemes_of(phoneme) for phoneme, _ in alignments]
    samples = [max(0, int(n)) for _, n in alignments]
    owners = [i for i, s in enumerate(shapes) if s]
    if not owners:
        return [(("sil",), sum(samples))] if alignments else []
    totals = {i: samples[i] for i in owners}
    for i, (phoneme, _) in enumerate(alignments):
        if shapes[i]:
            continue
        k = bisect.bisect(owners, i)  # owners[k - 1] < i < owners[k]
        leads = unicodedata.normalize("NFD", phoneme)[:1] in _LEADING_MARKS
        if (leads and k < len(owners)) or k == 0:
            owner = owners[k]
        else:
            owner = owners[k - 1]
        totals[owner] += samples[i]
    return [(shapes[i], totals[i]) for i in owners]


def _spans(alignments: Sequence[tuple[str, int]]) -> Iterable[tuple[str, int]]:
    """(viseme, samples) in order; a multi-shape phoneme's time is split evenly."""
    for shapes, samples in _attach_marks(alignments):
        share, extra = divmod(samples, len(shapes))
        for k, viseme in enumerate(shapes):
            yield viseme, share + (1 if k < extra else 0)


def cues_from_alignments(
    alignments: Sequence[tuple[str, int]],
    sample_rate: int,
    total_samples: int | None = None,
) -> list[VisemeCue]:
    """Timed viseme cues for one chunk of audio from (phoneme, samples) pairs.

    Cues start at 0 and are contiguous; neighbours with the same viseme are merged and
    empty ones dropped.  With `total_samples` the timeline is fitted to the chunk's
    length: cues past the end are cut off and the last one reaches the end.
    """
    if sample_rate <= 0:
        raise ValueError(f"sample_rate must be positive, got {sample_rate}")
    limit = None if total_samples is None else max(0, int(total_samples))
    bounds: list[tuple[str, int, int]] = []  # viseme, start sample, end sample
    position = 0
    for viseme, samples in _spans(alignments):
        if samples <= 0:
            continue
        if limit is not None and position >= limit:
            break
        end = position + samples
        if bounds and bounds[-1][0] == viseme:
            bounds[-1] = (viseme, bounds[-1][1], end)
        else:
            bounds.append((viseme, position, end))
        position = end
    if limit is not None:
        if not bounds and limit > 0:
            bounds.append(("sil", 0, limit))
        elif bounds:
            viseme, start, _ = bounds[-1]
            bounds[-1] = (viseme, start, limit)
    # The same arithmetic as SpeechChunk.duration_ms, so the last cue ends exactly where
    # the chunk's audio does (1000 / rate * n can differ from 1000 * n / rate in the last bit).
    return [
        VisemeCue(v, 1000.0 * start / sample_rate, 1000.0 * end / sample_rate)
        for v, start, end in bounds
        if end > start
    ]


def spread_cues(phonemes: Sequence[str], sample_rate: int, total_samples: int) -> list[VisemeCue]:
    """Cues for audio without alignments: the phonemes share its length evenly."""
    count = len(phonemes)
    edges = [i * total_samples // count for i in range(count + 1)] if count else []
    pairs = [(phonemes[i], edges[i + 1] - edges[i]) for i in range(count)]
    return cues_from_alignments(pairs, sample_rate, total_samples)
