"""The chunker: passages follow headings and paragraphs, keep near their size, overlap by
whole sentences, and say where they come from."""

from __future__ import annotations

import itertools

import pytest

from tests.knowledge_corpus import CORPUS
from zenglow.knowledge.chunking import chunk_blocks, embedding_text, sentences
from zenglow.knowledge.documents import Block, Chunk
from zenglow.knowledge.formats import parse

LONG = " ".join(f"Sentence {i} tells fact number {i} about the buoy." for i in range(60))


def handbook_chunks(target: int = 400, overlap: int = 80) -> list[Chunk]:
    doc = parse((CORPUS / "handbook.md").read_bytes(), "handbook.md", max_bytes=1 << 20,
                max_pages=1)  # fmt: skip
    return chunk_blocks(doc.blocks, target_chars=target, overlap_chars=overlap)


def test_passages_never_cross_a_heading() -> None:
    blocks = [
        Block("Intro text.", ("Guide",)),
        Block("Leave text one.", ("Guide", "Leave")),
        Block("Leave text two.", ("Guide", "Leave")),
        Block("Travel text.", ("Guide", "Travel")),
    ]
    chunks = chunk_blocks(blocks, target_chars=500, overlap_chars=100)
    assert [(c.headings, c.text) for c in chunks] == [
        (("Guide",), "Intro text."),
        (("Guide", "Leave"), "Leave text one.\nLeave text two."),
        (("Guide", "Travel"), "Travel text."),
    ]


def test_long_paragraphs_are_cut_between_sentences_with_overlap() -> None:
    chunks = chunk_blocks([Block(LONG, ("Manual",), page=3)], target_chars=300, overlap_chars=100)
    assert len(chunks) > 5
    for before, after in itertools.pairwise(chunks):
        assert len(after.text) <= 300
        assert after.text.endswith("buoy.") and after.text.startswith("Sentence")
        head = after.text.split(". ")[0] + "."
        assert head in before.text  # the overlap is a whole sentence of the previous one
        assert len(head) <= 100
    every = set(sentences(LONG, 1000))
    assert every == {s for c in chunks for s in sentences(c.text, 1000)}  # nothing lost
    assert all(c.locator == "p. 3, Manual" for c in chunks)


def test_no_overlap_when_asked_for_none() -> None:
    chunks = chunk_blocks([Block(LONG)], target_chars=300, overlap_chars=0)
    assert sum(len(c.text) for c in chunks) == len(LONG) - (len(chunks) - 1)


def test_the_handbook_becomes_passages_near_their_size() -> None:
    chunks = handbook_chunks()
    assert all(len(c.text) <= 400 for c in chunks)
    assert sum(len(c.text) >= 100 for c in chunks) >= len(chunks) // 2
    parental = next(c for c in chunks if "18 weeks" in c.text)
    assert parental.locator == "Halvorsen & Quist Staff Handbook > Leave > Parental leave"
    assert parental.line_start is not None


def test_locators() -> None:
    assert Chunk("t", page_start=2, page_end=3).locator == "pp. 2-3"
    assert Chunk("t", ("A", "B"), page_start=2, page_end=2).locator == "p. 2, A > B"
    assert Chunk("t", line_start=4, line_end=9).locator == "lines 4-9"
    assert Chunk("t", ("A",), line_start=4, line_end=9).locator == "A"
    assert Chunk("t").locator == ""


def test_the_embedded_text_says_where_the_passage_stands() -> None:
    assert embedding_text("Handbook", Chunk("Text.", ("H", "Leave"))) == "H > Leave\nText."
    assert embedding_text("Notes", Chunk("Text.")) == "Notes\nText."


def test_overlap_must_leave_room() -> None:
    with pytest.raises(ValueError, match="at most half"):
        chunk_blocks([Block("x")], target_chars=200, overlap_chars=150)
