"""`FailoverEmbedder`: one model served from several places (the embeddings GPU, then
another), tried in order.  A server that fails is skipped for `retry_after_s`, then tried
again first.  Each request's latency goes to `observe(endpoint, seconds)`."""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable, Sequence

import numpy as np

from ..documents import EmbedderError
from ..ranking import Relevance
from .base import Embedder

Observe = Callable[[str, float], None]


class FailoverEmbedder:
    def __init__(
        self,
        members: Sequence[Embedder],
        *,
        observe: Observe | None = None,
        retry_after_s: float = 30.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if not members:
            raise ValueError("a FailoverEmbedder needs at least one embedder")
        ids = {m.id for m in members}
        if len(ids) > 1:
            raise ValueError(f"the embedders must share one vector space, not {sorted(ids)}")
        self.members = list(members)
        self.observe = observe
        self.retry_after_s = retry_after_s
        self._clock = clock
        self._down_until = [0.0] * len(self.members)

    @property
    def id(self) -> str:
        return self.members[0].id

    @property
    def name(self) -> str:
        return self.members[0].name

    @property
    def dimension(self) -> int | None:
        return next((m.dimension for m in self.members if m.dimension), None)

    @property
    def relevance(self) -> Relevance:
        return self.members[0].relevance

    async def embed_documents(self, texts: Sequence[str]) -> np.ndarray:
        return await self._first_answer(lambda m: m.embed_documents(texts))

    async def embed_query(self, text: str) -> np.ndarray:
        return await self._first_answer(lambda m: m.embed_query(text))

    async def _first_answer(self, call: Callable[[Embedder], Awaitable[np.ndarray]]) -> np.ndarray:
        now = self._clock()
        order = sorted(range(len(self.members)), key=lambda i: self._down_until[i] > now)
        errors: list[str] = []
        for i in order:
            member = self.members[i]
            started = time.perf_counter()
            try:
                vectors = await call(member)
            except EmbedderError as e:
                self._down_until[i] = self._clock() + self.retry_after_s
                errors.append(str(e))
                continue
            self._down_until[i] = 0.0
            if self.observe is not None:
                self.observe(member.name, time.perf_counter() - started)
            return vectors
        if len(errors) == 1:
            raise EmbedderError(errors[0])
        raise EmbedderError("every embedding server failed: " + "; ".join(errors))

    async def aclose(self) -> None:
        for member in self.members:
            await member.aclose()
