"""`Knowledge`: the user's documents, ingested, searched and managed; what the server and
the command line use.

Blocking work stays off the event loop: SQLite and the vector index live on one worker
thread (so they need no locks and writes are applied in order), parsing runs in a thread of
its own, and the embedder runs its model off the loop too.  A document is parsed, cut and
embedded before anything is written; then it is stored in one transaction.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, TypeVar

import numpy as np

from ..ops.metrics import Metrics
from ..settings.knowledge import KnowledgeSettings
from .chunking import chunk_blocks, embedding_text
from .documents import (
    Chunk,
    DocumentError,
    DocumentInfo,
    IngestResult,
    KnowledgeError,
    Passage,
)
from .embedders import Embedder, embedder_from
from .formats import kind_of, parse
from .ranking import Relevance, fuse, keyword_terms
from .store import Store
from .vectors import VectorIndex

log = logging.getLogger(__name__)
T = TypeVar("T")
Progress = Callable[[int, int], None]  # (done, total)

CANDIDATES = 50  # passages each ranking proposes to the fusion
ROUTE_MARGIN = 0.1  # route_similarity's default, above the relevance threshold


def _read(path: Path, max_bytes: int) -> tuple[bytes, str]:
    """The file's bytes, and its absolute path: the key a new version replaces."""
    try:
        size = path.stat().st_size
        if not path.is_file():
            raise DocumentError(f"{path}: not a file")
        if size > max_bytes:
            raise DocumentError(f"{path}: {size} bytes, larger than max_file_bytes ({max_bytes})")
        return path.read_bytes(), str(path.resolve())
    except FileNotFoundError:
        raise DocumentError(f"{path}: no such file") from None
    except PermissionError:
        raise DocumentError(f"{path}: not readable (permission denied)") from None
    except IsADirectoryError:
        raise DocumentError(f"{path}: a folder, not a file") from None


class Knowledge:
    def __init__(
        self,
        settings: KnowledgeSettings,
        *,
        embedder: Embedder | None = None,
        metrics: Metrics | None = None,
    ) -> None:
        self.settings = settings
        self.metrics = metrics
        observe = self._observe_embed if metrics is not None else None
        self.embedder = embedder or embedder_from(settings.embedder, observe=observe)
        self._worker = ThreadPoolExecutor(1, thread_name_prefix="knowledge")
        self._store: Store | None = None
        self._index = VectorIndex(
            exact_max=settings.exact_search_max_chunks,
            ann_path=settings.data_dir / "vectors.usearch",
        )

    def _observe_embed(self, endpoint: str, seconds: float) -> None:
        assert self.metrics is not None
        self.metrics.embed_seconds.labels(endpoint).observe(seconds)

    @property
    def relevance(self) -> Relevance:
        """The embedder's defaults, with what the settings give instead."""
        s, default = self.settings, self.embedder.relevance
        return Relevance(
            default.min_similarity if s.min_similarity is None else s.min_similarity,
            default.with_keywords
            if s.min_similarity_with_keywords is None
            else s.min_similarity_with_keywords,
        )

    @property
    def route_similarity(self) -> float:
        """The cosine from which a passage answers a question nobody said was about the
        documents: stricter than relevance, so small talk stays with Jarvis."""
        s = self.settings
        if s.route_min_similarity is not None:
            return s.route_min_similarity
        return round(self.relevance.min_similarity + ROUTE_MARGIN, 6)

    async def _on_worker(self, fn: Callable[..., T], *args: Any) -> T:
        return await asyncio.get_running_loop().run_in_executor(self._worker, fn, *args)

    def _db(self) -> Store:
        if self._store is None:
            try:
                self._store = Store(self.settings.data_dir)
            except OSError as exc:
                raise KnowledgeError(
                    f"cannot open the document index in {self.settings.data_dir}: {exc}"
                ) from None
        return self._store

    # --- ingest -------------------------------------------------------------------------------

    async def ingest(self, source: Path | str | bytes, filename: str | None = None) -> IngestResult:
        """Add a file (a path, or its bytes with its name); a changed file replaces the
        document from the same source, an unchanged one is left as it is."""
        if isinstance(source, bytes):
            if not filename:
                raise DocumentError("an uploaded document needs a file name")
            data, name, key = source, filename, filename
        else:
            path = Path(source)
            kind_of(path.name)  # refuse other formats before reading
            data, key = await asyncio.to_thread(_read, path, self.settings.max_file_bytes)
            name = filename or path.name
        digest = hashlib.sha256(data).hexdigest()
        existing = await self._on_worker(self._unchanged, key, digest)
        if existing is not None:
            return IngestResult(existing, "unchanged")
        s = self.settings
        parsed = await asyncio.to_thread(
            parse, data, name, max_bytes=s.max_file_bytes, max_pages=s.max_pages
        )
        chunks = chunk_blocks(
            parsed.blocks, target_chars=s.chunk_chars, overlap_chars=s.chunk_overlap_chars
        )
        vectors = await self.embedder.embed_documents(
            [embedding_text(parsed.title, c) for c in chunks]
        )
        info, replaced = await self._on_worker(
            self._store_document, key, parsed.title, parsed.kind, digest, len(data), chunks, vectors
        )
        return IngestResult(info, "replaced" if replaced else "added")

    def _unchanged(self, key: str, digest: str) -> DocumentInfo | None:
        store = self._db()
        store.check_space(self.embedder.id, self.embedder.dimension)
        found = store.by_source(key)
        return found if found is not None and found.content_hash == digest else None

    def _store_document(
        self,
        key: str,
        title: str,
        kind: str,
        digest: str,
        size: int,
        chunks: list[Chunk],
        vectors: np.ndarray,
    ) -> tuple[DocumentInfo, bool]:
        store = self._db()
        info, removed, added, generation = store.put(
            source=key,
            title=title,
            kind=kind,
            content_hash=digest,
            size_bytes=size,
            chunks=chunks,
            vectors=vectors,
            embedder=self.embedder.id,
        )
        if self._index.generation == generation - 1:
            self._index.apply(removed, added, vectors, generation, self.embedder.id)
        self._count()
        return info, bool(removed)

    # --- documents ----------------------------------------------------------------------------

    async def documents(self) -> list[DocumentInfo]:
        return await self._on_worker(lambda: self._db().documents())

    async def document(self, doc_id: str) -> DocumentInfo:
        return await self._on_worker(lambda: self._db().document(doc_id))

    async def passages_of(self, doc_id: str) -> list[Chunk]:
        return await self._on_worker(lambda: self._db().document_chunks(doc_id))

    async def delete(self, doc_id: str) -> None:
        await self._on_worker(self._delete, doc_id)

    def _delete(self, doc_id: str) -> None:
        removed, generation = self._db().delete(doc_id)
        if self._index.generation == generation - 1:
            self._index.apply(removed, [], np.empty((0, 0), np.float32), generation)
        self._count()

    def _count(self) -> None:
        if self.metrics is not None and self._store is not None:
            self.metrics.knowledge_documents.set(len(self._store.documents()))
            self.metrics.knowledge_chunks.set(self._store.chunk_count())

    # --- search -------------------------------------------------------------------------------

    async def search(
        self, query: str, k: int | None = None, *, relevance: Relevance | None = None
    ) -> list[Passage]:
        """The passages that answer `query` best, at most `k` (settings: top_k), none below
        the relevance threshold; an empty list means the documents do not answer it."""
        if not query.strip():
            return []
        started = time.perf_counter()
        await self._on_worker(self._check_space)
        vector = await self.embedder.embed_query(query)
        found = await self._on_worker(
            self.search_vector, vector, query, k or self.settings.top_k, relevance or self.relevance
        )
        if self.metrics is not None:
            self.metrics.knowledge_search_seconds.observe(time.perf_counter() - started)
        return found

    async def warm_up(self) -> None:
        """Load the embedding model, the index and its graph now rather than at the first
        question; an `EmbedderMismatch` when the index needs `zenglow reindex`."""
        await self._on_worker(self._check_space)
        await self.embedder.embed_query("warm up")
        await self._on_worker(self._current_index)
        await self._on_worker(self._count)

    async def passage_count(self) -> int:
        """How many passages the index holds (0: there is nothing to search)."""
        return await self._on_worker(lambda: self._db().chunk_count())

    def _check_space(self) -> None:
        self._db().check_space(self.embedder.id, self.embedder.dimension)

    def _current_index(self) -> VectorIndex:
        store = self._db()
        if self._index.generation != store.generation():
            ids, matrix, generation = store.vectors()
            space = store.space()
            self._index.load(ids, matrix, generation, space[0] if space else "")
        return self._index

    def search_vector(
        self, vector: np.ndarray, query: str, k: int, relevance: Relevance
    ) -> list[Passage]:
        """Blocking: hybrid search with the question's vector already made (for the worker
        thread, and for benchmarks that time retrieval alone)."""
        store = self._db()
        store.check_space(self.embedder.id, int(vector.shape[0]))
        index = self._current_index()
        vector_ids, _ = index.search(vector, CANDIDATES)
        keyword_ids = store.keyword_search(keyword_terms(query), CANDIDATES)
        fused = fuse(vector_ids.tolist(), keyword_ids)
        ids = np.array([i for i, _ in fused], dtype=np.int64)
        sims = index.similarity(vector, ids)
        keyword_hits = set(keyword_ids)
        chosen = [
            (int(i), float(s))
            for i, s in zip(ids, sims, strict=True)
            if relevance.accepts(float(s), int(i) in keyword_hits)
        ][:k]
        rows = store.passages([i for i, _ in chosen])
        return [
            Passage(rows[i][0], rows[i][1], rows[i][2].locator, rows[i][2].text, s, i)
            for i, s in chosen
            if i in rows
        ]

    # --- reindex ------------------------------------------------------------------------------

    async def reindex(self, progress: Progress | None = None) -> int:
        """Embed every passage again with the configured embedder; returns their number."""
        rows, generation = await self._on_worker(
            lambda: (list(self._db().texts()), self._db().generation())
        )
        batch = max(self.settings.embedder.batch_size, 1) * 4
        parts: list[np.ndarray] = []
        for start in range(0, len(rows), batch):
            texts = [embedding_text(title, c) for _, title, c in rows[start : start + batch]]
            parts.append(await self.embedder.embed_documents(texts))
            if progress is not None:
                progress(min(start + batch, len(rows)), len(rows))
        if not rows:
            return 0
        vectors = np.concatenate(parts)
        ids = [i for i, _, _ in rows]
        await self._on_worker(self._swap_vectors, ids, vectors, generation)
        return len(rows)

    def _swap_vectors(self, ids: list[int], vectors: np.ndarray, generation: int) -> None:
        self._db().replace_vectors(ids, vectors, self.embedder.id, generation)
        self._index.generation = -1  # reload on the next search

    async def aclose(self) -> None:
        def close() -> None:
            if self._store is not None:
                space = self._store.space()
                if space is not None and self._index.generation == self._store.generation():
                    self._index.save(space[0])
                self._store.close()
                self._store = None

        await self._on_worker(close)
        self._worker.shutdown(wait=True)
        await self.embedder.aclose()
