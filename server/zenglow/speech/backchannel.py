"""Backchannels: "mm-hm", "yeah", "okay" said while someone else talks, to show one listens.

They are no bid for the turn, so they must not interrupt a reply.  `is_backchannel` tells
a transcript made only of such phrases (one or a few of them) from anything else; an
empty transcript (a cough, a door) counts too: nothing was said that asks for the turn.
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
