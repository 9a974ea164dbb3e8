"""Answers grounded in passages, pure: what Leonardo reads, the line he opens with, and which
of his sentences draw on which source.

A grounded answer opens with a line that names its source and reads out the sentence of the
best passage that answers the question (`lead_line`), so the fact and its source are said
whatever the chat model adds; the model's prompt carries every passage with its source
(`grounding_prompt`).  When the user asked about the documents and nothing relevant was
found, the answer is `NOT_FOUND`, with no model call: nothing is invented.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

import numpy as np

from .chunking import sentences
from .documents import Passage
from .ranking import STOPWORDS

NOT_FOUND = "I could not find that in your documents."
PROMPT_PASSAGES = 3  # the best passages an answer is grounded in (a small model reads slowly)
LEAD_MAX_CHARS = 300  # the sentence read out is cut near here
SHARED_TERMS = 3  # content words a sentence shares with a passage to count as drawn from it
_STEM = 5  # words are compared by their first letters: "leave" ~ "leaves"


def passage_sentences(passage: Passage) -> list[str]:
    """The passage's sentences, headings and list items included, none over LEAD_MAX_CHARS."""
    return [s for s in sentences(passage.text, LEAD_MAX_CHARS) if any(c.isalnum() for c in s)]


def best_sentence(
    question: str, candidates: Sequence[str], similarities: np.ndarray | None = None
) -> str:
    """The candidate that answers `question` best: by the embedder's cosine similarity when
    given, plus the question's content words it contains (the numbers and names asked for)."""
    if not candidates:
        raise ValueError("no sentences to choose from")
    asked = _stems(question)

    def score(i: int) -> float:
        shared = len(asked & _stems(candidates[i]))
        cosine = float(similarities[i]) if similarities is not None else 0.0
        return cosine + 0.1 * shared

    return candidates[max(range(len(candidates)), key=score)]


def spoken_title(title: str) -> str:
    """A document's title as it is said: no file extension, no underscores."""
    stem = title.rsplit(".", 1)[0] if title.lower().endswith((".md", ".txt", ".pdf")) else title
    return " ".join(stem.replace("_", " ").split())


def lead_line(passage: Passage, sentence: str) -> str:
    """`According to <title>: <sentence>` (the sentence ends as a sentence)."""
    said = " ".join(sentence.split()).lstrip("-•*# ")
    if said and said[-1] not in ".!?":
        said += "."
    return f"According to {spoken_title(passage.title)}: {said}"


def source_label(passage: Passage) -> str:
    return f"{passage.title} ({passage.locator})" if passage.locator else passage.title


def grounding_prompt(passages: Sequence[Passage], lead: str) -> str:
    """What the answering persona's system prompt gets: the passages with their sources,
    what was already said, and how to go on."""
    blocks = [f"[{i}] {source_label(p)}\n{p.text.strip()}" for i, p in enumerate(passages, 1)]
    return (
        "Answer from these passages of the user's documents, and from nothing else.\n"
        f'You have already said: "{lead}"\n'
        "Add in one or two short spoken sentences what else the passages say that answers "
        "the question, naming the document you use. If they do not answer it, say that "
        "you could not find it in the documents. Do not invent anything.\n\n" + "\n\n".join(blocks)
    )


def drawn_from(sentence: str, passages: Sequence[Passage]) -> list[int]:
    """The passages (indices) a spoken sentence names or draws on: it names the title, or
    shares SHARED_TERMS content words with the passage's text."""
    said = _stems(sentence)
    lowered = sentence.lower()
    found = []
    for i, p in enumerate(passages):
        title = spoken_title(p.title).lower()
        if (title and title in lowered) or len(said & _stems(p.text)) >= SHARED_TERMS:
            found.append(i)
    return found


_WORD = re.compile(r"\w+")


def _stems(text: str) -> set[str]:
    """The content words of `text`, cut to their first letters (numbers whole)."""
    words = (w for w in _WORD.findall(text.lower()) if w not in STOPWORDS)
    return {w if w.isdigit() else w[:_STEM] for w in words if len(w) > 1 or w.isdigit()}
