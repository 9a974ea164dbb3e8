"""`ChatPool`: a persona's chat served by several endpoints, with limits and failover.

Each request goes to the least loaded healthy endpoint and waits, bounded, for a slot there.
An endpoint that fails, sends no first token within `first_token_timeout_s`, or goes silent
mid-reply for `stall_timeout_s`, is marked down and probed in the background (`check()`, with
exponential backoff) until it answers again; the reply moves on to another endpoint of the
pool, then to the `fallback` pool (another persona's), and each move is reported to the
caller's `on_failover`.

Resuming mid-reply: the text already streamed is sent to the next endpoint as a final
assistant message, which Ollama, vLLM, llama.cpp and the embedded model treat as a prefix to
continue; the new stream is the continuation, so nothing is said twice.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import inspect
import logging
import time
from collections.abc import AsyncGenerator, AsyncIterator, Callable, Sequence
from dataclasses import dataclass
from typing import cast

from ..ops.metrics import Metrics
from .base import ChatMessage, ChatModel, EngineError
from .budget import AUTO, ContextTooLong, Truncation, trimmed_until_it_fits
from .endpoint import Endpoint, EndpointDown, GpuBusy, failure_kind, rank

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class FailoverInfo:
    """A reply moved from one endpoint to another (of the same or another persona)."""

    persona: str
    from_endpoint: str
    to_endpoint: str
    to_persona: str
    reason: str


OnFailover = Callable[[FailoverInfo], None]


class NoEndpointError(EngineError):
    """Every endpoint that could serve the reply is down; `down` says which and why."""

    def __init__(self, down: Sequence[tuple[str, str, str]]) -> None:
        self.down = list(down)  # (persona, endpoint, reason)
        parts = [f"{persona}/{name} ({reason})" for persona, name, reason in self.down]
        super().__init__("no chat endpoint is up: " + "; ".join(parts))


class _Failed(Exception):
    def __init__(self, kind: str, reason: str) -> None:
        super().__init__(reason)
        self.kind, self.reason = kind, reason


def continuation(messages: Sequence[ChatMessage], said: str) -> list[ChatMessage]:
    """The request that continues a reply of which `said` was already streamed."""
    if not said:
        return list(messages)
    return [*messages, {"role": "assistant", "content": said}]


def joined(said: str, delta: str) -> str:
    """The first delta of a continuation, without a space the prefix already ends with."""
    if said and said[-1].isspace() and delta[:1].isspace():
        return delta.lstrip()
    return delta


class ChatPool:
    """A `ChatModel` over one or more endpoints of one persona."""

    def __init__(
        self,
        persona: str,
        endpoints: Sequence[Endpoint],
        *,
        metrics: Metrics | None = None,
        fallback: ChatPool | None = None,
        gpu_busy: GpuBusy | None = None,
        probe_first_s: float = 0.5,
        probe_max_s: float = 30.0,
        probe_timeout_s: float = 10.0,
    ) -> None:
        if not endpoints:
            raise ValueError(f"persona {persona} has no chat endpoint")
        self.name = persona
        self.endpoints = list(endpoints)
        self.metrics = metrics or Metrics()
        self.fallback = fallback
        self.gpu_busy = gpu_busy
        self.probe_first_s, self.probe_max_s = probe_first_s, probe_max_s
        self.probe_timeout_s = probe_timeout_s
        self._probes: dict[str, asyncio.Task[None]] = {}
        for e in self.endpoints:  # read when /metrics is scraped
            m, labels = self.metrics, (persona, e.name)
            m.endpoint_up.labels(*labels).set_function(functools.partial(_read, e, "healthy"))
            m.in_flight.labels(*labels).set_function(functools.partial(_read, e, "in_flight"))
            m.queue_depth.labels(*labels).set_function(functools.partial(_read, e, "queued"))

    def stream(
        self,
        messages: Sequence[ChatMessage],
        *,
        max_tokens: int | None = None,
        on_failover: OnFailover | None = None,
        truncation: Truncation = AUTO,
    ) -> AsyncGenerator[str, None]:
        """Stream the reply's text deltas; cancelling the consumer frees its slot.  A
        conversation too long for an endpoint is trimmed as `truncation` says and asked
        again there; it never marks the endpoint down."""
        return self._reply(
            list(messages), max_tokens, on_failover, None, use_fallback=True, truncation=truncation
        )

    async def _reply(
        self,
        messages: list[ChatMessage],
        max_tokens: int | None,
        on_failover: OnFailover | None,
        handoff: FailoverInfo | None,
        *,
        use_fallback: bool,
        truncation: Truncation = AUTO,
    ) -> AsyncGenerator[str, None]:
        said, deltas_said = "", 0
        tried: set[str] = set()
        moved = handoff  # the latest move, reported once the next endpoint is chosen
        while True:
            try:
                endpoint = await self._acquire(tried)
            except NoEndpointError as none:
                if not use_fallback or self.fallback is None:
                    raise
                names = ",".join(name for _, name, _ in none.down)
                reasons = "; ".join(reason for _, _, reason in none.down)
                away = moved or FailoverInfo(self.name, names, "", "", reasons)
                left, resumed = _left(max_tokens, deltas_said), continuation(messages, said)
                rest = self.fallback._reply(
                    resumed, left, on_failover, away, use_fallback=False, truncation=truncation
                )
                try:
                    async with contextlib.aclosing(rest):
                        async for delta in rest:
                            delta = joined(said, delta)
                            said += delta
                            yield delta
                except NoEndpointError as also:
                    raise NoEndpointError(none.down + also.down) from None
                return
            tried.add(endpoint.name)
            try:
                if moved is not None:
                    self._report(moved, endpoint, on_failover)
                attempt = self._attempt(
                    endpoint,
                    continuation(messages, said),
                    _left(max_tokens, deltas_said),
                    truncation,
                )
                async with contextlib.aclosing(attempt):
                    async for delta in attempt:
                        delta = joined(said, delta)
                        said += delta
                        deltas_said += 1
                        yield delta
                return
            except _Failed as failed:
                self._mark_down(endpoint, failed.kind, failed.reason)
                moved = FailoverInfo(self.name, endpoint.name, "", self.name, failed.reason)
            finally:
                endpoint.slots.release()

    @contextlib.asynccontextmanager
    async def lease(self) -> AsyncIterator[ChatModel]:
        """The chat model of the best healthy endpoint, its slot held meanwhile (for a
        request that is not a text stream, such as choosing tools)."""
        endpoint = await self._acquire(set())
        try:
            yield endpoint.chat
        finally:
            endpoint.slots.release()

    def _report(self, move: FailoverInfo, to: Endpoint, on_failover: OnFailover | None) -> None:
        info = FailoverInfo(move.persona, move.from_endpoint, to.name, self.name, move.reason)
        label = to.name if info.to_persona == info.persona else f"{self.name}/{to.name}"
        self.metrics.failovers_total.labels(info.persona, info.from_endpoint, label).inc()
        log.warning(
            "chat of %s moved: %s -> %s: %s", info.persona, info.from_endpoint, label, info.reason
        )
        if on_failover is not None:
            on_failover(info)

    async def _acquire(self, tried: set[str]) -> Endpoint:
        """A slot on the best healthy endpoint not yet tried for this reply."""
        while True:
            ranked = [e for e in rank(self.endpoints, self.gpu_busy) if e.name not in tried]
            if not ranked:
                down = [e for e in self.endpoints if not e.healthy or e.name in tried]
                raise NoEndpointError(
                    [(self.name, e.name, e.down_reason or "failed") for e in down]
                )
            for e in ranked:
                if e.slots.try_take():
                    return e
            roomy = [e for e in ranked if e.slots.has_room]
            if not roomy:
                waiting = sum(e.queued for e in ranked)
                raise EngineError(f"persona {self.name} is busy: {waiting} waiting")
            try:
                await roomy[0].slots.take(owner=roomy[0])
            except EndpointDown:
                continue  # it went down while this request waited: choose again
            return roomy[0]

    async def _attempt(
        self,
        endpoint: Endpoint,
        messages: list[ChatMessage],
        max_tokens: int | None,
        truncation: Truncation = AUTO,
    ) -> AsyncGenerator[str, None]:
        """One endpoint's stream, with its first-token and stall timeouts; asked again with
        fewer turns while the endpoint says the conversation does not fit."""
        c = endpoint.config
        labels = (self.name, endpoint.name)
        extra = {"truncation": truncation} if _takes_truncation(endpoint.chat) else {}

        def ask(fitted: list[ChatMessage]) -> AsyncGenerator[str, None]:
            return cast(
                AsyncGenerator[str, None],
                endpoint.chat.stream(fitted, max_tokens=max_tokens, **extra),
            )

        stream = trimmed_until_it_fits(ask, messages, truncation)
        start = time.monotonic()
        first: float | None = None
        count = 0
        try:
            while True:
                limit = c.first_token_timeout_s if first is None else c.stall_timeout_s
                try:
                    async with asyncio.timeout(limit):
                        delta = await anext(stream)
                except StopAsyncIteration:
                    break
                except TimeoutError:
                    if first is None:
                        raise _Failed("timeout", f"no first token within {limit:g} s") from None
                    raise _Failed("stall", f"no token for {limit:g} s mid-reply") from None
                except ContextTooLong:
                    raise  # the request's fault: the endpoint stays up
                except EngineError as e:
                    raise _Failed(failure_kind(e), str(e)) from e
                if first is None:
                    first = time.monotonic()
                    endpoint.observe_first_token(first - start)
                    self.metrics.time_to_first_token_seconds.labels(*labels).observe(first - start)
                count += 1
                yield delta
        finally:
            aclose = getattr(stream, "aclose", None)
            if aclose is not None:
                await aclose()
        elapsed = time.monotonic() - first if first is not None else 0.0
        if count > 1 and elapsed > 0:
            self.metrics.tokens_per_second.labels(*labels).observe((count - 1) / elapsed)

    # --- health -------------------------------------------------------------------------

    @property
    def probing(self) -> frozenset[str]:
        """Names of the endpoints that are down and probed until they recover."""
        return frozenset(self._probes)

    def _mark_down(self, endpoint: Endpoint, kind: str, reason: str) -> None:
        self.metrics.failures_total.labels(self.name, endpoint.name, kind).inc()
        if not endpoint.healthy:
            return
        log.warning("chat endpoint %s/%s is down: %s", self.name, endpoint.name, reason)
        endpoint.healthy, endpoint.down_reason = False, reason
        endpoint.slots.fail_waiters(endpoint, EndpointDown(reason))
        if endpoint.name not in self._probes:
            task = asyncio.get_running_loop().create_task(self._probe_loop(endpoint))
            self._probes[endpoint.name] = task
            task.add_done_callback(functools.partial(self._probe_ended, endpoint.name))

    async def _probe_loop(self, endpoint: Endpoint) -> None:
        first = endpoint.first_probe_delay(self.probe_first_s, self.probe_max_s, time.monotonic())
        await endpoint.probe_until_up(first, self.probe_max_s, self.probe_timeout_s)
        log.info("chat endpoint %s/%s is back up", self.name, endpoint.name)

    def _probe_ended(self, name: str, task: asyncio.Task[None]) -> None:
        self._probes.pop(name, None)
        if not task.cancelled() and task.exception() is not None:
            log.error("health probe of %s/%s failed", self.name, name, exc_info=task.exception())

    async def check(self) -> dict[str, str | None]:
        """Each endpoint's problem (None when it can serve), checked now."""
        problems = await asyncio.gather(*(e.check(self.probe_timeout_s) for e in self.endpoints))
        return {e.name: p for e, p in zip(self.endpoints, problems, strict=True)}

    async def warm_up(self, system: str | None = None) -> dict[str, str | None]:
        """Load every endpoint's model; one that fails is marked down (and probed)."""

        async def warm(endpoint: Endpoint) -> str | None:
            try:
                await endpoint.warm_up(system)
            except EngineError as e:
                self._mark_down(endpoint, failure_kind(e), str(e))
                return str(e)
            return None

        problems = await asyncio.gather(*(warm(e) for e in self.endpoints))
        return {e.name: p for e, p in zip(self.endpoints, problems, strict=True)}

    async def aclose(self) -> None:
        """Stop the health probes and close the endpoints' connections."""
        probes = list(self._probes.values())
        for task in probes:
            task.cancel()
        await asyncio.gather(*probes, return_exceptions=True)
        for chat in {id(e.chat): e.chat for e in self.endpoints}.values():
            close = getattr(chat, "aclose", None)
            if close is not None:
                await close()


def _takes_truncation(chat: object) -> bool:
    stream = getattr(chat, "stream", None)
    return stream is not None and "truncation" in inspect.signature(stream).parameters


def _read(endpoint: Endpoint, attribute: str) -> float:
    return float(getattr(endpoint, attribute))


def _left(max_tokens: int | None, used: int) -> int | None:
    return None if max_tokens is None else max(1, max_tokens - used)
