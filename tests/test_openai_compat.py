"""OpenAICompatChat against a scripted OpenAI-compatible server streaming server-sent events."""

from __future__ import annotations

import asyncio
import contextlib
import json
import threading
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

import pytest

from zenglow.engines.base import EngineError
from zenglow.engines.endpoint import Endpoint
from zenglow.engines.openai_compat import OpenAICompatChat, base_url, error_text, sse_data
from zenglow.engines.pool import ChatPool, FailoverInfo
from zenglow.ops.metrics import Metrics
from zenglow.settings import EndpointSettings

from .ollama_server import unused_port

USER = [{"role": "user", "content": "Hi!"}]


@dataclass
class Sse:
    """How the server answers /v1/chat/completions."""

    tokens: Sequence[str] = ("Hello", " there", "!")
    models: Sequence[str] = ("tiny",)
    token_delay: float = 0.0
    die_after: int | None = None  # drop the connection after this many tokens
    end_without_done: bool = False  # end cleanly, with no finish_reason and no [DONE]
    error_after: int | None = None  # send an error chunk after this many tokens
    status: int = 200
    message: str = "scripted failure"
    max_messages: int | None = None  # more: HTTP 400, the context length is exceeded


@dataclass
class Request:
    method: str
    path: str
    headers: dict[str, str]
    body: dict[str, Any]
    client_closed: bool = False
    done: threading.Event = field(default_factory=threading.Event)


class SseServer:
    """A loopback server speaking the streaming chat completions API, in its own thread."""

    def __init__(self) -> None:
        self.script = Sse()
        self.requests: list[Request] = []
        self.port = 0
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/v1"

    def __enter__(self) -> SseServer:
        self._thread.start()
        server = asyncio.run_coroutine_threadsafe(
            asyncio.start_server(self._handle, "127.0.0.1", 0), self._loop
        ).result(10)
        self._server = server
        self.port = server.sockets[0].getsockname()[1]
        return self

    def __exit__(self, *exc: object) -> None:
        self._loop.call_soon_threadsafe(self._server.close)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(10)

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        with contextlib.suppress(ConnectionError, asyncio.IncompleteReadError):
            method, path, _ = (await reader.readline()).decode().split(" ", 2)
            headers = {}
            while (line := await reader.readline()) not in (b"\r\n", b""):
                key, _, value = line.decode().partition(":")
                headers[key.strip().lower()] = value.strip()
            raw = await reader.readexactly(int(headers.get("content-length", "0")))
            req = Request(method, path, headers, json.loads(raw) if raw else {})
            self.requests.append(req)
            try:
                await self._respond(req, reader, writer)
            finally:
                req.done.set()
        writer.close()

    async def _respond(
        self, req: Request, reader: asyncio.StreamReader, writer: asyncio.StreamWriter
    ) -> None:
        s = self.script
        if req.path == "/v1/models":
            return _json(writer, 200, {"object": "list", "data": [{"id": m} for m in s.models]})
        if req.path != "/v1/chat/completions":
            return _json(writer, 404, {"error": {"message": "no such route"}})
        if s.max_messages is not None and len(req.body.get("messages", ())) > s.max_messages:
            message = "This model's maximum context length is 2048 tokens (context_length_exceeded)"
            return _json(writer, 400, {"error": {"message": message, "code": 400}})
        if s.status != 200:
            return _json(writer, s.status, {"error": {"message": s.message, "code": s.status}})
        writer.write(
            b"HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\n"
            b"Transfer-Encoding: chunked\r\nConnection: close\r\n\r\n"
        )
        _chunk(writer, b": keep-alive\n\nevent: message\n")  # lines a client must skip
        gone = asyncio.ensure_future(reader.read(1))  # EOF: the client went away
        try:
            for i, token in enumerate(s.tokens):
                if i == s.die_after:
                    return
                if i == s.error_after:
                    _event(writer, {"error": {"message": "out of memory"}})
                    return
                if i and s.token_delay:
                    await asyncio.wait([gone], timeout=s.token_delay)
                await asyncio.sleep(0)
                if gone.done():
                    req.client_closed = True
                    return
                _event(writer, {"choices": [{"index": 0, "delta": {"content": token}}]})
                await writer.drain()
            if not s.end_without_done:
                _event(writer, {"choices": [{"index": 0, "delta": {}, "finish_reason": "stop"}]})
                _chunk(writer, b"data: [DONE]\n\n")
            writer.write(b"0\r\n\r\n")
            await writer.drain()
        finally:
            gone.cancel()


def _json(writer: asyncio.StreamWriter, status: int, body: dict[str, Any]) -> None:
    data = json.dumps(body).encode()
    head = f"HTTP/1.1 {status} X\r\nContent-Type: application/json\r\n"
    head += f"Content-Length: {len(data)}\r\nConnection: close\r\n\r\n"
    writer.write(head.encode() + data)


def _chunk(writer: asyncio.StreamWriter, data: bytes) -> None:
    writer.write(f"{len(data):x}\r\n".encode() + data + b"\r\n")


def _event(writer: asyncio.StreamWriter, doc: dict[str, Any]) -> None:
    _chunk(writer, b"data: " + json.dumps(doc).encode() + b"\n\n")


@pytest.fixture(scope="module")
def sse_server() -> Iterator[SseServer]:
    with SseServer() as srv:
        yield srv


@pytest.fixture
def srv(sse_server: SseServer) -> SseServer:
    sse_server.script, sse_server.requests = Sse(), []
    return sse_server


async def reply(chat: OpenAICompatChat, messages: Any = USER, **kw: Any) -> str:
    return "".join([d async for d in chat.stream(messages, **kw)])


# --- pure pieces --------------------------------------------------------------------------


def test_sse_lines_and_urls() -> None:
    assert sse_data('data: {"a": 1}') == '{"a": 1}' and sse_data("data:[DONE]") == "[DONE]"
    assert sse_data(": keep-alive") is None and sse_data("event: message") is None
    assert sse_data("") is None
    assert base_url("http://gpu0:8001") == base_url("http://gpu0:8001/v1/") == "http://gpu0:8001/v1"
    assert error_text(b'{"error": {"message": "no"}}') == "no"
    assert error_text(b'{"object": "error", "message": "The model `x` does not exist."}')[:9] == (
        "The model"
    )
    assert error_text(b"<html>bad gateway</html>") == "<html>bad gateway</html>"


# --- streaming ------------------------------------------------------------------------------


async def test_streams_deltas_and_sends_the_request(srv: SseServer) -> None:
    chat = OpenAICompatChat(
        "tiny", url=srv.url.removesuffix("/v1"), api_key="k", temperature=0.3, extra={"top_p": 0.9}
    )
    assert await reply(chat, max_tokens=7) == "Hello there!"
    [req] = srv.requests
    assert (req.method, req.path) == ("POST", "/v1/chat/completions")
    assert req.headers["authorization"] == "Bearer k"
    body = req.body
    assert body["model"] == "tiny" and body["stream"] is True and body["messages"] == USER
    assert (body["max_tokens"], body["temperature"], body["top_p"]) == (7, 0.3, 0.9)
    assert "continue_final_message" not in body
    await chat.aclose()


async def test_a_final_assistant_message_is_continued(srv: SseServer) -> None:
    chat = OpenAICompatChat("tiny", url=srv.url)
    said = {"role": "assistant", "content": "Hello"}
    assert await reply(chat, [*USER, said]) == "Hello there!"
    body = srv.requests[0].body
    assert body["messages"][-1] == said
    assert body["continue_final_message"] is True and body["add_generation_prompt"] is False
    assert "Authorization" not in srv.requests[0].headers and "max_tokens" not in body


@pytest.mark.parametrize(
    ("status", "kind", "words"),
    [
        (404, "model_missing", "model 'tiny' is not served by"),
        (401, "http", "refused the api_key: HTTP 401"),
        (500, "http", "answered HTTP 500: scripted failure"),
    ],
)
async def test_http_errors_are_clear(srv: SseServer, status: int, kind: str, words: str) -> None:
    srv.script = Sse(status=status)
    with pytest.raises(EngineError, match=words) as err:
        await reply(OpenAICompatChat("tiny", url=srv.url))
    assert err.value.kind == kind  # type: ignore[attr-defined]


async def test_unreachable_server() -> None:
    chat = OpenAICompatChat("tiny", url=f"http://127.0.0.1:{unused_port()}/v1")
    with pytest.raises(EngineError, match=r"cannot reach .*is the server running"):
        await reply(chat)
    assert "cannot reach" in (await chat.check() or "")


@pytest.mark.parametrize(
    ("script", "words"),
    [
        (Sse(die_after=2), "connection to .* broke during a reply from 'tiny'"),
        (Sse(end_without_done=True), "ended the reply from 'tiny' early"),
        (Sse(error_after=1), "failed during the reply: out of memory"),
    ],
    ids=["dies", "ends-early", "error-event"],
)
async def test_broken_streams_raise_after_what_arrived(
    srv: SseServer, script: Sse, words: str
) -> None:
    srv.script = script
    got: list[str] = []
    with pytest.raises(EngineError, match=words):
        async for delta in OpenAICompatChat("tiny", url=srv.url).stream(USER):  # type: ignore[arg-type]
            got.append(delta)
    assert got == list(script.tokens[: script.die_after or script.error_after or 3])


async def test_closing_the_consumer_closes_the_stream(srv: SseServer) -> None:
    srv.script = Sse(tokens=("a",) * 200, token_delay=0.05)
    stream = OpenAICompatChat("tiny", url=srv.url).stream(USER)  # type: ignore[arg-type]
    async with contextlib.aclosing(stream):
        async for _ in stream:
            break
    req = srv.requests[0]
    assert await asyncio.to_thread(req.done.wait, 10)
    assert req.client_closed


async def test_check_and_warm_up(srv: SseServer) -> None:
    srv.script = Sse(models=("tiny", "other"))
    chat = OpenAICompatChat("tiny", url=srv.url)
    assert await chat.check() is None and await chat.models() == ["tiny", "other"]
    missing = OpenAICompatChat("big", url=srv.url)
    assert await missing.check() == (
        f"model 'big' is not served by {srv.url} (it serves: tiny, other)"
    )
    await chat.warm_up()
    warm = srv.requests[-1]
    assert warm.path == "/v1/chat/completions" and warm.body["max_tokens"] == 1


async def test_a_pool_resumes_a_cut_reply_on_another_openai_endpoint(srv: SseServer) -> None:
    with SseServer() as other:
        srv.script = Sse(tokens=("One", " two", " three", " four"), die_after=2)
        other.script = Sse(tokens=(" three", " four"))
        configs = [
            EndpointSettings(kind="openai", model="tiny", url=s.url, name=n)
            for s, n in ((srv, "first"), (other, "second"))
        ]
        endpoints = [Endpoint(OpenAICompatChat("tiny", url=c.url or ""), c) for c in configs]
        metrics = Metrics()
        pool = ChatPool("leonardo", endpoints, metrics=metrics, probe_first_s=60)
        moves: list[FailoverInfo] = []
        text = "".join([d async for d in pool.stream(USER, on_failover=moves.append)])  # type: ignore[arg-type]
        assert text == "One two three four"
        assert [(m.from_endpoint, m.to_endpoint) for m in moves] == [("first", "second")]
        resumed = other.requests[0].body
        assert resumed["messages"][-1] == {"role": "assistant", "content": "One two"}
        assert resumed["continue_final_message"] is True
        labels = {"persona": "leonardo", "endpoint": "first", "kind": "unreachable"}
        assert metrics.registry.get_sample_value("zenglow_llm_failures_total", labels) == 1
        await pool.aclose()
