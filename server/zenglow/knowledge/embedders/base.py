"""The `Embedder` capability, and what all embedders share: L2 normalisation and the
instruction prefixes some models need to tell passages from questions."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Protocol, TypeVar

import numpy as np

from ..documents import EmbedderError
from ..ranking import Relevance

# Models trained with an instruction before each text (model name start -> passage prefix,
# question prefix).  Without them their retrieval is markedly worse.
KNOWN_PREFIXES: dict[str, tuple[str, str]] = {
    "nomic-embed-text": ("search_document: ", "search_query: "),
    "mxbai-embed-large": ("", "Represent this sentence for searching relevant passages: "),
    "snowflake-arctic-embed": ("", "Represent this sentence for searching relevant passages: "),
}
# When a passage answers a question (see `Relevance`), by model name start.  nomic-embed-text
# places unrelated texts higher than MiniLM does.
KNOWN_RELEVANCE: dict[str, Relevance] = {"nomic-embed-text": Relevance(0.55, 0.45)}
DEFAULT_RELEVANCE = Relevance(0.35, 0.2)
T = TypeVar("T")


class Embedder(Protocol):
    """Texts to unit vectors. Blocking work runs off the event loop."""

    @property
    def id(self) -> str:
        """Names the vector space (model, passage prefix); stored with the index."""

    @property
    def name(self) -> str:
        """The endpoint, for metrics and messages."""

    @property
    def dimension(self) -> int | None:
        """Vector size; None until a remote model has answered once."""

    @property
    def relevance(self) -> Relevance:
        """When a passage counts as relevant, by default, for this model."""

    async def embed_documents(self, texts: Sequence[str]) -> np.ndarray:
        """(len(texts), dimension) float32, each row of unit length."""

    async def embed_query(self, text: str) -> np.ndarray:
        """(dimension,) float32 of unit length."""

    async def aclose(self) -> None: ...


def model_key(model: str) -> str:
    """The model's name without organisation or tag, lowercase: the key the tables above
    are matched against by prefix (`nomic-ai/nomic-embed-text-v1.5` -> nomic-embed-text)."""
    return model.rsplit("/", 1)[-1].split(":", 1)[0].lower()


def _known(table: Mapping[str, T], model: str) -> T | None:
    key = model_key(model)
    return next((v for k, v in table.items() if key.startswith(k)), None)


def prefixes_for(model: str, document: str | None, query: str | None) -> tuple[str, str]:
    """The passage and question prefixes: those given, else the model's known ones."""
    known = _known(KNOWN_PREFIXES, model) or ("", "")
    return (known[0] if document is None else document, known[1] if query is None else query)


def relevance_for(model: str) -> Relevance:
    return _known(KNOWN_RELEVANCE, model) or DEFAULT_RELEVANCE


def space_id(kind: str, model: str, document_prefix: str, default_prefix: str) -> str:
    """`kind:model`, plus the passage prefix when it is not the model's own."""
    base = f"{kind}:{model}"
    return base if document_prefix == default_prefix else f"{base}[doc={document_prefix!r}]"


def unit_rows(vectors: object, *, expected: int, source: str) -> np.ndarray:
    """Vectors from a server as float32 unit rows; malformed answers are an `EmbedderError`."""
    try:
        m = np.asarray(vectors, dtype=np.float32)
    except (TypeError, ValueError):
        raise EmbedderError(f"{source} sent embeddings that are not lists of numbers") from None
    if m.ndim != 2 or m.shape[0] != expected or m.shape[1] == 0:
        raise EmbedderError(
            f"{source} sent {m.shape[0] if m.ndim else 0} embeddings for {expected} texts"
        )
    if not np.isfinite(m).all():
        raise EmbedderError(f"{source} sent embeddings with NaN or infinite values")
    return normalise(m)


def normalise(m: np.ndarray) -> np.ndarray:
    norms = np.linalg.norm(m, axis=1, keepdims=True)
    return (m / np.clip(norms, 1e-12, None)).astype(np.float32, copy=False)


class RemoteEmbedder:
    """What the server-backed embedders share: prefixes, batching, the learnt dimension.
    Subclasses send one batch in `_request`."""

    kind = "remote"

    def __init__(
        self,
        model: str,
        *,
        name: str,
        batch_size: int = 32,
        timeout: float = 60.0,
        document_prefix: str | None = None,
        query_prefix: str | None = None,
        space_model: str | None = None,
    ) -> None:
        self.model = model
        self.name = name
        self.batch_size = batch_size
        self.timeout = timeout
        self.document_prefix, self.query_prefix = prefixes_for(model, document_prefix, query_prefix)
        default_prefix = prefixes_for(model, None, None)[0]
        self.id = space_id(self.kind, space_model or model, self.document_prefix, default_prefix)
        self.relevance = relevance_for(model)
        self.dimension: int | None = None

    async def embed_documents(self, texts: Sequence[str]) -> np.ndarray:
        return await self._embed([self.document_prefix + t for t in texts])

    async def embed_query(self, text: str) -> np.ndarray:
        return (await self._embed([self.query_prefix + text]))[0]

    async def _embed(self, texts: list[str]) -> np.ndarray:
        parts = [
            await self._request(texts[start : start + self.batch_size])
            for start in range(0, len(texts), self.batch_size)
        ]
        if not parts:
            return np.zeros((0, self.dimension or 0), dtype=np.float32)
        vectors = np.concatenate(parts)
        self.dimension = int(vectors.shape[1])
        return vectors

    async def _request(self, batch: list[str]) -> np.ndarray:
        raise NotImplementedError
