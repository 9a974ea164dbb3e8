"""OllamaChat against a scripted Ollama server on loopback."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator

import pytest

from tests.ollama_server import OllamaServer, Script, unused_port
from zenglow.engines.base import ChatMessage, EngineError
from zenglow.engines.ollama import OllamaChat

MESSAGES: list[ChatMessage] = [
    {"role": "system", "content": "You are Jarvis."},
    {"role": "user", "content": "Say hello."},
]


@pytest.fixture(scope="module")
def running_server() -> Iterator[OllamaServer]:
    with OllamaServer() as server:
        yield server


@pytest.fixture
def server(running_server: OllamaServer) -> OllamaServer:
    running_server.reset()
    return running_server


async def collect(chat: OllamaChat, **kwargs: int) -> list[str]:
    return [delta async for delta in chat.stream(MESSAGES, **kwargs)]


def test_request_options_map_max_tokens_to_num_predict() -> None:
    chat = OllamaChat("tiny", options={"num_ctx": 2048, "temperature": 0.2})
    assert chat.request_options() == {"num_ctx": 2048, "temperature": 0.2}
    assert chat.request_options(64) == {"num_ctx": 2048, "temperature": 0.2, "num_predict": 64}
    assert chat.options == {"num_ctx": 2048, "temperature": 0.2}  # per call, not sticky
    assert chat.name == "ollama:tiny"
    assert OllamaChat("tiny", name="jarvis").name == "jarvis"


async def test_stream_yields_scripted_deltas_in_order(server: OllamaServer) -> None:
    server.script = Script(tokens=("Hi", " there", ",", " how", " are", " you", "?"))
    options = {"num_ctx": 4096, "num_gpu": 99, "temperature": 0.6}
    async with OllamaChat("tiny", host=server.url, keep_alive="10m", options=options) as chat:
        deltas = await collect(chat, max_tokens=42)
    assert deltas == ["Hi", " there", ",", " how", " are", " you", "?"]
    assert "".join(deltas) == "Hi there, how are you?"
    [chat_request] = server.chats()
    body = chat_request.body
    assert body["model"] == "tiny"
    assert body["stream"] is True
    assert body["keep_alive"] == "10m"
    assert body["messages"] == MESSAGES
    assert body["options"] == {"num_ctx": 4096, "num_gpu": 99, "temperature": 0.6,
                               "num_predict": 42}  # fmt: skip


async def test_stream_without_options_sends_none(server: OllamaServer) -> None:
    async with OllamaChat("tiny", host=server.url, keep_alive=None) as chat:
        assert "".join(await collect(chat)) == "".join(Script().tokens)
    body = server.chats()[0].body
    assert "options" not in body and "keep_alive" not in body


async def test_missing_model_says_how_to_pull_it(server: OllamaServer) -> None:
    async with OllamaChat("llama9:70b", host=server.url) as chat:
        with pytest.raises(EngineError, match=r"ollama pull llama9:70b") as err:
            await collect(chat)
        assert server.url in str(err.value)
        problem = await chat.check()
    assert problem is not None and "ollama pull llama9:70b" in problem


async def test_check_is_none_when_model_present(server: OllamaServer) -> None:
    async with OllamaChat("tiny", host=server.url) as chat:
        assert await chat.check() is None
    assert server.exchanges[-1].path == "/api/show"
    assert server.exchanges[-1].body == {"model": "tiny"}


async def test_unreachable_host_says_to_start_ollama() -> None:
    host = f"http://127.0.0.1:{unused_port()}"
    async with OllamaChat("tiny", host=host, timeout=5.0) as chat:
        with pytest.raises(EngineError, match=r"cannot reach Ollama at .*ollama serve"):
            await collect(chat)
        with pytest.raises(EngineError, match="cannot reach Ollama"):
            await chat.warm_up()
        problem = await chat.check()
    assert problem is not None and host in problem


async def test_other_http_errors_carry_the_status(server: OllamaServer) -> None:
    server.script = Script(fail_status=500, fail_message="out of memory")
    async with OllamaChat("tiny", host=server.url) as chat:
        with pytest.raises(EngineError, match=r"HTTP 500: out of memory"):
            await collect(chat)


async def test_death_mid_stream_is_an_error_after_the_sent_tokens(server: OllamaServer) -> None:
    server.script = Script(tokens=("one", " two", " three", " four"), die_after=2)
    received: list[str] = []
    async with OllamaChat("tiny", host=server.url, timeout=10.0) as chat:
        with pytest.raises(EngineError, match="broke during a reply"):
            async for delta in chat.stream(MESSAGES):
                received.append(delta)
    assert received == ["one", " two"]


async def test_stream_ending_without_done_is_an_error(server: OllamaServer) -> None:
    server.script = Script(tokens=("one", " two"), omit_done=True)
    async with OllamaChat("tiny", host=server.url) as chat:
        with pytest.raises(EngineError, match="ended the reply from 'tiny' early"):
            await collect(chat)


async def test_stalled_stream_is_bounded_by_the_timeout(server: OllamaServer) -> None:
    server.script = Script(tokens=("one", " two", " three"), stall_after=1)
    async with OllamaChat("tiny", host=server.url, timeout=0.5) as chat:
        with pytest.raises(EngineError, match=r"sent nothing for 0.5 s"):
            await collect(chat)
    [exchange] = server.chats()
    assert await asyncio.to_thread(exchange.finished.wait, 10)
    assert exchange.tokens_sent == 1
    assert exchange.client_closed


async def test_slow_first_token_within_timeout_still_streams(server: OllamaServer) -> None:
    server.script = Script(tokens=("late", " but", " fine"), first_token_delay=0.2)
    async with OllamaChat("tiny", host=server.url, timeout=10.0) as chat:
        assert await collect(chat) == ["late", " but", " fine"]


async def test_cancelling_the_consumer_closes_the_stream(server: OllamaServer) -> None:
    tokens = tuple(f" t{i}" for i in range(50))
    server.script = Script(tokens=tokens, stall_after=3)
    first = asyncio.Event()
    received: list[str] = []

    async def consume(chat: OllamaChat) -> None:
        async for delta in chat.stream(MESSAGES):
            received.append(delta)
            if len(received) == 3:
                first.set()

    async with OllamaChat("tiny", host=server.url, timeout=30.0) as chat:
        task = asyncio.create_task(consume(chat))
        await first.wait()
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        [exchange] = server.chats()
        assert await asyncio.to_thread(exchange.finished.wait, 10)
    assert received == [" t0", " t1", " t2"]
    assert exchange.client_closed
    assert exchange.tokens_sent == 3


async def test_breaking_out_of_the_stream_closes_it(server: OllamaServer) -> None:
    server.script = Script(tokens=tuple(f" t{i}" for i in range(50)), stall_after=2)
    async with OllamaChat("tiny", host=server.url, timeout=30.0) as chat:
        stream = chat.stream(MESSAGES)
        assert await anext(stream) == " t0"
        await stream.aclose()  # what `break` in `async for` leads to
        [exchange] = server.chats()
        assert await asyncio.to_thread(exchange.finished.wait, 10)
    assert exchange.client_closed


async def test_warm_up_sends_empty_messages_and_keep_alive(server: OllamaServer) -> None:
    options = {"num_ctx": 4096, "num_gpu": 99, "temperature": 0.6}
    async with OllamaChat("tiny", host=server.url, keep_alive="1h", options=options) as chat:
        await chat.warm_up()
    [exchange] = server.chats()
    assert exchange.body["model"] == "tiny"
    assert exchange.body["messages"] == []
    assert exchange.body["keep_alive"] == "1h"
    assert exchange.body["options"] == {"num_ctx": 4096, "num_gpu": 99}


async def test_warm_up_of_a_missing_model_says_how_to_pull_it(server: OllamaServer) -> None:
    async with OllamaChat("absent", host=server.url) as chat:
        with pytest.raises(EngineError, match=r"ollama pull absent"):
            await chat.warm_up()
