"""Signs that a Whisper decode went wrong, read from its text alone (pure).

Whisper decodes a window that was shorter than the 30 s it was trained on (the fitted
window of `engines/whisper.py`) well most of the time, and badly in a few recognisable ways:
it repeats itself ("5, 5, 5, 5, 5, 5." for "five five"), says more words than the audio can
hold, drops everything, or is unsure of every token.  `suspect` names the sign, so the
caller can decode the audio again with the full window.
"""

from __future__ import annotations

import re
import zlib

MAX_WORDS_PER_S = 4.0  # fast conversational speech is about 3; padding makes it less
MAX_COMPRESSION = 2.0  # zlib ratio of the text; faster-whisper's own fallback uses 2.4
# the least sure segment's mean token log-probability: faster-whisper's own fallback takes
# -1; over a few seconds of speech, clean speech stays above -0.5, so -0.6 is already unsure
MIN_LOGPROB, MIN_LOGPROB_LONG, LONG_S = -1.0, -0.6, 3.0
NO_SPEECH, UNSURE = 0.5, -1.0  # Whisper's own thresholds for "that was no speech" are 0.6, -1


def _words(text: str) -> list[str]:
    return re.sub(r"[^a-z0-9' ]+", " ", text.lower()).split()


def repeats_itself(words: list[str]) -> bool:
    """A phrase of three words or more said twice in a row, or a shorter one three times
    ("no no" and "thank you thank you" are speech; "5, 5, 5" is a decoder stuck)."""
    for size in range(1, len(words) // 2 + 1):
        times = 3 if size < 3 else 2
        for i in range(len(words) - size * times + 1):
            phrase = words[i : i + size]
            if all(words[i + k * size : i + (k + 1) * size] == phrase for k in range(1, times)):
                return True
    return False


def suspect(text: str, duration_s: float, avg_logprob: float | None = None) -> str | None:
    """Why this decode of `duration_s` of speech looks wrong, or None when it looks fine."""
    words = _words(text)
    if not words:
        return "empty"
    if repeats_itself(words):
        return "repetition"
    if len(words) > 1 + MAX_WORDS_PER_S * duration_s:
        return "too many words"
    raw = text.encode()
    if len(raw) > 24 and len(raw) / len(zlib.compress(raw)) > MAX_COMPRESSION:
        return "compression"
    least = MIN_LOGPROB_LONG if duration_s >= LONG_S else MIN_LOGPROB
    if avg_logprob is not None and avg_logprob < least:
        return "low confidence"
    return None


def said_something(no_speech_prob: float | None, avg_logprob: float | None) -> bool:
    """False for Whisper's words for a noise: it believed nobody spoke, or it was unsure
    of every word ("Thank you." for a hum)."""
    if no_speech_prob is not None and no_speech_prob > NO_SPEECH:
        return False
    return avg_logprob is None or avg_logprob >= UNSURE
