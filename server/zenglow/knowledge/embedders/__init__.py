"""Embedding models behind one `Embedder` Protocol: the embedded MiniLM (ONNX Runtime),
Ollama's `/api/embed` and OpenAI-compatible `/v1/embeddings`; `embedder_from()` builds the
one the settings name, with its fallback servers."""

from __future__ import annotations

from ...settings.knowledge import EmbedderSettings
from ..documents import EmbedderError
from .base import Embedder
from .failover import FailoverEmbedder, Observe

__all__ = ["Embedder", "EmbedderError", "FailoverEmbedder", "embedder_from"]


def embedder_from(settings: EmbedderSettings, *, observe: Observe | None = None) -> Embedder:
    members: list[Embedder] = []
    if settings.kind == "embedded":
        from .minilm import MiniLmEmbedder

        members.append(MiniLmEmbedder(threads=settings.threads, batch_size=settings.batch_size))
    else:
        assert settings.model is not None  # the settings check it
        common = {
            "batch_size": settings.batch_size,
            "timeout": settings.timeout_s,
            "document_prefix": settings.document_prefix,
            "query_prefix": settings.query_prefix,
        }
        for url in settings.urls():
            if settings.kind == "ollama":
                from .ollama import OllamaEmbedder

                members.append(
                    OllamaEmbedder(
                        settings.model, host=url, keep_alive=settings.keep_alive, **common
                    )
                )
            else:
                from .openai import OpenAIEmbedder

                members.append(
                    OpenAIEmbedder(settings.model, url=url, api_key=settings.api_key, **common)
                )
    return FailoverEmbedder(members, observe=observe)
