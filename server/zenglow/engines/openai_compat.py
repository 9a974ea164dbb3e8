"""`OpenAICompatChat`: a `ChatModel` streaming `/v1/chat/completions` (vLLM, llama.cpp server,
LM Studio and other OpenAI-compatible servers).

The reply arrives as server-sent events (`data: {json}` lines, ending with `data: [DONE]`).
Every failure becomes an `OpenAICompatError` (an `EngineError`) with a `kind` for metrics and
a message that says what to do.  Cancelling the consumer closes the HTTP stream, which makes
the server stop generating.
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import AsyncGenerator, Iterator, Mapping, Sequence
from typing import Any, NoReturn

import httpx

from zenglow.engines.base import ChatMessage, EngineError
from zenglow.engines.budget import ContextTooLong, is_overflow


class OpenAICompatError(EngineError):
    """`kind`: unreachable, timeout, http, model_missing or other."""

    def __init__(self, message: str, kind: str = "other") -> None:
        super().__init__(message)
        self.kind = kind


def base_url(url: str) -> str:
    """The API root: `url` without a trailing slash, ending in `/v1`."""
    url = url.rstrip("/")
    return url if url.endswith("/v1") else f"{url}/v1"


def sse_data(line: str) -> str | None:
    """The payload of an SSE `data:` line; None for other fields, comments and blank lines."""
    if not line.startswith("data:"):
        return None
    return line[5:].removeprefix(" ")


def error_text(body: bytes) -> str:
    """The message of an OpenAI-style error body (or the body itself, shortened)."""
    try:
        doc = json.loads(body)
    except ValueError:
        return body.decode("utf-8", "replace").strip()[:200]
    if isinstance(doc, dict):
        err = doc.get("error", doc)
        if isinstance(err, dict):
            return str(err.get("message") or err)
        return str(err)
    return str(doc)[:200]


class OpenAICompatChat:
    """Chat with one model on one OpenAI-compatible server."""

    def __init__(
        self,
        model: str,
        *,
        url: str,
        api_key: str | None = None,
        temperature: float | None = None,
        extra: Mapping[str, Any] | None = None,
        timeout: float = 60.0,
        name: str | None = None,
    ) -> None:
        self.model = model
        self.url = base_url(url)
        self.temperature = temperature
        self.extra: dict[str, Any] = dict(extra or {})  # more request fields (top_p, ...)
        self.timeout = timeout
        self.name = name or f"openai:{model}"
        headers = {"Authorization": f"Bearer {api_key}"} if api_key else {}
        self._client = httpx.AsyncClient(
            headers=headers, timeout=httpx.Timeout(timeout, connect=min(timeout, 5.0))
        )

    async def aclose(self) -> None:
        await self._client.aclose()

    def request_body(
        self, messages: Sequence[ChatMessage], max_tokens: int | None = None
    ) -> dict[str, Any]:
        body: dict[str, Any] = {
            "model": self.model,
            "messages": [{"role": m["role"], "content": m["content"]} for m in messages],
            "stream": True,
            **self.extra,
        }
        if max_tokens is not None:
            body["max_tokens"] = max_tokens
        if self.temperature is not None:
            body["temperature"] = self.temperature
        if messages and messages[-1]["role"] == "assistant":
            # Continue the final assistant message instead of starting a new one (vLLM's
            # names; llama.cpp server does this by itself).
            body.update(continue_final_message=True, add_generation_prompt=False)
        return body

    async def stream(
        self, messages: Sequence[ChatMessage], *, max_tokens: int | None = None
    ) -> AsyncGenerator[str, None]:
        """Stream the reply's text deltas."""
        body = self.request_body(messages, max_tokens)
        finished = False
        with self._errors():
            async with self._client.stream(
                "POST", f"{self.url}/chat/completions", json=body
            ) as response:
                if response.status_code != 200:
                    self._raise_status(response.status_code, await response.aread())
                async for line in response.aiter_lines():
                    data = sse_data(line)
                    if data is None:
                        continue
                    if data.strip() == "[DONE]":
                        return
                    text, done = self._delta(json.loads(data))
                    finished = finished or done
                    if text:
                        yield text
        if not finished:
            raise OpenAICompatError(
                f"{self.url} ended the reply from '{self.model}' early", "unreachable"
            )

    def _delta(self, chunk: Any) -> tuple[str, bool]:
        """A chunk's text, and whether it carries a finish reason."""
        if not isinstance(chunk, dict):
            raise ValueError(f"not a chat completion chunk: {chunk!r}"[:200])
        if "error" in chunk:
            message = error_text(json.dumps(chunk).encode())
            if is_overflow(message):
                raise ContextTooLong(f"{self.url} refused the conversation: {message}")
            raise OpenAICompatError(f"{self.url} failed during the reply: {message}")
        choices = chunk.get("choices") or [{}]
        delta = choices[0].get("delta") or {}
        return str(delta.get("content") or ""), choices[0].get("finish_reason") is not None

    async def models(self) -> list[str]:
        """The model names the server serves (`GET /v1/models`)."""
        with self._errors():
            response = await self._client.get(f"{self.url}/models", timeout=10.0)
            if response.status_code != 200:
                self._raise_status(response.status_code, response.content)
            data = response.json().get("data") or []
        return [str(m.get("id")) for m in data if isinstance(m, dict)]

    async def check(self) -> str | None:
        """None when the server answers and serves the model, else what is wrong."""
        try:
            served = await self.models()
        except EngineError as e:
            return str(e)
        if self.model not in served:
            listed = ", ".join(served) or "none"
            return f"model '{self.model}' is not served by {self.url} (it serves: {listed})"
        return None

    async def warm_up(self) -> None:
        """Have the server load the model: a one-token reply."""
        async for _ in self.stream([{"role": "user", "content": "Hello"}], max_tokens=1):
            pass

    def _raise_status(self, status: int, body: bytes) -> NoReturn:
        text = error_text(body)
        if status in (400, 413, 422) and is_overflow(text):
            raise ContextTooLong(f"{self.url} answered HTTP {status}: {text}")
        if status == 404:
            raise OpenAICompatError(
                f"model '{self.model}' is not served by {self.url} ({text}): check the name "
                "against GET /v1/models",
                "model_missing",
            )
        if status in (401, 403):
            raise OpenAICompatError(
                f"{self.url} refused the api_key: HTTP {status}: {text}", "http"
            )
        raise OpenAICompatError(f"{self.url} answered HTTP {status}: {text}", "http")

    @contextlib.contextmanager
    def _errors(self) -> Iterator[None]:
        """Turn transport failures into `OpenAICompatError`s with advice."""
        try:
            yield
        except (httpx.ConnectError, httpx.ConnectTimeout, ConnectionError) as e:
            raise OpenAICompatError(
                f"cannot reach {self.url}: is the server running?", "unreachable"
            ) from e
        except httpx.TimeoutException as e:
            raise OpenAICompatError(
                f"{self.url} sent nothing for {self.timeout:g} s while answering with "
                f"'{self.model}'",
                "timeout",
            ) from e
        except httpx.TransportError as e:
            raise OpenAICompatError(
                f"the connection to {self.url} broke during a reply from '{self.model}': {e}",
                "unreachable",
            ) from e
        except ValueError as e:  # a data line that is not JSON, or not a chunk
            raise OpenAICompatError(f"{self.url} sent a malformed reply: {e}") from e
