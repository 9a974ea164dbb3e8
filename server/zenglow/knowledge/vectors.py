"""`VectorIndex`: nearest passages to a question vector, in memory, rebuilt from the store.

Up to `exact_max` passages the search is exact: one matrix product over every vector
(unit vectors, so the dot product is the cosine).  Beyond, an HNSW graph (usearch) answers
in a fraction of the time with nearly the same neighbours; it is saved beside the database
with the generation it reflects, so a restart loads it instead of building it again, and it
can always be rebuilt from SQLite.  The full matrix stays in memory either way: the cosine
of any passage (a keyword hit, say) is one dot product.
"""

from __future__ import annotations

import json
import logging
from pathlib import Path

import numpy as np

log = logging.getLogger(__name__)

# MiniLM's vectors spread over many dimensions: at 20k passages, 16 links per node found
# 84% of the exact top 5, 32 links 96% (expansion 96) and 99.7% (expansion 256).
_CONNECTIVITY = 32
_EXPANSION_ADD = 200
_EXPANSION_SEARCH = 256


class VectorIndex:
    def __init__(self, *, exact_max: int = 20000, ann_path: Path | None = None) -> None:
        self.exact_max = exact_max
        self.ann_path = ann_path
        self.generation = -1  # the store's generation it reflects; -1: not loaded
        self.ids = np.empty(0, dtype=np.int64)  # ascending
        self.matrix = np.empty((0, 0), dtype=np.float32)
        self._ann: object | None = None  # usearch.index.Index when the graph is in use
        self._space = ""  # the vector space the graph holds

    def __len__(self) -> int:
        return len(self.ids)

    @property
    def uses_graph(self) -> bool:
        return self._ann is not None

    def load(self, ids: np.ndarray, matrix: np.ndarray, generation: int, space: str) -> None:
        """Take every vector of the store; builds or loads the graph when there are many.
        A graph already in memory for the same space follows the difference instead (other
        processes' writes): passages keep their ids and vectors until they are deleted."""
        ann, old_ids = self._ann, self.ids
        self.ids, self.matrix, self.generation = ids, matrix, generation
        self._ann = None
        if len(ids) <= self.exact_max:
            return
        if ann is not None and space == self._space:
            removed = np.setdiff1d(old_ids, ids, assume_unique=True)
            added = np.setdiff1d(ids, old_ids, assume_unique=True)
            if len(removed):
                ann.remove(removed)  # type: ignore[attr-defined]
            if len(added):
                rows = np.searchsorted(ids, added)
                ann.add(added, matrix[rows])  # type: ignore[attr-defined]
            self._ann = ann
        else:
            self._ann = self._restore(generation, space) or self._build(space)
        self._space = space

    def apply(
        self,
        removed: list[int],
        added: list[int],
        vectors: np.ndarray,
        generation: int,
        space: str = "",
    ) -> None:
        """Follow one write of this process (the store went from generation - 1)."""
        if removed:
            keep = ~np.isin(self.ids, np.asarray(removed, dtype=np.int64))
            self.ids, self.matrix = self.ids[keep], self.matrix[keep]
        if added:
            new_ids = np.asarray(added, dtype=np.int64)
            vectors = np.asarray(vectors, dtype=np.float32)
            self.ids = np.concatenate([self.ids, new_ids])
            self.matrix = vectors if self.matrix.size == 0 else np.vstack([self.matrix, vectors])
            order = np.argsort(self.ids, kind="stable")
            if not np.all(order == np.arange(len(order))):
                self.ids, self.matrix = self.ids[order], self.matrix[order]
        self.generation = generation
        ann = self._ann
        if ann is not None:
            if removed:
                ann.remove(np.asarray(removed, dtype=np.int64))  # type: ignore[attr-defined]
            if added:
                ann.add(np.asarray(added, dtype=np.int64), vectors)  # type: ignore[attr-defined]
        elif len(self.ids) > self.exact_max:
            self._ann, self._space = self._build(space), space

    def search(self, query: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
        """The ids of the `k` nearest passages and their cosines, nearest first."""
        n = len(self.ids)
        if n == 0 or k <= 0:
            return np.empty(0, dtype=np.int64), np.empty(0, dtype=np.float32)
        if self._ann is not None:
            matches = self._ann.search(query, min(k, n))  # type: ignore[attr-defined]
            keys = np.asarray(matches.keys, dtype=np.int64)
            sims = self.similarity(query, keys)
            order = np.argsort(-sims, kind="stable")
            return keys[order], sims[order]
        sims = self.matrix @ query
        top = np.argpartition(-sims, k - 1)[:k] if k < n else np.arange(n)
        top = top[np.argsort(-sims[top], kind="stable")]
        return self.ids[top], sims[top]

    def similarity(self, query: np.ndarray, ids: np.ndarray) -> np.ndarray:
        """The cosine of the question with each of these passages (-1 for unknown ids)."""
        ids = np.asarray(ids, dtype=np.int64)
        rows = np.searchsorted(self.ids, ids)
        rows = np.clip(rows, 0, max(len(self.ids) - 1, 0))
        found = (self.ids[rows] == ids) if len(self.ids) else np.zeros(len(ids), bool)
        out = np.full(len(ids), -1.0, dtype=np.float32)
        if found.any():
            out[found] = self.matrix[rows[found]] @ query
        return out

    # --- the graph --------------------------------------------------------------------------

    def _build(self, space: str) -> object:
        from usearch.index import Index

        log.info("building the HNSW index over %d passages", len(self.ids))
        ann = Index(
            ndim=self.matrix.shape[1],
            metric="ip",
            dtype="f16",  # half the memory; the ranking is rechecked in f32 below
            connectivity=_CONNECTIVITY,
            expansion_add=_EXPANSION_ADD,
            expansion_search=_EXPANSION_SEARCH,
        )
        ann.add(self.ids, self.matrix)
        self._save(ann, space)
        return ann

    def _sidecar(self) -> Path | None:
        return self.ann_path.with_suffix(".json") if self.ann_path else None

    def _save(self, ann: object, space: str) -> None:
        sidecar = self._sidecar()
        if self.ann_path is None or sidecar is None or not space:
            return
        try:
            ann.save(str(self.ann_path))  # type: ignore[attr-defined]
            sidecar.write_text(json.dumps(self._facts(self.generation, space)))
        except OSError as exc:  # only a cache: the next start builds it again
            log.warning("cannot save the HNSW index to %s: %s", self.ann_path, exc)

    def _facts(self, generation: int, space: str) -> dict[str, object]:
        """What a saved graph must match to be loaded instead of built."""
        return {
            "generation": generation,
            "space": space,
            "count": len(self.ids),
            "graph": [_CONNECTIVITY, _EXPANSION_ADD, "f16"],
        }

    def save(self, space: str) -> None:
        """Save the graph as it is now (after writes), so the next start can load it."""
        if self._ann is not None:
            self._save(self._ann, space)

    def _restore(self, generation: int, space: str) -> object | None:
        sidecar = self._sidecar()
        if self.ann_path is None or sidecar is None or not self.ann_path.is_file():
            return None
        try:
            facts = json.loads(sidecar.read_text())
            if facts != self._facts(generation, space):
                return None
            from usearch.index import Index

            ann = Index.restore(str(self.ann_path))
        except (OSError, ValueError, RuntimeError) as exc:
            log.warning("cannot load the HNSW index %s (%s): rebuilding it", self.ann_path, exc)
            return None
        if ann is None or len(ann) != len(self.ids):
            return None
        ann.expansion_search = _EXPANSION_SEARCH
        return ann
