"""Hybrid ranking, pure: the words to search for, and reciprocal rank fusion of the
vector and keyword rankings (Cormack, Clarke and Büttcher, 2009).

Fusion decides the order.  Whether a passage is relevant at all is decided by its cosine
similarity with the question, which (unlike fused ranks or BM25 scores) means the same
across questions: below the threshold a passage is dropped, so a question the documents do
not answer gets no passages and Leonardo can say so.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

RRF_K = 60  # the constant of the paper; rank 1 scores 1/61

# Function words and question words: they match nearly every passage and say nothing of
# what a question is about.
STOPWORDS = frozenset(
    """a about above after again against all am an and any are as at be because been before
    being below between both but by can could did do does doing down during each few for
    from further had has have having he her here hers herself him himself his how i if in
    into is it its itself just me more most my myself no nor not now of off on once only or
    other our ours ourselves out over own same she should so some such than that the their
    theirs them themselves then there these they this those through to too under until up
    very was we were what when where which while who whom why will with would you your
    yours yourself yourselves tell according say says said please know let lets us whats
    wheres whos hows i'm i'd i've it's does doesn't don't can't won't isn't aren't there's
    anything something much many also""".split()
)
_WORD = re.compile(r"\w+(?:['’]\w+)*")
MAX_TERMS = 16


def keyword_terms(text: str) -> list[str]:
    """The content words of `text`, in order, each once (FTS5 stems them as it matches)."""
    terms: list[str] = []
    for word in _WORD.findall(text.lower()):
        word = word.replace("’", "'")
        if word in STOPWORDS or (len(word) < 2 and not word.isdigit()):
            continue
        for part in word.split("'"):
            if part and part not in terms and part not in STOPWORDS and len(part) > 1:
                terms.append(part)
    return terms[:MAX_TERMS]


@dataclass(frozen=True, slots=True)
class Relevance:
    """When a passage answers a question: its cosine reaches `min_similarity`, or it
    reaches `with_keywords` and shares a content word with the question (the keyword search
    found it).  Cosines mean different things for different models, so each embedder has
    its own defaults."""

    min_similarity: float
    with_keywords: float

    def accepts(self, similarity: float, keyword_hit: bool) -> bool:
        return similarity >= self.min_similarity or (
            keyword_hit and similarity >= self.with_keywords
        )


def fuse(*rankings: Sequence[int], k: int = RRF_K) -> list[tuple[int, float]]:
    """Reciprocal rank fusion: (id, score) best first; ties keep the first ranking's order."""
    scores: dict[int, float] = {}
    for ranking in rankings:
        for rank, item in enumerate(ranking, start=1):
            scores[item] = scores.get(item, 0.0) + 1.0 / (k + rank)
    return sorted(scores.items(), key=lambda kv: -kv[1])
