"""`OllamaChat`: a `ChatModel` streaming `/api/chat` from an Ollama server.

Every failure becomes an `EngineError` whose message says what to do about it: start the
server, pull the model, or look at the HTTP status it answered with.  Cancelling the
consumer closes the HTTP stream, which makes Ollama stop generating.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncGenerator, Iterator, Mapping, Sequence
from types import TracebackType
from typing import Any, NoReturn, cast

import httpx
import ollama

from zenglow.engines.base import ChatMessage, EngineError
from zenglow.engines.budget import ContextTooLong, is_overflow

DEFAULT_HOST = "http://127.0.0.1:11434"

# Options that decide how Ollama loads the model; warm_up sends them so that the first real
# request finds the model loaded with the same settings instead of reloading it.
_LOAD_OPTIONS = ("num_ctx", "num_gpu", "num_batch", "num_thread", "main_gpu", "use_mmap")


class OllamaChat:
    """Chat with one model on one Ollama server."""

    def __init__(
        self,
        model: str,
        *,
        host: str = DEFAULT_HOST,
        keep_alive: str | float | None = "30m",
        options: Mapping[str, Any] | None = None,
        timeout: float | None = 60.0,
        name: str | None = None,
    ) -> None:
        self.model = model
        self.host = host
        self.keep_alive = keep_alive
        self.options: dict[str, Any] = dict(options or {})
        self.timeout = timeout
        self.name = name or f"ollama:{model}"
        self._client = ollama.AsyncClient(host=host, timeout=timeout)

    async def aclose(self) -> None:
        await self._client.close()

    async def __aenter__(self) -> OllamaChat:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.aclose()

    def request_options(self, max_tokens: int | None = None) -> dict[str, Any]:
        """The `options` sent with a chat request; `max_tokens` becomes `num_predict`."""
        options = dict(self.options)
        if max_tokens is not None:
            options["num_predict"] = max_tokens
        return options

    async def stream(
        self, messages: Sequence[ChatMessage], *, max_tokens: int | None = None
    ) -> AsyncGenerator[str, None]:
        """Stream the reply's text deltas."""
        payload = [{"role": m["role"], "content": m["content"]} for m in messages]
        with self._errors():
            request = await self._client.chat(
                model=self.model,
                messages=payload,
                stream=True,
                options=self.request_options(max_tokens) or None,
                keep_alive=self.keep_alive,
            )
        # An async generator around the HTTP response: closing it closes the connection.
        parts = cast(AsyncGenerator[ollama.ChatResponse, None], request)
        try:
            done = False
            while not done:
                with self._errors():
                    part = await anext(parts, None)
                if part is None:
                    raise EngineError(
                        f"Ollama at {self.host} ended the reply from '{self.model}' early"
                    )
                done = bool(part.done)
                if part.message.content:
                    yield part.message.content
        finally:
            await parts.aclose()

    async def warm_up(self) -> None:
        """Load the model and keep it loaded for `keep_alive` (an empty chat loads it)."""
        load_options = {k: v for k, v in self.options.items() if k in _LOAD_OPTIONS}
        with self._errors():
            await self._client.chat(
                model=self.model,
                messages=[],
                options=load_options or None,
                keep_alive=self.keep_alive,
            )

    async def check(self) -> str | None:
        """None when the server answers and has the model, else what is wrong."""
        try:
            with self._errors():
                await self._client.show(self.model)
        except EngineError as e:
            return str(e)
        return None

    @contextlib.contextmanager
    def _errors(self) -> Iterator[None]:
        """Turn client and transport failures into `EngineError`s with advice."""
        try:
            yield
        except ollama.ResponseError as e:
            self._raise_response_error(e)
        except (httpx.ConnectError, httpx.ConnectTimeout, ConnectionError) as e:
            raise EngineError(
                f"cannot reach Ollama at {self.host}: is `ollama serve` running?"
            ) from e
        except httpx.TimeoutException as e:
            raise EngineError(
                f"Ollama at {self.host} sent nothing for {self.timeout} s "
                f"while answering with '{self.model}'"
            ) from e
        except httpx.TransportError as e:
            raise EngineError(
                f"the connection to Ollama at {self.host} broke during a reply "
                f"from '{self.model}': {e}"
            ) from e
        except ValueError as e:  # a line that is not JSON, or not a chat response
            raise EngineError(f"Ollama at {self.host} sent a malformed reply: {e}") from e

    def _raise_response_error(self, e: ollama.ResponseError) -> NoReturn:
        text = str(e.error)
        if is_overflow(text):
            raise ContextTooLong(f"Ollama at {self.host} refused the conversation: {text}") from e
        if e.status_code == 404 or ("model" in text.lower() and "not found" in text.lower()):
            raise EngineError(
                f"model '{self.model}' is not available on {self.host}: "
                f"run `ollama pull {self.model}`"
            ) from e
        if e.status_code < 0:
            raise EngineError(f"Ollama at {self.host} failed during the reply: {text}") from e
        raise EngineError(f"Ollama at {self.host} answered HTTP {e.status_code}: {text}") from e
