"""`LlamaCppChat`: an embedded chat model, run in-process by llama.cpp.

The prompt is built from the model's own chat template (`templates.py`); a base model without
one gets the few-shot transcript.  The history is fitted to the context by tokens
(`budget.py`).  `ReplyText` is the pure piece that turns generated text into reply deltas;
`LlamaCppChat` runs generation in a worker thread, one reply at a time.
"""

from __future__ import annotations

import asyncio
import codecs
import os
import threading
from collections.abc import AsyncGenerator, Callable, Sequence
from concurrent.futures import Executor
from pathlib import Path
from typing import TYPE_CHECKING, cast

from zenglow.engines.base import ChatMessage, EngineError
from zenglow.engines.budget import AUTO, ContextTooLong, Truncation, fit_messages
from zenglow.engines.templates import (
    STOPS,
    PromptTemplate,
    TranscriptTemplate,
    build_prompt,
    continues,
    template_for,
)
from zenglow.speech.chunker import SentenceChunker

__all__ = ["STOPS", "LlamaCppChat", "ReplyText", "build_prompt", "continues", "fit_history"]

if TYPE_CHECKING:
    from llama_cpp import Llama

_LOCK_POLL_S = 0.05  # how often a queued reply checks whether it was cancelled
_END = object()


def fit_history(
    messages: Sequence[ChatMessage],
    count_tokens: Callable[[str], int],
    budget: int,
    template: PromptTemplate | None = None,
    truncation: Truncation = AUTO,
) -> list[ChatMessage]:
    """The system text and the newest turns whose prompt takes at most `budget` tokens.

    The prompt without turns (system text, template framing) is counted once, each turn once
    by the text it adds; the rendered prompt is then counted, and a turn more dropped while it
    is still over, which the per-turn estimate makes rare."""
    shape = template or TranscriptTemplate()

    def cost(m: ChatMessage) -> int:
        return 0 if m["role"] == "system" else count_tokens(shape.message_text(m))

    # the fixed part, measured on the shortest prompt every template accepts: one user turn
    empty: ChatMessage = {"role": "user", "content": ""}
    system = [m for m in messages if m["role"] == "system"]
    base = count_tokens(shape.render([*system, empty])) - cost(empty)
    kept = fit_messages(messages, cost, budget - base, truncation)
    while count_tokens(shape.render(kept)) > budget:
        turns = [i for i, m in enumerate(kept) if m["role"] != "system"]
        if len(turns) <= 1 or truncation.type == "disabled":
            raise ContextTooLong(f"the last message alone does not fit in {budget} tokens")
        del kept[turns[0]]
    return kept


class ReplyText:
    """Turns generated text into reply deltas: without leading or trailing whitespace, cut
    at the first stop string, holding back text that may be the start of one.  A reply that
    continues one already begun (`continuing`) keeps its leading space."""

    def __init__(self, stops: Sequence[str] = STOPS, *, continuing: bool = False) -> None:
        self.stops = tuple(stops)
        self.stopped = False
        self._pending = ""
        self._started = continuing

    def feed(self, text: str) -> str:
        if self.stopped:
            return ""
        pending = self._pending + text
        if not self._started:
            pending = pending.lstrip()
        cuts = [i for i in (pending.find(s) for s in self.stops) if i >= 0]
        if cuts:
            self.stopped = True
            self._pending = ""
            return pending[: min(cuts)].rstrip()
        hold = max(
            (k for s in self.stops for k in range(1, len(s)) if pending.endswith(s[:k])),
            default=0,
        )
        safe = pending[: len(pending) - hold].rstrip()
        self._pending = pending[len(safe) :]
        self._started = self._started or bool(safe)
        return safe

    def finish(self) -> str:
        """Generation ended: release held text that turned out not to be a stop string."""
        tail = "" if self.stopped else self._pending.rstrip()
        self.stopped = True
        self._pending = ""
        return tail


def default_model_path() -> Path:
    """The default embedded model: the bundled Qwen2.5-Coder-0.5B-Instruct."""
    from zenglow.engines.bundled import QWEN, model_path

    return model_path(QWEN)


class LlamaCppChat:
    """A `ChatModel` running a GGUF model in-process; concurrent replies queue on a lock."""

    def __init__(
        self,
        model_path: str | Path | Callable[[], Path] | None = None,
        *,
        n_ctx: int = 2048,
        n_threads: int | None = None,
        first_chunk_threads: int | None = None,
        busy: Callable[[], bool] | None = None,
        temperature: float = 0.7,
        repeat_penalty: float = 1.3,
        max_tokens: int = 80,
        name: str = "embedded",
        executor: Executor | None = None,
        seed: int | None = None,
        stops: Sequence[str] | None = None,
    ) -> None:
        # a path, or how to find one when the model loads (a bundled model is assembled)
        self._where = model_path if callable(model_path) else None
        self.model_path = Path(model_path) if isinstance(model_path, (str, Path)) else None
        self.n_ctx = n_ctx
        self.n_threads = n_threads
        # The reply's first speakable chunk is what the listener waits for, and usually
        # nothing else needs the CPU while it is written (the transcript is done, speech has
        # not begun): it is decoded on every core, unless `busy` says other work needs them
        # (another session's speech); the rest on `n_threads`, beside the speech synthesis.
        self.first_chunk_threads = first_chunk_threads or os.cpu_count() or 1
        self.busy = busy
        self.temperature = temperature
        self.repeat_penalty = repeat_penalty
        self.max_tokens = max_tokens
        self.name = name
        self.seed = seed
        self._stops = tuple(stops) if stops is not None else None
        self.template: PromptTemplate | None = None  # the model's, once it is loaded
        self.tokens_generated = 0  # tokens sampled since load, across all replies
        self._executor = executor
        self._llm: Llama | None = None
        self._specials: dict[str, str] = {"bos": "", "eos": ""}
        self._load_lock = threading.Lock()
        self._lock = threading.Lock()  # one Llama instance generates one reply at a time

    def load(self) -> Llama:
        """Load the model once (blocking; safe to call from several threads)."""
        with self._load_lock:
            if self._llm is None:
                if self.model_path is None and self._where is not None:
                    self.model_path = self._where()
                path = self.model_path or default_model_path()
                if not path.is_file():
                    raise EngineError(f"chat model file not found: {path}")
                from llama_cpp import LLAMA_DEFAULT_SEED, Llama

                try:
                    self._llm = Llama(
                        model_path=str(path),
                        n_ctx=self.n_ctx,
                        n_threads=self.n_threads,
                        seed=LLAMA_DEFAULT_SEED if self.seed is None else self.seed,
                        verbose=False,
                    )
                except ValueError as e:
                    raise EngineError(f"cannot load the chat model {path}: {e}") from e
                self._specials = _token_texts(self._llm)
                self.template = template_for(self._llm.metadata, self._specials)
            return self._llm

    @property
    def stops(self) -> tuple[str, ...]:
        """Text that ends a reply: given, or the model's template's (once loaded)."""
        if self._stops is not None:
            return self._stops
        return self.template.stops if self.template is not None else STOPS

    def prompt_tokens(
        self,
        messages: Sequence[ChatMessage],
        room: int,
        truncation: Truncation = AUTO,
    ) -> list[int]:
        """The tokens of the prompt for `messages`, fitted into `room` tokens (blocking)."""
        llm = self.load()
        template = self.template or TranscriptTemplate()
        bos = self._specials["bos"]

        def tokens(text: str) -> list[int]:
            special = bool(bos) and text.startswith(bos)  # the template wrote the BOS itself
            return llm.tokenize(text.encode(), add_bos=not special, special=True)

        def count(text: str) -> int:
            return len(llm.tokenize(text.encode(), add_bos=False, special=True))

        fitted = fit_history(messages, count, room - 1, template, truncation)
        return tokens(template.render(fitted))

    async def warm_up(self, system: str | None = None) -> None:
        """Load the model and evaluate the fixed start of the prompt for a faster first reply."""
        messages: list[ChatMessage] = [{"role": "user", "content": "Hello!"}]
        if system:
            messages.insert(0, {"role": "system", "content": system})
        async for _ in self.stream(messages, max_tokens=1):
            pass

    async def stream(
        self,
        messages: Sequence[ChatMessage],
        *,
        max_tokens: int | None = None,
        truncation: Truncation = AUTO,
    ) -> AsyncGenerator[str, None]:
        """Stream the reply's text deltas; closing or cancelling the stream stops generation
        within one token, and returns once the worker has stopped.  The history is fitted
        to the context as `truncation` says (`ContextTooLong` when it may not be)."""
        loop = asyncio.get_running_loop()
        limit = max(1, self.max_tokens if max_tokens is None else max_tokens)
        # Unbounded by design: it holds at most `limit` deltas and the end marker.
        queue: asyncio.Queue[object] = asyncio.Queue()
        cancel, started = threading.Event(), threading.Event()

        def put(item: object) -> None:
            try:
                loop.call_soon_threadsafe(queue.put_nowait, item)
            except RuntimeError:  # the loop is closed: nobody is listening any more
                pass

        job = loop.run_in_executor(
            self._executor, self._job, list(messages), limit, truncation, cancel, started, put
        )
        try:
            while (item := await queue.get()) is not _END:
                yield cast(str, item)
        finally:
            cancel.set()
            if started.is_set():
                await asyncio.wait([job])
                if not job.cancelled():
                    job.exception()  # retrieved here; raised below when nothing else is
            else:
                job.cancel()
        job.result()

    # --- worker thread ------------------------------------------------------------------

    def _job(
        self,
        messages: list[ChatMessage],
        limit: int,
        truncation: Truncation,
        cancel: threading.Event,
        started: threading.Event,
        put: Callable[[object], None],
    ) -> None:
        started.set()
        try:
            llm = self.load()
            while not self._lock.acquire(timeout=_LOCK_POLL_S):
                if cancel.is_set():
                    return
            try:
                if not cancel.is_set():
                    self._generate(llm, messages, limit, truncation, cancel, put)
            finally:
                self._lock.release()
        finally:
            put(_END)

    def _generate(
        self,
        llm: Llama,
        messages: list[ChatMessage],
        limit: int,
        truncation: Truncation,
        cancel: threading.Event,
        put: Callable[[object], None],
    ) -> None:
        from llama_cpp import llama_vocab_is_eog

        try:
            tokens = self.prompt_tokens(messages, self.n_ctx - limit, truncation)
            reply = ReplyText(self.stops, continuing=continues(messages))
            decoder = codecs.getincrementaldecoder("utf-8")(errors="replace")
            generated = 0
            cores = _Cores(llm, self.first_chunk_threads, self.busy)
            cores.step("")
            tokens_out = llm.generate(
                tokens, temp=self.temperature, repeat_penalty=self.repeat_penalty
            )
            try:
                for token in tokens_out:
                    self.tokens_generated += 1
                    generated += 1
                    if cancel.is_set():
                        return
                    if llama_vocab_is_eog(llm._model.vocab, token):
                        break
                    if delta := reply.feed(decoder.decode(llm.detokenize([token]))):
                        put(delta)
                    cores.step(delta)
                    if reply.stopped or generated >= limit:
                        break
            finally:
                tokens_out.close()
                cores.restore()
        except EngineError:
            raise
        except (RuntimeError, ValueError) as e:  # llama.cpp failed to tokenize or decode
            raise EngineError(f"the embedded chat model failed: {e}") from e
        if tail := reply.finish():  # bytes of a character cut off by the limit are dropped
            put(tail)


class _Cores:
    """The threads that decode the next token: every core (`boost`) until the reply's first
    speakable chunk is written, while nothing else needs them (`busy`); then `n_threads`."""

    def __init__(self, llm: Llama, boost: int, busy: Callable[[], bool] | None) -> None:
        self._ctx = llm._ctx
        self._normal, self._batch = llm.n_threads, llm.n_threads_batch
        self._boost = max(boost, self._normal)
        self._busy = busy
        self._first: SentenceChunker | None = SentenceChunker()
        self._now: int | None = None

    def step(self, delta: str) -> None:
        """The reply so far has grown by `delta`: choose the threads for the next token."""
        if self._first is not None and delta and self._first.add(delta):
            self._first = None  # spoken from now on: the cores are shared with the speech
        alone = self._busy is None or not self._busy()
        self._use(self._boost if self._first is not None and alone else self._normal)

    def restore(self) -> None:
        self._ctx.set_n_threads(self._normal, self._batch)

    def _use(self, threads: int) -> None:
        if threads != self._now:
            self._ctx.set_n_threads(threads, self._batch)
            self._now = threads


def _token_texts(llm: Llama) -> dict[str, str]:
    """The texts of the model's BOS and EOS tokens ("" where it has none)."""
    found = {}
    for name, token in (("bos", llm.token_bos()), ("eos", llm.token_eos())):
        text = (
            llm.detokenize([token], special=True).decode("utf-8", "replace") if token >= 0 else ""
        )
        found[name] = text
    return found
