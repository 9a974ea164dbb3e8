"""Leonardo's documents: ingest (formats, chunking), embeddings, the store and retrieval.

`Knowledge` is the way in: `ingest(path | bytes, filename)`, `documents()`, `document(id)`,
`delete(id)`, `search(question, k) -> [Passage]` and `reindex()`, built from the
`[knowledge]` settings.  Nothing here knows about sessions or transports.
"""

from __future__ import annotations

from .documents import (
    DocumentError,
    DocumentInfo,
    DocumentNotFound,
    EmbedderError,
    EmbedderMismatch,
    IngestResult,
    KnowledgeError,
    Passage,
)
from .formats import SUFFIXES
from .service import Knowledge

__all__ = [
    "SUFFIXES",
    "DocumentError",
    "DocumentInfo",
    "DocumentNotFound",
    "EmbedderError",
    "EmbedderMismatch",
    "IngestResult",
    "Knowledge",
    "KnowledgeError",
    "Passage",
]
