"""LlamaCppChat: the pure prompt and reply pieces, then the real default model (Qwen2.5)."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

import pytest

from zenglow.engines.base import ChatMessage, EngineError
from zenglow.engines.llamacpp import (
    LlamaCppChat,
    ReplyText,
    build_prompt,
    continues,
    fit_history,
)
from zenglow.engines.templates import DEFAULT_SYSTEM, EXAMPLES

GREETING: list[ChatMessage] = [{"role": "user", "content": "Hello! How are you today?"}]
COUNTING: list[ChatMessage] = [{"role": "user", "content": "Count from one to fifty."}]
STORY: list[ChatMessage] = [
    {"role": "user", "content": "Tell me a long story about a dragon who learns to bake."}
]

# --- pure pieces ------------------------------------------------------------------------


def test_prompt_is_a_transcript_ending_in_the_assistant_turn() -> None:
    prompt = build_prompt(
        [
            {"role": "system", "content": "You are Mira,\na calm companion."},
            {"role": "user", "content": "Hi!\n\nWho are you?"},
            {"role": "assistant", "content": "I'm Mira."},
            {"role": "user", "content": "Nice."},
        ]
    )
    lines = prompt.split("\n")
    assert lines[0].startswith("You are Mira, a calm companion. ")
    assert lines[1] == ""
    assert lines[2 : 2 + 2 * len(EXAMPLES)] == [
        line for u, a in EXAMPLES for line in (f"User: {u}", f"Assistant: {a}")
    ]
    assert lines[-4:] == [
        "User: Hi! Who are you?",
        "Assistant: I'm Mira.",
        "User: Nice.",
        "Assistant:",
    ]


def test_prompt_without_system_text_uses_the_default() -> None:
    prompt = build_prompt([{"role": "user", "content": "Hey"}])
    assert prompt.startswith(DEFAULT_SYSTEM)
    assert prompt.endswith("\nUser: Hey\nAssistant:")


def test_a_begun_reply_is_continued_inside_its_line() -> None:
    asked: list[ChatMessage] = [{"role": "user", "content": "Capital of France?"}]
    begun = [*asked, {"role": "assistant", "content": "The capital\nof France "}]
    assert not continues(asked) and continues(begun)
    ending = "\nUser: Capital of France?\nAssistant: The capital of France"
    assert build_prompt(begun).endswith(ending)
    # an empty assistant message begins nothing
    assert build_prompt([*asked, {"role": "assistant", "content": " "}]) == build_prompt(asked)


def test_reply_text_keeps_the_leading_space_of_a_continuation() -> None:
    fresh, more = ReplyText(), ReplyText(continuing=True)
    assert [fresh.feed(t) for t in (" is", " Paris", ".")] == ["is", " Paris", "."]
    assert [more.feed(t) for t in (" is", " Paris", ".")] == [" is", " Paris", "."]


def test_fit_history_drops_oldest_turns_and_keeps_system() -> None:
    messages: list[ChatMessage] = [{"role": "system", "content": "Be kind."}]
    for i in range(6):
        messages.append({"role": "user", "content": f"question {i} " + "x" * 50})
        messages.append({"role": "assistant", "content": f"answer {i} " + "y" * 50})
    messages.append({"role": "user", "content": "last"})
    budget = len(build_prompt([messages[0], *messages[-3:]]))
    kept = fit_history(messages, len, budget)
    assert kept == [messages[0], *messages[-3:]]
    assert fit_history(messages, len, 10**6) == messages
    with pytest.raises(EngineError, match="does not fit"):
        fit_history(messages, len, 10)


def feed_all(pieces: list[str]) -> str:
    reply = ReplyText()
    return "".join(reply.feed(p) for p in pieces) + reply.finish()


def test_reply_text_cuts_at_role_markers_and_newlines() -> None:
    reply = ReplyText()
    deltas = [reply.feed(p) for p in [" Hello", "!", " How", " are", " you", "?\n", "User: x"]]
    assert deltas == ["Hello", "!", " How", " are", " you", "?", ""]
    assert reply.stopped
    assert feed_all([" Sure", ". User", ": what"]) == "Sure."
    assert feed_all([" Fine", ". Assist", "ant: more"]) == "Fine."
    assert feed_all([" Yes", "<end_of", "_turn>", " no"]) == "Yes"


def test_reply_text_holds_back_what_may_start_a_stop_string() -> None:
    reply = ReplyText()
    assert reply.feed(" It is a Use") == "It is a"
    assert reply.feed("ful thing ") == " Useful thing"
    assert reply.feed("  ") == ""
    assert reply.finish() == ""
    assert feed_all(["  \n ", " Hi there ", " "]) == "Hi there"
    assert feed_all(["Cut at Assis"]) == "Cut at Assis"  # ended by the token limit


@pytest.mark.parametrize(
    "text",
    [
        " Hello! It's lovely. \nUser: more",
        "  Why not?  Assistant: hm",
        " Café au lait, s'il vous plaît.   ",
        "\n\nUser: nothing",
        " A <end_of_turn> B",
    ],
)
def test_reply_text_is_the_same_however_the_text_is_split(text: str) -> None:
    whole = feed_all([text])
    assert feed_all(list(text)) == whole
    for cut in range(len(text) + 1):
        assert feed_all([text[:cut], text[cut:]]) == whole
    assert whole == whole.strip()
    assert "User:" not in whole and "Assistant:" not in whole and "\n" not in whole


# --- the real embedded model ------------------------------------------------------------


@pytest.fixture(scope="module")
def chat() -> LlamaCppChat:
    model = LlamaCppChat(seed=1234)
    model.load()
    return model


async def test_greeting_streams_a_short_clean_reply(chat: LlamaCppChat) -> None:
    before = chat.tokens_generated
    deltas = [d async for d in chat.stream(GREETING)]
    reply = "".join(deltas)
    generated = chat.tokens_generated - before
    print(f"\nreply to a greeting: {reply!r} ({len(deltas)} deltas, {generated} tokens)")
    assert len(deltas) >= 2
    assert all(deltas)
    assert reply and reply == reply.strip()
    assert "User:" not in reply and "Assistant:" not in reply and "\n" not in reply
    assert generated <= chat.max_tokens
    assert len(chat.load().tokenize(reply.encode(), add_bos=False)) < chat.max_tokens


async def test_warm_up_generates_a_single_token(chat: LlamaCppChat) -> None:
    before = chat.tokens_generated
    await chat.warm_up("You are Mira, a calm companion.")
    assert chat.tokens_generated - before == 1


async def test_a_reply_begun_elsewhere_is_continued_not_restarted(chat: LlamaCppChat) -> None:
    """Failover hands the embedded model the text already spoken as an assistant message."""
    said = "The capital of France"
    messages: list[ChatMessage] = [
        {"role": "user", "content": "What is the capital of France?"},
        {"role": "assistant", "content": said},
    ]
    rest = "".join([d async for d in chat.stream(messages)])
    print(f"\ncontinuation of {said!r}: {rest!r}")
    assert rest.startswith(" ") and not rest.startswith("  ")  # joins the words said
    assert "capital of France" not in rest  # not said again
    assert "Paris" in rest
    assert "<|" not in rest and "assistant" not in rest  # no role token of the template


async def test_max_tokens_bounds_the_reply(chat: LlamaCppChat) -> None:
    before = chat.tokens_generated
    reply = "".join([d async for d in chat.stream(COUNTING, max_tokens=5)])
    assert chat.tokens_generated - before <= 5
    assert len(chat.load().tokenize(reply.encode(), add_bos=False)) <= 5


@pytest.fixture(scope="module")
def rambler() -> LlamaCppChat:
    """Without stop strings the model writes on past its own line, up to `max_tokens`."""
    model = LlamaCppChat(seed=1234, stops=(), max_tokens=80, temperature=0.0)
    model.load()
    return model


async def uncut_tokens(model: LlamaCppChat) -> int:
    before = model.tokens_generated
    reply = "".join([d async for d in model.stream(STORY)])
    uncut = model.tokens_generated - before
    assert uncut >= 20, f"the reference reply is too short to test cancellation: {reply!r}"
    return uncut


async def test_closing_the_stream_stops_generation_within_a_token(rambler: LlamaCppChat) -> None:
    uncut = await uncut_tokens(rambler)
    start = rambler.tokens_generated
    stream = rambler.stream(STORY)
    first = await anext(stream)
    at_close = rambler.tokens_generated
    await stream.aclose()  # returns once the worker has stopped
    assert first
    assert rambler.tokens_generated - at_close <= 2
    assert rambler.tokens_generated - start < uncut


async def test_cancelling_the_consumer_stops_generation(rambler: LlamaCppChat) -> None:
    uncut = await uncut_tokens(rambler)
    start = rambler.tokens_generated
    got_first = asyncio.Event()
    received: list[str] = []

    async def consume() -> None:
        async for delta in rambler.stream(STORY):
            received.append(delta)
            got_first.set()

    task = asyncio.create_task(consume())
    await got_first.wait()
    task.cancel()
    at_cancel = rambler.tokens_generated
    with pytest.raises(asyncio.CancelledError):
        await task
    assert received
    assert rambler.tokens_generated - at_cancel <= 2
    assert rambler.tokens_generated - start < uncut


async def first_delta(model: LlamaCppChat) -> str:
    return await anext(model.stream(GREETING))


async def test_a_cancelled_queued_stream_leaves_without_waiting(rambler: LlamaCppChat) -> None:
    rambler.load()
    before = rambler.tokens_generated
    with rambler._lock:  # another reply holds the model for as long as this block runs
        queued = asyncio.create_task(first_delta(rambler))
        await asyncio.sleep(0)  # let the queued stream submit its job
        queued.cancel()
        with pytest.raises(asyncio.CancelledError):
            await asyncio.wait_for(queued, 30)
    assert rambler.tokens_generated == before  # the queued reply never generated


async def test_concurrent_streams_queue_and_both_complete(chat: LlamaCppChat) -> None:
    other: list[ChatMessage] = [{"role": "user", "content": "What is your favourite colour?"}]

    async def reply(messages: list[ChatMessage]) -> str:
        return "".join([d async for d in chat.stream(messages)])

    first, second = await asyncio.gather(reply(GREETING), reply(other))
    print(f"\nconcurrent replies: {first!r} / {second!r}")
    assert first and second


async def test_missing_model_file_is_an_engine_error(tmp_path: Path) -> None:
    missing = LlamaCppChat(tmp_path / "absent.gguf")
    with pytest.raises(EngineError, match="not found"):
        missing.load()
    with pytest.raises(EngineError, match=r"absent\.gguf"):
        [d async for d in missing.stream(GREETING)]


async def test_a_file_that_is_not_a_model_is_an_engine_error(tmp_path: Path) -> None:
    bogus = tmp_path / "bogus.gguf"
    bogus.write_bytes(b"not a gguf file at all")
    with pytest.raises(EngineError, match="cannot load"):
        LlamaCppChat(bogus).load()


async def test_time_to_first_token(chat: LlamaCppChat) -> None:
    prompts = ["Good morning!", "What should I cook tonight?", "Tell me about the moon."]
    cold = LlamaCppChat(seed=1)
    t0 = time.perf_counter()
    await asyncio.to_thread(cold.load)
    print(f"\nload: {time.perf_counter() - t0:.3f} s")
    for label, model in (("cold cache", cold), ("warm", chat)):
        for text in prompts:
            t0 = time.perf_counter()
            stream = model.stream([{"role": "user", "content": text}])
            first = await anext(stream)
            ttft = time.perf_counter() - t0
            rest = "".join([d async for d in stream])
            total = time.perf_counter() - t0
            print(
                f"{label}: ttft {ttft * 1000:.0f} ms, reply {total * 1000:.0f} ms: {first + rest!r}"
            )
            assert first


async def test_the_first_chunk_is_decoded_on_more_threads_than_the_rest() -> None:
    """The first sentence is what the listener waits for: every core writes it, then the
    reply shares them with the speech synthesis."""
    from llama_cpp import llama_n_threads

    model = LlamaCppChat(seed=1234, n_threads=1, first_chunk_threads=2, temperature=0.0)
    llm = model.load()
    calls: list[tuple[int, int, int]] = []
    set_threads = llm._ctx.set_n_threads

    def spy(n_threads: int, n_threads_batch: int) -> None:
        calls.append((n_threads, n_threads_batch, model.tokens_generated))
        set_threads(n_threads, n_threads_batch)

    llm._ctx.set_n_threads = spy  # type: ignore[method-assign]
    question: list[ChatMessage] = [
        {"role": "user", "content": "Tell me three things about the sea, in three sentences."}
    ]
    reply = "".join([d async for d in model.stream(question)])
    generated = model.tokens_generated
    print(f"\nreply: {reply!r}; thread changes (threads, batch, tokens so far): {calls}")
    assert reply.count(".") >= 2, "the reply is too short to have a chunk after the first"
    batch = llm.n_threads_batch
    assert [c[:2] for c in calls] == [(2, batch), (1, batch), (1, batch)]
    assert 0 < calls[1][2] < generated  # back to one thread after the first chunk, not at the end
    assert llama_n_threads(llm._ctx.ctx) == 1


async def test_the_first_chunk_shares_the_cores_while_speech_is_synthesised() -> None:
    """Another session's speech needs the cores too: then the first chunk is written on the
    usual threads, and that session's audio does not fall behind."""
    synthesising = [True]
    model = LlamaCppChat(
        seed=1234, n_threads=1, first_chunk_threads=2, temperature=0.0,
        busy=lambda: synthesising[0],
    )  # fmt: skip
    llm = model.load()
    calls: list[int] = []
    set_threads = llm._ctx.set_n_threads

    def spy(n_threads: int, n_threads_batch: int) -> None:
        calls.append(n_threads)
        set_threads(n_threads, n_threads_batch)

    llm._ctx.set_n_threads = spy  # type: ignore[method-assign]
    question: list[ChatMessage] = [{"role": "user", "content": "Tell me about the sea."}]
    reply = "".join([d async for d in model.stream(question)])
    assert reply
    assert 2 not in calls  # never every core while the speech had them
    synthesising[0] = False
    calls.clear()
    reply = "".join([d async for d in model.stream(question)])
    assert calls[0] == 2  # alone again: the first chunk on every core
