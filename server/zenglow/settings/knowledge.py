"""Knowledge settings (`[knowledge]`): where the document index lives, how files are cut
into passages, which embedding model turns them into vectors, and how retrieval ranks.
Part of the typed settings in `settings/__init__.py`."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal
from urllib.parse import urlsplit

from pydantic import Field, model_validator
from pydantic_core import PydanticCustomError

from .personas import DEFAULT_OLLAMA_URL, Section

EmbedderKind = Literal["embedded", "ollama", "openai"]


def default_data_dir() -> Path:
    """The per-user data folder (`~/.local/share/zenglow/knowledge` on Linux)."""
    import platformdirs

    return platformdirs.user_data_path("zenglow", appauthor=False) / "knowledge"


class EmbedderSettings(Section):
    """The embedding model: the embedded MiniLM, an Ollama server or an OpenAI-compatible one.

    The index remembers which model built it; changing the model (or its prefixes) needs
    `zenglow reindex` before documents can be searched again.
    """

    kind: EmbedderKind = Field(
        "embedded", description="embedded (MiniLM in-process), ollama (/api/embed) or openai"
    )
    model: str | None = Field(None, description="e.g. nomic-embed-text; required but embedded")
    url: str | None = Field(None, description="Ollama default http://127.0.0.1:11434")
    fallback_urls: list[str] = Field(
        default_factory=list, description="servers of the same model, tried when url fails"
    )
    api_key: str | None = Field(None, description="sent as a Bearer token (openai)")
    keep_alive: str = Field("30m", description="how long Ollama keeps the model loaded")
    document_prefix: str | None = Field(
        None, description="put before every passage; None = the model's known prefix"
    )
    query_prefix: str | None = Field(
        None, description="put before every question; None = the model's known prefix"
    )
    batch_size: int = Field(32, ge=1, le=2048, description="passages per embedding request")
    timeout_s: float = Field(60.0, gt=0.0)
    threads: int = Field(0, ge=0, description="embedded: ONNX Runtime threads; 0 = its default")

    @model_validator(mode="after")
    def _coherent(self) -> EmbedderSettings:
        if self.kind == "embedded":
            if self.model or self.url or self.fallback_urls:
                raise PydanticCustomError(
                    "invalid",
                    "model and url do not apply to the embedded MiniLM: remove them, "
                    "or choose the ollama or openai kind",
                )
            return self
        if not self.model:
            raise PydanticCustomError(
                "invalid", f"an {self.kind} embedder needs a model, e.g. nomic-embed-text"
            )
        if self.kind == "openai" and not self.url:
            raise PydanticCustomError(
                "invalid", "an openai embedder needs a url, e.g. http://gpu2:8001/v1"
            )
        for url in self.urls():
            if not url.startswith(("http://", "https://")) or not urlsplit(url).netloc:
                raise PydanticCustomError(
                    "invalid", f"url must look like http://host:port, not {url!r}"
                )
        return self

    def urls(self) -> list[str]:
        """The servers to try, in order (Ollama's local one when none is given)."""
        first = self.url or (DEFAULT_OLLAMA_URL if self.kind == "ollama" else None)
        return [u for u in [first, *self.fallback_urls] if u]


class KnowledgeSettings(Section):
    data_dir: Path = Field(
        default_factory=default_data_dir, description="the index: knowledge.sqlite3 and vectors"
    )
    embedder: EmbedderSettings = Field(default_factory=EmbedderSettings)
    max_file_bytes: int = Field(
        50 << 20, ge=1, description="larger files are refused before they are read"
    )
    max_pages: int = Field(2000, ge=1, description="PDFs with more pages are refused")
    chunk_chars: int = Field(
        700,
        ge=200,
        le=20000,
        description="passages are cut near this size, at paragraphs (MiniLM reads 256 tokens)",
    )
    chunk_overlap_chars: int = Field(
        120, ge=0, description="whole sentences repeated from the end of the previous passage"
    )
    top_k: int = Field(5, ge=1, le=100, description="passages a search returns at most")
    min_similarity: float | None = Field(
        None,
        ge=-1.0,
        le=1.0,
        description="cosine from which a passage is relevant; None = the model's default",
    )
    min_similarity_with_keywords: float | None = Field(
        None,
        ge=-1.0,
        le=1.0,
        description="lower cosine enough for a passage that shares words with the question",
    )
    route_min_similarity: float | None = Field(
        None,
        ge=-1.0,
        le=1.0,
        description="cosine from which a passage sends a question to Leonardo unasked; "
        "None = min_similarity + 0.1 (MiniLM: 0.45)",
    )
    exact_search_max_chunks: int = Field(
        20000, ge=0, description="beyond this many passages, an HNSW index answers"
    )

    @model_validator(mode="before")
    @classmethod
    def _expand_user(cls, data: Any) -> Any:
        if isinstance(data, dict) and isinstance(data.get("data_dir"), str):
            data = {**data, "data_dir": Path(data["data_dir"]).expanduser()}
        return data

    @model_validator(mode="after")
    def _overlap_fits(self) -> KnowledgeSettings:
        if self.chunk_overlap_chars * 2 > self.chunk_chars:
            raise PydanticCustomError(
                "invalid", "chunk_overlap_chars must be at most half of chunk_chars"
            )
        return self
