"""The context budget: which messages of a conversation go into a model's context.

The system messages and the newest turns are kept; older turns are dropped.  Each message
is counted once, newest first, and counting stops where the budget ends, so fitting takes
time in the messages kept, not in the length of the history.  The Realtime `truncation`
setting says what happens when the conversation does not fit: `auto` drops the oldest turns,
`retention_ratio` drops more of them at once (keeping that fraction of the budget) so the
next turns fit without dropping again, and `disabled` refuses the request.

`ContextTooLong` is the request's fault, not the endpoint's: a pool that gets it from a
server trims the history (`halved`) and asks again, and never marks the endpoint down.
"""

from __future__ import annotations

import re
from collections.abc import AsyncGenerator, Callable, Sequence
from dataclasses import dataclass
from typing import Literal

from .base import ChatMessage, EngineError


@dataclass(frozen=True, slots=True)
class Truncation:
    """The Realtime session's `truncation`: "auto", "disabled", or a retention ratio."""

    type: Literal["auto", "disabled", "retention_ratio"] = "auto"
    retention_ratio: float = 1.0  # of the budget the turns keep after a truncation


AUTO = Truncation()


class ContextTooLong(EngineError):
    """The conversation does not fit the model's context (and may not be trimmed)."""

    kind = "context"


# How Ollama, vLLM, llama.cpp server, LM Studio and OpenAI word a context overflow.
_OVERFLOW = re.compile(
    r"context[ _-]?length|context window|maximum context|exceeds? the (available )?context"
    r"|too many tokens|prompt is too long|input (length|is too long)|n_ctx|context size",
    re.IGNORECASE,
)


def is_overflow(message: str) -> bool:
    """Whether a server's error message says the prompt did not fit its context."""
    return _OVERFLOW.search(message) is not None


def fit_messages(
    messages: Sequence[ChatMessage],
    cost: Callable[[ChatMessage], int],
    budget: int,
    truncation: Truncation = AUTO,
) -> list[ChatMessage]:
    """The system messages and the newest turns whose `cost` (tokens) adds up to at most
    `budget`.  Raises `ContextTooLong` when even the last message does not fit, or when
    turns would have to go and `truncation` is disabled."""
    system = [m for m in messages if m["role"] == "system"]
    turns = [m for m in messages if m["role"] != "system"]
    room = budget - sum(cost(m) for m in system)
    kept: list[ChatMessage] = []
    used = 0
    for m in reversed(turns):
        used += cost(m)
        if used > room:
            break
        kept.append(m)
    else:
        return list(messages)
    if not kept:
        raise ContextTooLong(f"the last message alone does not fit in {budget} tokens")
    if truncation.type == "disabled":
        raise ContextTooLong(
            f"the conversation does not fit in {budget} tokens and truncation is disabled"
        )
    if truncation.type == "retention_ratio":
        keep = max(1.0, truncation.retention_ratio * room)
        total = 0
        for n, m in enumerate(kept):
            total += cost(m)
            if total > keep and n > 0:
                kept = kept[:n]
                break
    return [*system, *reversed(kept)]


def halved(messages: Sequence[ChatMessage], truncation: Truncation = AUTO) -> list[ChatMessage]:
    """The conversation without the older half of its turns (system messages and the last
    turn stay), for a server that said it does not fit."""
    turns = [i for i, m in enumerate(messages) if m["role"] != "system"]
    if len(turns) <= 1 or truncation.type == "disabled":
        raise ContextTooLong(
            "the conversation does not fit the model's context"
            + (" and truncation is disabled" if truncation.type == "disabled" else "")
        )
    dropped = set(turns[: len(turns) // 2])
    return [m for i, m in enumerate(messages) if i not in dropped]


async def trimmed_until_it_fits(
    stream: Callable[[list[ChatMessage]], AsyncGenerator[str, None]],
    messages: Sequence[ChatMessage],
    truncation: Truncation = AUTO,
) -> AsyncGenerator[str, None]:
    """`stream(messages)`, asked again with half the turns each time the server says the
    conversation does not fit (before it sent any text)."""
    current = list(messages)
    while True:
        sent = False
        replies = stream(current)
        try:
            async for delta in replies:
                sent = True
                yield delta
            return
        except ContextTooLong:
            if sent:
                raise
            current = halved(current, truncation)
        finally:
            await replies.aclose()
