"""What the words of a turn say about turn-taking (English).

- Backchannels: "mm-hm", "yeah", "okay" said while someone else talks, to show one listens.
  They are no bid for the turn, so they must not interrupt a reply.  `is_backchannel` tells
  a transcript made only of such phrases from anything else; an empty transcript (a cough,
  a door) counts too: nothing was said that asks for the turn.
- Unfinished phrases: a transcript that stops on "the", "of", "and" or a filler ("um"),
  or that Whisper ends with "..." or a comma, is not a finished turn, however it sounds.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

from rapidfuzz.distance import Levenshtein


def words(text: str) -> list[str]:
    """Lower-case words without punctuation; hyphens split ("mm-hm" -> "mm", "hm")."""
    return re.sub(r"[^a-z' ]+", " ", text.lower().replace("-", " ")).replace("'", "").split()


def _squeezed(text: str) -> tuple[str, ...]:
    """Words with stretched sounds squeezed, so "mmm hmm" matches "mm hm"."""
    return tuple(re.sub(r"(.)\1+", r"\1", w) for w in words(text))


def is_backchannel(text: str, phrases: Iterable[str], max_words: int = 4) -> bool:
    said = _squeezed(text)
    if not said:
        return True
    if len(said) > max_words:
        return False
    known = {_squeezed(p) for p in phrases} - {()}
    if not known:
        return False
    # said must be one or more known phrases back to back ("yeah yeah", "okay mm hm")
    reach = [True] + [False] * len(said)
    for i in range(len(said)):
        if reach[i]:
            for p in known:
                if said[i : i + len(p)] == p:
                    reach[i + len(p)] = True
    return reach[-1]


# words a finished English sentence almost never ends on
_OPEN_ENDINGS = frozenset(
    "a an the of to for from with without in on at by into onto about like than as and or "
    "but nor so because if when while that which who whose whom where my your his her its "
    "our their this these those is are was were be been am um uh er erm eh".split()
)


def sounds_unfinished(text: str) -> bool:
    """True when the transcript stops mid-phrase (a veto on "the turn is over")."""
    stripped = text.strip()
    if stripped.endswith(("...", "…", ",", "-", "—")):
        return True
    said = words(stripped)
    return bool(said) and said[-1] in _OPEN_ENDINGS


# contractions Whisper writes for words a reply spelt out, and the other way round
_CONTRACTIONS = {
    "s": "is",
    "re": "are",
    "ll": "will",
    "ve": "have",
    "d": "would",
    "m": "am",
    "t": "not",
}


def _spelt_out(text: str) -> list[str]:
    """Words with contractions written out ("here's" -> "here is", "don't" -> "do not")."""
    out: list[str] = []
    for w in re.sub(r"[^a-z' ]+", " ", text.lower().replace("-", " ")).split():
        stem, _, tail = w.partition("'")
        if tail in _CONTRACTIONS and stem:
            if tail == "t" and stem.endswith("n"):
                stem = {"won": "will", "can": "can", "ain": "am"}.get(stem, stem[:-1])
            out += [stem, _CONTRACTIONS[tail]]
        else:
            out.append(w.replace("'", ""))
    return out


def _heard_as(word: str, reply: set[str]) -> bool:
    """Is `word` one of the reply's, allowing for one letter misheard in a longer word?"""
    if word in reply:
        return True
    return len(word) >= 4 and any(
        abs(len(word) - len(r)) <= 1 and Levenshtein.distance(word, r, score_cutoff=1) <= 1
        for r in reply
    )


def is_echo(text: str, playing: str, share: float = 0.6) -> bool:
    """True when most words heard are words of the reply playing: the microphone heard
    our own voice (an echo the canceller missed), not the user.  Whisper hears an echo
    the way it hears any muffled voice: contractions ("here's" for "here is") and a letter
    off in a longer word count as the reply's words."""
    said, reply = _spelt_out(text), set(_spelt_out(playing))
    return bool(said) and sum(_heard_as(w, reply) for w in said) >= share * len(said)
