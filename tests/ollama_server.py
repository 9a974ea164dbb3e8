"""A scripted stand-in for an Ollama server, for tests of clients, failover and barge-in.

It speaks the documented HTTP API (`/api/chat` streaming NDJSON over chunked transfer
encoding, `/api/tags`, `/api/show`, 404 `{"error": "model 'x' not found"}`) on 127.0.0.1 at
an ephemeral port, from its own thread and event loop, so sync and async tests can use it
alike.  Each request is recorded as an `Exchange`; what the reply does (its tokens, delays,
dying or stalling mid-stream, failing with a status) comes from the current `Script`.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import socket
import threading
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

_REASONS = {200: "OK", 400: "Bad Request", 404: "Not Found", 500: "Internal Server Error"}
_CREATED_AT = "2025-01-01T00:00:00.000000Z"


@dataclass
class Script:
    """How the server answers; assign a new one to `OllamaServer.script` between tests."""

    tokens: Sequence[str] = ("Hello", " there", ",", " friend", "!")
    models: Sequence[str] = ("tiny:latest",)
    first_token_delay: float = 0.0  # seconds before the first token
    token_delay: float = 0.0  # seconds between tokens
    die_after: int | None = None  # close the connection after sending this many tokens
    stall_after: int | None = None  # after this many tokens, send nothing until the client leaves
    omit_done: bool = False  # end the stream cleanly but without the final `done` part
    fail_status: int | None = None  # answer /api/chat with this status and `fail_message`
    fail_message: str = "scripted failure"


@dataclass
class Exchange:
    """One request as the server saw it, and how its reply went."""

    method: str
    path: str
    body: dict[str, Any]
    tokens_sent: int = 0
    client_closed: bool = False  # the client went away before the reply was complete
    finished: threading.Event = field(default_factory=threading.Event)


def _canonical(model: str) -> str:
    return model if ":" in model else f"{model}:latest"


def unused_port() -> int:
    """A loopback port that nothing listens on (bound, then released)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class OllamaServer:
    def __init__(self, script: Script | None = None, *, port: int = 0) -> None:
        self.script = script or Script()
        self.exchanges: list[Exchange] = []
        self.port = port  # 0: any free port; a fixed one lets a test restart it in place
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._server: asyncio.Server | None = None
        self._tasks: set[asyncio.Task[None]] = set()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def chats(self) -> list[Exchange]:
        return [e for e in self.exchanges if e.path == "/api/chat"]

    def reset(self, script: Script | None = None) -> None:
        self.script = script or Script()
        self.exchanges.clear()

    # --- lifecycle ----------------------------------------------------------------------

    def start(self) -> OllamaServer:
        ready = threading.Event()
        self._loop = asyncio.new_event_loop()

        async def open_server() -> None:
            self._server = await asyncio.start_server(self._accept, "127.0.0.1", self.port)
            self.port = self._server.sockets[0].getsockname()[1]

        def run() -> None:
            assert self._loop is not None
            asyncio.set_event_loop(self._loop)
            self._loop.run_until_complete(open_server())
            ready.set()
            self._loop.run_forever()

        self._thread = threading.Thread(target=run, name="ollama-test-server", daemon=True)
        self._thread.start()
        if not ready.wait(10):
            raise RuntimeError("the test Ollama server did not start")
        return self

    def stop(self) -> None:
        if self._loop is None or self._thread is None:
            return
        loop = self._loop
        future = asyncio.run_coroutine_threadsafe(self._shutdown(), loop)
        future.result(10)
        loop.call_soon_threadsafe(loop.stop)
        self._thread.join(10)
        loop.close()
        self._loop = self._thread = None

    async def _shutdown(self) -> None:
        assert self._server is not None
        self._server.close()
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        await self._server.wait_closed()

    def __enter__(self) -> OllamaServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # --- HTTP ---------------------------------------------------------------------------

    async def _accept(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        self._tasks.add(task)
        try:
            await self._handle(reader, writer)
        except (ConnectionError, asyncio.IncompleteReadError):
            pass
        finally:
            self._tasks.discard(task)
            writer.close()

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        request_line = (await reader.readline()).decode("latin-1").split()
        if len(request_line) < 2:
            return
        method, path = request_line[0], request_line[1]
        headers: dict[str, str] = {}
        while (line := await reader.readline()) not in (b"\r\n", b"\n", b""):
            key, _, value = line.decode("latin-1").partition(":")
            headers[key.strip().lower()] = value.strip()
        raw = await reader.readexactly(int(headers.get("content-length", "0")))
        exchange = Exchange(method, path, json.loads(raw) if raw else {})
        self.exchanges.append(exchange)
        try:
            await self._respond(exchange, reader, writer)
        finally:
            exchange.finished.set()

    async def _respond(
        self, ex: Exchange, reader: asyncio.StreamReader, writer: asyncio.StreamWriter
    ) -> None:
        script = self.script
        known = {_canonical(m) for m in script.models}
        if ex.path == "/api/tags":
            models = [{"name": m, "model": m, "size": 1, "digest": "0" * 64} for m in known]
            return await _send_json(writer, 200, {"models": models})
        model = str(ex.body.get("model", ""))
        if ex.path not in ("/api/chat", "/api/show"):
            return await _send_json(writer, 404, {"error": "404 page not found"})
        if _canonical(model) not in known:
            return await _send_json(writer, 404, {"error": f"model '{model}' not found"})
        if ex.path == "/api/show":
            show = {"modelfile": "", "parameters": "", "template": "", "model_info": {}}
            return await _send_json(writer, 200, show)
        if script.fail_status is not None:
            return await _send_json(writer, script.fail_status, {"error": script.fail_message})
        if not ex.body.get("messages"):  # an empty chat only loads the model
            return await _send_json(writer, 200, _part(model, "", done_reason="load"))
        if ex.body.get("stream") is False:
            reply = _part(model, "".join(script.tokens), done_reason="stop")
            return await _send_json(writer, 200, reply)
        await self._stream_chat(ex, model, script, reader, writer)

    async def _stream_chat(
        self,
        ex: Exchange,
        model: str,
        script: Script,
        reader: asyncio.StreamReader,
        writer: asyncio.StreamWriter,
    ) -> None:
        head = "HTTP/1.1 200 OK\r\nContent-Type: application/x-ndjson\r\n"
        head += "Transfer-Encoding: chunked\r\nConnection: close\r\n\r\n"
        writer.write(head.encode())
        await writer.drain()
        # The client sends nothing after its request, so EOF here means it went away.
        gone = asyncio.ensure_future(reader.read(1))
        try:
            for i, token in enumerate(script.tokens):
                if i == script.die_after:
                    return
                if i == script.stall_after:
                    await gone
                delay = script.first_token_delay if i == 0 else script.token_delay
                if delay > 0:
                    await asyncio.wait([gone], timeout=delay)
                if gone.done():
                    ex.client_closed = True
                    return
                await _send_chunk(writer, _part(model, token))
                ex.tokens_sent += 1
            if script.die_after == len(script.tokens):
                return
            if not script.omit_done:
                await _send_chunk(writer, _part(model, "", done_reason="stop"))
            writer.write(b"0\r\n\r\n")
            await writer.drain()
        except ConnectionError:
            ex.client_closed = True
        finally:
            if gone.done() and not gone.cancelled():
                ex.client_closed = ex.client_closed or gone.result() == b""
            gone.cancel()
            with contextlib.suppress(asyncio.CancelledError, ConnectionError):
                await gone


def _part(model: str, content: str, *, done_reason: str | None = None) -> dict[str, Any]:
    part: dict[str, Any] = {
        "model": model,
        "created_at": _CREATED_AT,
        "message": {"role": "assistant", "content": content},
        "done": done_reason is not None,
    }
    if done_reason is not None:
        part.update(done_reason=done_reason, total_duration=1, eval_count=1)
    return part


async def _send_json(writer: asyncio.StreamWriter, status: int, body: dict[str, Any]) -> None:
    data = json.dumps(body).encode()
    head = f"HTTP/1.1 {status} {_REASONS.get(status, 'Error')}\r\n"
    head += "Content-Type: application/json; charset=utf-8\r\n"
    head += f"Content-Length: {len(data)}\r\nConnection: close\r\n\r\n"
    writer.write(head.encode() + data)
    await writer.drain()


async def _send_chunk(writer: asyncio.StreamWriter, part: dict[str, Any]) -> None:
    data = json.dumps(part).encode() + b"\n"
    writer.write(f"{len(data):x}\r\n".encode() + data + b"\r\n")
    await writer.drain()
