"""The context budget: history fitted by tokens in linear time, the Realtime `truncation`
setting, and a server's context overflow trimmed and asked again without marking it down."""

from __future__ import annotations

import time

import pytest

from zenglow.engines.base import ChatMessage
from zenglow.engines.budget import (
    ContextTooLong,
    Truncation,
    fit_messages,
    halved,
    is_overflow,
)
from zenglow.engines.bundled import QWEN, model_path
from zenglow.engines.endpoint import Endpoint
from zenglow.engines.llamacpp import LlamaCppChat
from zenglow.engines.openai_compat import OpenAICompatChat
from zenglow.engines.pool import ChatPool
from zenglow.ops.metrics import Metrics
from zenglow.settings import EndpointSettings
from zenglow.transports.realtime.session_config import parse_session_patch
from zenglow.transports.realtime.typed_json import JsonObject

from .test_openai_compat import Sse, SseServer

SYSTEM: ChatMessage = {"role": "system", "content": "Be kind."}


def history(n: int, words: int = 8) -> list[ChatMessage]:
    out: list[ChatMessage] = [SYSTEM]
    for i in range(n):
        role = "user" if i % 2 == 0 else "assistant"
        out.append({"role": role, "content": f"message {i} " + "word " * words})  # type: ignore[typeddict-item]
    return out


def words(m: ChatMessage) -> int:
    return len(m["content"].split())


def test_the_system_text_and_the_newest_turns_are_kept() -> None:
    messages = history(10)  # ten words a message
    kept = fit_messages(messages, words, 2 + 30)
    assert kept == [SYSTEM, *messages[-3:]]
    assert fit_messages(messages, words, 10**6) == messages
    with pytest.raises(ContextTooLong, match="last message alone"):
        fit_messages(messages, words, 5)


def test_truncation_disabled_refuses_and_retention_ratio_drops_more() -> None:
    messages = history(10)
    with pytest.raises(ContextTooLong, match="disabled"):
        fit_messages(messages, words, 42, Truncation("disabled"))
    assert fit_messages(messages, words, 10**6, Truncation("disabled")) == messages
    kept = fit_messages(messages, words, 2 + 60, Truncation("retention_ratio", 0.5))
    assert kept == [SYSTEM, *messages[-3:]]  # half of 60 words: three messages of ten


def test_halving_keeps_the_system_text_and_the_last_turn() -> None:
    messages = history(9)
    assert halved(messages) == [SYSTEM, *messages[5:]]
    with pytest.raises(ContextTooLong):
        halved([SYSTEM, messages[-1]])
    with pytest.raises(ContextTooLong, match="disabled"):
        halved(messages, Truncation("disabled"))


def test_overflow_messages_are_recognised() -> None:
    for text in (
        "This model's maximum context length is 4096 tokens",
        "the input length exceeds the context length",
        "requested tokens (5000) exceed context window of 4096",
        "prompt is too long",
    ):
        assert is_overflow(text), text
    assert not is_overflow("model 'tiny' not found")


@pytest.fixture(scope="module")
def qwen() -> LlamaCppChat:
    model = LlamaCppChat(model_path(QWEN), seed=1, temperature=0.0, n_ctx=2048)
    model.load()
    return model


@pytest.mark.parametrize("n", [1000, 5000])
def test_a_long_history_is_fitted_by_real_tokens_well_under_a_second(
    qwen: LlamaCppChat, n: int
) -> None:
    messages = history(n)
    t0 = time.perf_counter()
    tokens = qwen.prompt_tokens(messages, 2048 - 80)
    took = time.perf_counter() - t0
    print(f"\n{n} messages fitted in {1000 * took:.1f} ms to {len(tokens)} tokens")
    assert took < 0.5
    assert 1500 < len(tokens) <= 2048 - 80
    text = qwen.load().detokenize(tokens, special=True).decode()
    assert text.startswith("<|im_start|>system\nBe kind.")
    assert f"message {n - 1} " in text and "message 0 " not in text


async def test_the_embedded_model_refuses_a_long_history_when_truncation_is_disabled(
    qwen: LlamaCppChat,
) -> None:
    with pytest.raises(ContextTooLong, match="disabled"):
        async for _ in qwen.stream(history(2000), truncation=Truncation("disabled")):
            pass


async def test_a_context_overflow_trims_and_retries_and_the_endpoint_stays_up() -> None:
    with SseServer() as srv:
        srv.script = Sse(tokens=("Fine", "."), max_messages=4)
        config = EndpointSettings(kind="openai", model="tiny", url=srv.url, name="gpu0")
        endpoint = Endpoint(OpenAICompatChat("tiny", url=srv.url), config)
        metrics = Metrics()
        pool = ChatPool("jarvis", [endpoint], metrics=metrics, probe_first_s=60)
        messages = history(11)
        text = "".join([d async for d in pool.stream(messages)])
        assert text == "Fine."
        sent = [len(r.body["messages"]) for r in srv.requests]
        assert sent == [12, 7, 4]  # halved until it fit; the system text and last turn stay
        last = srv.requests[-1].body["messages"]
        assert last[0] == SYSTEM and last[-1] == messages[-1]
        assert endpoint.healthy and not pool.probing
        with pytest.raises(ContextTooLong):
            async for _ in pool.stream(messages, truncation=Truncation("disabled")):
                pass
        assert endpoint.healthy and not pool.probing
        labels = {"persona": "jarvis", "endpoint": "gpu0", "kind": "context"}
        assert metrics.registry.get_sample_value("zenglow_llm_failures_total", labels) is None
        await pool.aclose()


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("auto", Truncation()),
        ("disabled", Truncation("disabled")),
        ({"type": "retention_ratio", "retention_ratio": 0.7}, Truncation("retention_ratio", 0.7)),
    ],
)
def test_session_update_parses_truncation(value: object, expected: Truncation) -> None:
    patch = parse_session_patch(JsonObject({"truncation": value}, "session", None))
    assert patch.truncation == expected and "truncation" not in patch.ignored


@pytest.mark.parametrize(
    "value",
    ["sometimes", {"type": "retention_ratio"}, {"type": "retention_ratio", "retention_ratio": 2}],
)
def test_a_bad_truncation_is_a_clear_error(value: object) -> None:
    with pytest.raises(Exception, match=r"truncation|retention_ratio"):
        parse_session_patch(JsonObject({"truncation": value}, "session", None))
