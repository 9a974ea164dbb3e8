"""Blocks in, passages out: the chunker that decides what is embedded and retrieved.

Pure and deterministic.  A passage never crosses a heading: each section (the blocks under
one heading path) is packed on its own, paragraph by paragraph, into passages of about
`target_chars`; a paragraph longer than that is cut between sentences (the speech chunker's
sentence rules, so abbreviations and decimals stay whole).  Each passage after the first in
a section begins with the last sentences of the one before, up to `overlap_chars`, so a fact
that straddles a cut is whole in one of them.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from ..speech.chunker import SentenceChunker
from .documents import Block, Chunk


@dataclass(frozen=True, slots=True)
class _Piece:
    text: str
    page: int | None
    line: int | None
    block: int  # which block it comes from: pieces of one paragraph are joined by a space


def sentences(text: str, max_chars: int) -> list[str]:
    """`text` cut into sentences, none longer than `max_chars` unless it is one word."""
    splitter = SentenceChunker(first_clause_min_words=1 << 30, max_chars=max_chars)
    parts = splitter.add(text)
    rest = splitter.finish()
    return [p for p in (*parts, rest) if p.strip()]


def _pieces(blocks: Iterable[Block], target: int) -> list[_Piece]:
    out: list[_Piece] = []
    for i, b in enumerate(blocks):
        if len(b.text) <= target:
            out.append(_Piece(b.text, b.page, b.line, i))
        else:
            out.extend(_Piece(s, b.page, b.line, i) for s in sentences(b.text, target))
    return out


def _tail(pieces: Sequence[_Piece], overlap: int, target: int) -> list[_Piece]:
    """The last whole sentences of `pieces` that fit in `overlap` characters."""
    if overlap <= 0:
        return []
    taken: list[_Piece] = []
    size = 0
    for piece in reversed(pieces):
        for sentence in reversed(sentences(piece.text, target)):
            if size + len(sentence) > overlap:
                return taken
            taken.insert(0, _Piece(sentence, piece.page, piece.line, piece.block))
            size += len(sentence) + 1
    return taken


def _chunk(headings: tuple[str, ...], pieces: Sequence[_Piece]) -> Chunk:
    pages = [p.page for p in pieces if p.page is not None]
    lines = [p.line for p in pieces if p.line is not None]
    text = pieces[0].text
    for before, piece in itertools.pairwise(pieces):
        text += (" " if piece.block == before.block else "\n") + piece.text
    return Chunk(
        text,
        headings,
        page_start=min(pages, default=None),
        page_end=max(pages, default=None),
        line_start=min(lines, default=None),
        line_end=max(lines, default=None),
    )


def chunk_blocks(
    blocks: Iterable[Block], *, target_chars: int = 900, overlap_chars: int = 150
) -> list[Chunk]:
    if overlap_chars * 2 > target_chars:
        raise ValueError("overlap_chars must be at most half of target_chars")
    chunks: list[Chunk] = []
    for headings, section in itertools.groupby(blocks, key=lambda b: b.headings):
        current: list[_Piece] = []
        fresh = 0  # pieces in `current` that are not overlap
        size = 0
        for piece in _pieces(section, target_chars):
            if fresh and size + 1 + len(piece.text) > target_chars:
                chunks.append(_chunk(headings, current))
                current = _tail(current, overlap_chars, target_chars)
                size = sum(len(p.text) + 1 for p in current)
                fresh = 0
            current.append(piece)
            size += len(piece.text) + 1
            fresh += 1
        if fresh:
            chunks.append(_chunk(headings, current))
    return chunks


def embedding_text(title: str, chunk: Chunk) -> str:
    """What is embedded for a passage: where it stands (its heading path, or the document's
    title when it has none), then its text, so a passage under "Parental leave" is found by
    questions about parental leave even when its sentences do not say so."""
    context = " > ".join(chunk.headings) if chunk.headings else title
    return f"{context}\n{chunk.text}" if context else chunk.text
