"""`OllamaEmbedder`: vectors from an Ollama server's `/api/embed`, in batches.

Ollama truncates each text to the model's context (`truncate: true`) and keeps the model
loaded for `keep_alive`.  Failures become `EmbedderError`s that say what to do: start the
server, pull the model, or look at the status it answered with.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit

import httpx
import numpy as np
import ollama

from ..documents import EmbedderError
from .base import RemoteEmbedder, unit_rows


def canonical(model: str) -> str:
    """Ollama's name for a model: `nomic-embed-text` is `nomic-embed-text:latest`."""
    return model if ":" in model.rsplit("/", 1)[-1] else f"{model}:latest"


class OllamaEmbedder(RemoteEmbedder):
    kind = "ollama"

    def __init__(
        self, model: str, *, host: str, keep_alive: str | float | None = "30m", **options: Any
    ) -> None:
        name = f"ollama@{urlsplit(host).netloc or host}"
        super().__init__(model, name=name, space_model=canonical(model), **options)
        self.host = host
        self.keep_alive = keep_alive
        self._client = ollama.AsyncClient(host=host, timeout=self.timeout)

    async def _request(self, batch: list[str]) -> np.ndarray:
        where = f"Ollama at {self.host}"
        try:
            reply = await self._client.embed(
                model=self.model, input=batch, truncate=True, keep_alive=self.keep_alive
            )
        except ollama.ResponseError as e:
            text = str(e.error)
            if e.status_code == 404 or "not found" in text.lower():
                raise EmbedderError(
                    f"embedding model '{self.model}' is not available on {self.host}: "
                    f"run `ollama pull {self.model}`"
                ) from e
            raise EmbedderError(f"{where} answered HTTP {e.status_code}: {text}") from e
        except (httpx.ConnectError, httpx.ConnectTimeout, ConnectionError) as e:
            raise EmbedderError(f"cannot reach {where}: is `ollama serve` running?") from e
        except httpx.TimeoutException as e:
            raise EmbedderError(f"{where} did not answer within {self.timeout} s") from e
        except (httpx.TransportError, ValueError) as e:
            raise EmbedderError(f"{where} sent a broken embedding reply: {e}") from e
        return unit_rows(reply.embeddings, expected=len(batch), source=self.name)

    async def aclose(self) -> None:
        await self._client.close()
