"""`OpenAIEmbedder`: vectors from an OpenAI-compatible `/v1/embeddings` (vLLM, llama.cpp
server, LM Studio, text-embeddings-inference), in batches.  Asks for
`encoding_format: "float"`, since some servers default to base64."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit

import httpx
import numpy as np

from ...engines.openai_compat import base_url, error_text
from ..documents import EmbedderError
from .base import RemoteEmbedder, unit_rows


class OpenAIEmbedder(RemoteEmbedder):
    kind = "openai"

    def __init__(self, model: str, *, url: str, api_key: str | None = None, **options: Any):
        self.url = base_url(url)
        super().__init__(model, name=f"openai@{urlsplit(self.url).netloc}", **options)
        headers = {"Authorization": f"Bearer {api_key}"} if api_key else {}
        self._client = httpx.AsyncClient(
            headers=headers, timeout=httpx.Timeout(self.timeout, connect=min(self.timeout, 5.0))
        )

    async def _request(self, batch: list[str]) -> np.ndarray:
        body = {"model": self.model, "input": batch, "encoding_format": "float"}
        where = f"the embedding server at {self.url}"
        try:
            response = await self._client.post(f"{self.url}/embeddings", json=body)
        except (httpx.ConnectError, httpx.ConnectTimeout) as e:
            raise EmbedderError(f"cannot reach {where}") from e
        except httpx.TimeoutException as e:
            raise EmbedderError(f"{where} did not answer within {self.timeout} s") from e
        except httpx.TransportError as e:
            raise EmbedderError(f"the connection to {where} broke: {e}") from e
        if response.status_code != 200:
            text = error_text(response.content)
            if response.status_code == 404 and "model" in text.lower():
                raise EmbedderError(f"{where} does not serve the model '{self.model}': {text}")
            raise EmbedderError(f"{where} answered HTTP {response.status_code}: {text}")
        try:
            data: list[dict[str, Any]] = response.json()["data"]
            rows = [d["embedding"] for d in sorted(data, key=lambda d: int(d["index"]))]
        except (ValueError, KeyError, TypeError) as e:
            raise EmbedderError(f"{where} sent a reply that is not an embedding list") from e
        return unit_rows(rows, expected=len(batch), source=self.name)

    async def aclose(self) -> None:
        await self._client.aclose()
