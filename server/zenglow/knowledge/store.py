"""`Store`: documents, their passages and the passages' vectors in one SQLite file (WAL).

Each document is written in one transaction, so a failure leaves nothing half-stored and a
reader never sees a document without its passages.  An FTS5 table, kept in step by triggers,
indexes the passages' words (Porter stemming) for keyword search.  The `meta` table names
the vector space (the embedder's id and dimension) the vectors belong to, and a `generation`
counter that every write raises, so in-memory indexes know when to reload.

Blocking; the `Knowledge` facade calls it from one worker thread.  Other processes (the
command line while the server runs) may write at the same time: SQLite serialises them.
"""

from __future__ import annotations

import contextlib
import json
import sqlite3
import time
import uuid
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from .documents import Chunk, DocumentInfo, DocumentNotFound, EmbedderMismatch, KnowledgeError
from .keywords import search as search_keywords

SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS documents (
    id TEXT PRIMARY KEY,
    source TEXT NOT NULL UNIQUE,
    title TEXT NOT NULL,
    kind TEXT NOT NULL,
    content_hash TEXT NOT NULL,
    size_bytes INTEGER NOT NULL,
    created_at REAL NOT NULL
);
CREATE TABLE IF NOT EXISTS chunks (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    document_id TEXT NOT NULL REFERENCES documents(id) ON DELETE CASCADE,
    ordinal INTEGER NOT NULL,
    text TEXT NOT NULL,
    headings TEXT NOT NULL,
    page_start INTEGER, page_end INTEGER, line_start INTEGER, line_end INTEGER,
    vector BLOB NOT NULL
);
CREATE INDEX IF NOT EXISTS chunks_by_document ON chunks (document_id, ordinal);
CREATE VIRTUAL TABLE IF NOT EXISTS chunks_fts USING fts5(
    text, headings, content='chunks', content_rowid='id',
    tokenize='porter unicode61 remove_diacritics 2'
);
CREATE TRIGGER IF NOT EXISTS chunks_fts_insert AFTER INSERT ON chunks BEGIN
    INSERT INTO chunks_fts (rowid, text, headings) VALUES (new.id, new.text, new.headings);
END;
CREATE TRIGGER IF NOT EXISTS chunks_fts_delete AFTER DELETE ON chunks BEGIN
    INSERT INTO chunks_fts (chunks_fts, rowid, text, headings)
    VALUES ('delete', old.id, old.text, old.headings);
END;
"""
_DOC_COLUMNS = "d.id, d.title, d.source, d.kind, d.content_hash, d.size_bytes, d.created_at"


def _info(row: Sequence[Any], chunks: int) -> DocumentInfo:
    id_, title, source, kind, digest, size, created = row
    return DocumentInfo(id_, title, source, kind, digest, size, chunks, created)


def _chunk(row: Sequence[Any]) -> Chunk:
    text, headings, p0, p1, l0, l1 = row
    return Chunk(text, tuple(json.loads(headings)), p0, p1, l0, l1)


class Store:
    FILENAME = "knowledge.sqlite3"

    def __init__(self, folder: Path) -> None:
        folder.mkdir(parents=True, exist_ok=True)
        self.path = folder / self.FILENAME
        self._db = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False)
        self._db.execute("PRAGMA busy_timeout = 10000")
        self._db.execute("PRAGMA journal_mode = WAL")
        self._db.execute("PRAGMA synchronous = NORMAL")
        self._db.execute("PRAGMA foreign_keys = ON")
        self._db.executescript(SCHEMA)  # idempotent: every statement is IF NOT EXISTS

    def close(self) -> None:
        self._db.close()

    @contextlib.contextmanager
    def _write(self) -> Iterator[sqlite3.Connection]:
        """One write transaction: all of it is stored, or none of it."""
        self._db.execute("BEGIN IMMEDIATE")
        try:
            yield self._db
        except BaseException:
            self._db.execute("ROLLBACK")
            raise
        self._db.execute("COMMIT")

    # --- the vector space and the generation --------------------------------------------

    def _meta(self, key: str) -> str | None:
        row = self._db.execute("SELECT value FROM meta WHERE key = ?", (key,)).fetchone()
        return None if row is None else str(row[0])

    def _set_meta(self, key: str, value: str) -> None:
        self._db.execute("INSERT OR REPLACE INTO meta (key, value) VALUES (?, ?)", (key, value))

    def space(self) -> tuple[str, int] | None:
        """The embedder id and dimension of the stored vectors; None while there are none."""
        embedder, dimension = self._meta("embedder"), self._meta("dimension")
        return None if embedder is None or dimension is None else (embedder, int(dimension))

    def check_space(self, embedder: str, dimension: int | None = None) -> None:
        """An `EmbedderMismatch` when the stored vectors come from another embedder."""
        stored = self.space()
        if stored is None:
            return
        differs = stored[0] != embedder or (dimension is not None and stored[1] != dimension)
        if differs and self.chunk_count():  # an empty index takes any embedder
            given = embedder if dimension is None else f"{embedder} ({dimension} dimensions)"
            raise EmbedderMismatch(
                f"the document index was built with {stored[0]} ({stored[1]} dimensions) "
                f"but the settings name {given}: run `zenglow reindex` to rebuild it"
            )

    def generation(self) -> int:
        return int(self._meta("generation") or 0)

    def _bump(self, embedder: str, dimension: int) -> int:
        generation = self.generation() + 1
        self._set_meta("generation", str(generation))
        self._set_meta("embedder", embedder)
        self._set_meta("dimension", str(dimension))
        return generation

    # --- documents ------------------------------------------------------------------------

    def by_source(self, source: str) -> DocumentInfo | None:
        row = self._db.execute(
            f"SELECT {_DOC_COLUMNS}, (SELECT count(*) FROM chunks c WHERE c.document_id = d.id)"
            " FROM documents d WHERE d.source = ?",
            (source,),
        ).fetchone()
        return None if row is None else _info(row[:-1], row[-1])

    def put(
        self,
        *,
        source: str,
        title: str,
        kind: str,
        content_hash: str,
        size_bytes: int,
        chunks: Sequence[Chunk],
        vectors: np.ndarray,
        embedder: str,
    ) -> tuple[DocumentInfo, list[int], list[int], int]:
        """Store a document, replacing the one from the same source.  Returns it, the ids of
        the passages removed and added, and the new generation."""
        if len(chunks) != len(vectors) or not chunks:
            raise ValueError("a document needs one vector per passage, and passages")
        dimension = int(vectors.shape[1])
        with self._write() as db:
            self.check_space(embedder, dimension)
            old = self.by_source(source)
            removed: list[int] = []
            if old is not None:
                removed = self._remove(old.id)
            doc_id = old.id if old is not None else uuid.uuid4().hex[:16]
            created = time.time()
            db.execute(
                "INSERT INTO documents VALUES (?, ?, ?, ?, ?, ?, ?)",
                (doc_id, source, title, kind, content_hash, size_bytes, created),
            )
            added = []
            for ordinal, (chunk, vector) in enumerate(zip(chunks, vectors, strict=True)):
                cursor = db.execute(
                    "INSERT INTO chunks (document_id, ordinal, text, headings, page_start,"
                    " page_end, line_start, line_end, vector) VALUES (?,?,?,?,?,?,?,?,?)",
                    (
                        doc_id,
                        ordinal,
                        chunk.text,
                        json.dumps(list(chunk.headings), ensure_ascii=False),
                        chunk.page_start,
                        chunk.page_end,
                        chunk.line_start,
                        chunk.line_end,
                        np.asarray(vector, dtype=np.float32).tobytes(),
                    ),
                )
                added.append(int(cursor.lastrowid or 0))
            generation = self._bump(embedder, dimension)
        info = DocumentInfo(
            doc_id, title, source, kind, content_hash, size_bytes, len(chunks), created
        )
        return info, removed, added, generation

    def _remove(self, doc_id: str) -> list[int]:
        removed = [
            int(r[0])
            for r in self._db.execute("SELECT id FROM chunks WHERE document_id = ?", (doc_id,))
        ]
        self._db.execute("DELETE FROM chunks WHERE document_id = ?", (doc_id,))
        self._db.execute("DELETE FROM documents WHERE id = ?", (doc_id,))
        return removed

    def delete(self, doc_id: str) -> tuple[list[int], int]:
        """Remove a document; returns its passages' ids and the new generation."""
        with self._write():
            if self._db.execute("SELECT 1 FROM documents WHERE id = ?", (doc_id,)).fetchone():
                removed = self._remove(doc_id)
            else:
                raise DocumentNotFound(f"no document with id {doc_id!r}")
            generation = self.generation() + 1
            self._set_meta("generation", str(generation))
        return removed, generation

    def documents(self) -> list[DocumentInfo]:
        rows = self._db.execute(
            f"SELECT {_DOC_COLUMNS}, count(c.id) FROM documents d"
            " LEFT JOIN chunks c ON c.document_id = d.id GROUP BY d.id ORDER BY d.created_at"
        ).fetchall()
        return [_info(r[:-1], r[-1]) for r in rows]

    def document(self, doc_id: str) -> DocumentInfo:
        found = [d for d in self.documents() if d.id == doc_id]  # few documents, one query
        if not found:
            raise DocumentNotFound(f"no document with id {doc_id!r}")
        return found[0]

    def document_chunks(self, doc_id: str) -> list[Chunk]:
        self.document(doc_id)
        rows = self._db.execute(
            "SELECT text, headings, page_start, page_end, line_start, line_end FROM chunks"
            " WHERE document_id = ? ORDER BY ordinal",
            (doc_id,),
        )
        return [_chunk(r) for r in rows]

    # --- passages ---------------------------------------------------------------------------

    def chunk_count(self) -> int:
        return int(self._db.execute("SELECT count(*) FROM chunks").fetchone()[0])

    def vectors(self) -> tuple[np.ndarray, np.ndarray, int]:
        """All passage ids (ascending), their vectors as one matrix, and the generation."""
        self._db.execute("BEGIN")
        try:
            space = self.space()
            count = self.chunk_count()
            dim = space[1] if space else 0
            ids = np.empty(count, dtype=np.int64)
            matrix = np.empty((count, dim), dtype=np.float32)
            rows = self._db.execute("SELECT id, vector FROM chunks ORDER BY id")
            for i, (chunk_id, blob) in enumerate(rows):
                ids[i] = chunk_id
                matrix[i] = np.frombuffer(blob, dtype=np.float32)
            return ids, matrix, self.generation()
        finally:
            self._db.execute("COMMIT")

    def passages(self, ids: Sequence[int]) -> dict[int, tuple[str, str, Chunk]]:
        """Passage id -> (document id, document title, passage)."""
        if not ids:
            return {}
        marks = ",".join("?" * len(ids))
        rows = self._db.execute(
            "SELECT c.id, c.document_id, d.title, c.text, c.headings, c.page_start, c.page_end,"
            f" c.line_start, c.line_end FROM chunks c JOIN documents d ON d.id = c.document_id"
            f" WHERE c.id IN ({marks})",
            [int(i) for i in ids],
        )
        return {int(r[0]): (str(r[1]), str(r[2]), _chunk(r[3:])) for r in rows}

    def keyword_search(self, terms: Sequence[str], limit: int) -> list[int]:
        """Passages holding any of `terms`, best first (see `keywords.py`)."""
        return search_keywords(self._db, terms, limit)

    def texts(self) -> Iterator[tuple[int, str, Chunk]]:
        """Every passage with its document's title, for re-embedding."""
        rows = self._db.execute(
            "SELECT c.id, d.title, c.text, c.headings, c.page_start, c.page_end, c.line_start,"
            " c.line_end FROM chunks c JOIN documents d ON d.id = c.document_id ORDER BY c.id"
        ).fetchall()
        for r in rows:
            yield int(r[0]), str(r[1]), _chunk(r[2:])

    def replace_vectors(
        self, ids: Sequence[int], vectors: np.ndarray, embedder: str, expected_generation: int
    ) -> int:
        """Swap in new vectors for every passage (`reindex`), in one transaction."""
        with self._write() as db:
            if self.generation() != expected_generation:
                raise KnowledgeError("the documents changed during the reindex: run it again")
            db.executemany(
                "UPDATE chunks SET vector = ? WHERE id = ?",
                (
                    (np.asarray(v, np.float32).tobytes(), int(i))
                    for i, v in zip(ids, vectors, strict=True)
                ),
            )
            return self._bump(embedder, int(vectors.shape[1]) if len(vectors) else 0)
