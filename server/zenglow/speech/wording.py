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


def is_echo(text: str, playing: str, share: float = 0.6) -> bool:
    """True when most words heard are words of the reply playing: the microphone heard
    our own voice (an echo the canceller missed), not the user."""
    said, reply = words(text), set(words(playing))
    return bool(said) and sum(w in reply for w in said) >= share * len(said)
