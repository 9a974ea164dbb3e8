"""The shapes the knowledge part passes around, and its errors.

A file is parsed into `Block`s (a paragraph, a list item, a table row, with where it stands:
its heading path, its page, its line); the chunker packs blocks into `Chunk`s; the store keeps
them with their vectors under a `DocumentInfo`; a search returns `Passage`s.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal


class KnowledgeError(RuntimeError):
    """A knowledge operation cannot be done; the message says why and what to do."""


class DocumentError(KnowledgeError):
    """A file cannot be ingested: unsupported, empty, binary, corrupt, too large, locked."""


class EmbedderError(KnowledgeError):
    """The embedding model failed or cannot be reached."""


class EmbedderMismatch(KnowledgeError):
    """The index was built with another embedding model (or dimension) than the settings'."""


class DocumentNotFound(KnowledgeError):
    """No document has this id."""


@dataclass(frozen=True, slots=True)
class Block:
    """One paragraph-like piece of a document, in reading order."""

    text: str
    headings: tuple[str, ...] = ()  # the heading path above it, outermost first
    page: int | None = None  # 1-based, PDFs only
    line: int | None = None  # 1-based first line in the source, text formats only


@dataclass(frozen=True, slots=True)
class ParsedDocument:
    title: str
    kind: Literal["txt", "md", "pdf", "html"]
    blocks: tuple[Block, ...]


@dataclass(frozen=True, slots=True)
class Chunk:
    """A passage as stored: its text and where it comes from."""

    text: str
    headings: tuple[str, ...] = ()
    page_start: int | None = None
    page_end: int | None = None
    line_start: int | None = None
    line_end: int | None = None

    @property
    def locator(self) -> str:
        """Where the passage stands, for people: `Leave > Parental leave`, `p. 3`, `lines 4-9`."""
        parts: list[str] = []
        if self.page_start is not None:
            end = self.page_end or self.page_start
            parts.append(
                f"p. {self.page_start}"
                if end == self.page_start
                else f"pp. {self.page_start}-{end}"
            )
        if self.headings:
            parts.append(" > ".join(self.headings))
        elif self.line_start is not None and self.page_start is None:
            end = self.line_end or self.line_start
            parts.append(
                f"line {self.line_start}"
                if end == self.line_start
                else f"lines {self.line_start}-{end}"
            )
        return ", ".join(parts)


@dataclass(frozen=True, slots=True)
class DocumentInfo:
    id: str
    title: str
    source: str  # the path or uploaded file name; ingesting it again replaces the document
    kind: str
    content_hash: str  # sha256 of the file's bytes
    size_bytes: int
    chunks: int
    created_at: float  # Unix time of this version's ingest


@dataclass(frozen=True, slots=True)
class IngestResult:
    document: DocumentInfo
    status: Literal["added", "replaced", "unchanged"]


@dataclass(frozen=True, slots=True)
class Passage:
    """A search hit. `score` is the cosine similarity of passage and question, the figure
    the relevance threshold applies to; passages come ranked by hybrid fusion."""

    document_id: str
    title: str
    locator: str
    text: str
    score: float
    chunk_id: int = field(default=0, compare=False)
