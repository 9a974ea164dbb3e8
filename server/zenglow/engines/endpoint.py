"""One endpoint of a chat pool: its chat model, its slots, its health, and how it is ranked.

`Slots` bounds the requests an endpoint runs at once and queues the rest, first come first
served, up to a fixed depth.  `rank` orders healthy endpoints for the next request: least
loaded first, then the least busy GPU, then the fastest recent first token.  Both are plain
objects; the pool (`pool.py`) does the I/O.
"""

from __future__ import annotations

import asyncio
import logging
import re
import time
from collections import deque
from collections.abc import Callable, Sequence
from typing import Any

from ..settings import EndpointSettings
from .base import ChatModel, EngineError

log = logging.getLogger(__name__)

FAILURE_KINDS = ("unreachable", "timeout", "stall", "http", "model_missing", "other")
_EWMA_WEIGHT = 0.3  # weight of the newest time-to-first-token in the running average

# Down again this soon after a probe let it back in: the probe passes while real requests fail,
# so the next probe waits twice as long as the last one started with.
FLAP_WINDOW_S = 60.0
GpuBusy = Callable[[int], float | None]  # GPU index -> utilisation 0..1, None when unknown


class EndpointDown(EngineError):
    """The endpoint a request was waiting for was marked down; choose another."""


class Slots:
    """At most `limit` holders at once; up to `max_queue` more wait in arrival order.

    A waiter that is cancelled leaves the queue; one cancelled just after being granted a
    slot hands it on, so no slot leaks.  Several endpoints may share one `Slots` (the
    embedded model serves every persona from one process).
    """

    def __init__(self, limit: int, max_queue: int) -> None:
        self.limit = limit
        self.max_queue = max_queue
        self.in_use = 0
        self._waiters: deque[tuple[object, asyncio.Future[None]]] = deque()

    @property
    def waiting(self) -> int:
        return len(self._waiters)

    @property
    def has_room(self) -> bool:
        return len(self._waiters) < self.max_queue

    def try_take(self) -> bool:
        if self.in_use < self.limit and not self._waiters:
            self.in_use += 1
            return True
        return False

    async def take(self, owner: object = None) -> None:
        """Wait for a slot; raises `EndpointDown` when `fail_waiters(owner)` is called."""
        if self.try_take():
            return
        fut: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        entry = (owner, fut)
        self._waiters.append(entry)
        try:
            await fut
        except asyncio.CancelledError:
            if fut.done() and not fut.cancelled() and fut.exception() is None:
                self.release()  # granted just before the cancellation landed
            elif entry in self._waiters:
                self._waiters.remove(entry)
                self._grant()
            raise

    def release(self) -> None:
        self.in_use -= 1
        self._grant()

    def fail_waiters(self, owner: object, error: EngineError) -> None:
        """Wake `owner`'s waiters with `error` (their endpoint went down)."""
        for entry in [e for e in self._waiters if e[0] is owner]:
            self._waiters.remove(entry)
            if not entry[1].done():
                entry[1].set_exception(error)
        self._grant()

    def _grant(self) -> None:
        while self._waiters and self.in_use < self.limit:
            _, fut = self._waiters.popleft()
            if not fut.done():
                self.in_use += 1
                fut.set_result(None)


class Endpoint:
    """A chat model on one server, with its limits and health, as seen by one pool."""

    def __init__(
        self, chat: ChatModel, config: EndpointSettings, slots: Slots | None = None
    ) -> None:
        self.chat = chat
        self.config = config
        self.slots = slots or Slots(config.max_in_flight, config.max_queue)
        self.healthy = True
        self.down_reason: str | None = None
        self.ttft_ewma: float | None = None  # seconds; None until a first token arrived
        self.recovered_at: float | None = None  # monotonic time a probe last let it back in
        self.flaps = 0  # times in a row it went down again soon after recovering

    @property
    def name(self) -> str:
        return self.config.name

    @property
    def kind(self) -> str:
        return self.config.kind

    @property
    def model(self) -> str | None:
        return self.config.model

    @property
    def url(self) -> str | None:
        return self.config.url

    @property
    def gpu(self) -> int | None:
        return self.config.gpu

    @property
    def in_flight(self) -> int:
        return self.slots.in_use

    @property
    def queued(self) -> int:
        return self.slots.waiting

    @property
    def load(self) -> float:
        return (self.slots.in_use + self.slots.waiting) / self.slots.limit

    def observe_first_token(self, seconds: float) -> None:
        old = self.ttft_ewma
        self.ttft_ewma = seconds if old is None else old + _EWMA_WEIGHT * (seconds - old)

    async def check(self, timeout_s: float | None = None) -> str | None:
        """None when the endpoint can serve, else what is wrong (with what to run); a check
        that takes longer than `timeout_s` counts as a problem."""
        check = getattr(self.chat, "check", None)
        load = getattr(self.chat, "load", None)  # the embedded model: can it load?
        try:
            async with asyncio.timeout(timeout_s):
                if check is not None:
                    problem: str | None = await check()
                    return problem
                if load is not None:
                    await asyncio.to_thread(load)
        except TimeoutError:
            return f"no answer to a health check within {timeout_s} s"
        except EngineError as e:
            return str(e)
        return None

    def first_probe_delay(self, first_s: float, max_s: float, now: float) -> float:
        """When to probe an endpoint that just went down: after `first_s`, doubled for each
        time in a row it failed within `FLAP_WINDOW_S` of a probe letting it back in."""
        flapping = self.recovered_at is not None and now - self.recovered_at < FLAP_WINDOW_S
        self.flaps = self.flaps + 1 if flapping else 0
        return min(first_s * 2**self.flaps, max(max_s, first_s))

    async def probe_until_up(self, first_s: float, max_s: float, timeout_s: float) -> None:
        """Check after `first_s`, then at doubling intervals up to `max_s`, until a check
        passes; then mark the endpoint healthy."""
        delay = first_s
        while True:
            await asyncio.sleep(delay)
            problem = await self.check(timeout_s)
            if problem is None:
                self.healthy, self.down_reason = True, None
                self.recovered_at = time.monotonic()
                return
            self.down_reason = problem
            delay = min(delay * 2, max_s)

    async def warm_up(self, system: str | None = None) -> None:
        """Load the model (Ollama: with keep_alive; embedded: and evaluate the prompt)."""
        warm_up = getattr(self.chat, "warm_up", None)
        if warm_up is None:
            return
        if self.kind == "embedded":
            await warm_up(system)
        else:
            await warm_up()


def rank(endpoints: Sequence[Endpoint], gpu_busy: GpuBusy | None = None) -> list[Endpoint]:
    """Healthy endpoints, best first: least loaded (in flight + queued, per slot), then the
    least busy GPU (in steps of 10 %), then the fastest recent first token."""

    def key(e: Endpoint) -> tuple[float, float, float]:
        busy = gpu_busy(e.gpu) if gpu_busy is not None and e.gpu is not None else None
        return (e.load, round(busy or 0.0, 1), e.ttft_ewma or 0.0)

    return sorted((e for e in endpoints if e.healthy), key=key)


def failure_kind(error: EngineError) -> str:
    """Which of `FAILURE_KINDS` an adapter's error is, for metrics."""
    kind = getattr(error, "kind", None)
    if kind in FAILURE_KINDS:
        return str(kind)
    text = str(error).lower()
    if "pull" in text or "not available" in text or "not served" in text:
        return "model_missing"
    if "cannot reach" in text or "broke" in text:
        return "unreachable"
    if "sent nothing" in text or "timed out" in text:
        return "timeout"
    if re.search(r"\bhttp \d{3}\b", text):
        return "http"
    return "other"


class NvmlBusy:
    """GPU utilisation through NVML, read at most once per `max_age_s` per GPU; None when
    NVML (the `nvidia-ml-py` package, a driver) is not there."""

    def __init__(self, max_age_s: float = 1.0, clock: Callable[[], float] = time.monotonic):
        self.max_age_s = max_age_s
        self._clock = clock
        self._read: dict[int, tuple[float, float | None]] = {}
        self._nvml: Any = None
        try:
            import pynvml
        except ImportError:
            return
        try:
            pynvml.nvmlInit()
        except pynvml.NVMLError as e:  # no driver or no GPU
            log.debug("NVML unavailable: %s", e)
            return
        self._nvml = pynvml

    def __call__(self, gpu: int) -> float | None:
        now = self._clock()
        cached = self._read.get(gpu)
        if cached is not None and now - cached[0] < self.max_age_s:
            return cached[1]
        value = None
        if self._nvml is not None:
            try:
                handle = self._nvml.nvmlDeviceGetHandleByIndex(gpu)
                value = self._nvml.nvmlDeviceGetUtilizationRates(handle).gpu / 100.0
            except self._nvml.NVMLError as e:
                log.debug("NVML read of GPU %d failed: %s", gpu, e)
        self._read[gpu] = (now, value)
        return value
