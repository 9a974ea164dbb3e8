"""Per-client limits (pure; time comes from an injected clock).

`TokenBucket` meters a rate with a burst.  `EventGate` meters one Realtime session's client
events (all events, audio seconds appended, commits and responses).  `Counters` count what
a client holds at once (sessions, REST requests in flight) against a cap.
"""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field

from ...settings import LimitSettings


@dataclass
class TokenBucket:
    rate: float  # tokens a second
    burst: float  # the most it holds
    clock: Callable[[], float] = time.monotonic
    tokens: float = field(init=False)
    at: float = field(init=False)

    def __post_init__(self) -> None:
        self.tokens, self.at = self.burst, self.clock()

    def take(self, amount: float = 1.0) -> bool:
        """Spend `amount` if there is that much; False (and nothing spent) otherwise."""
        now = self.clock()
        self.tokens = min(self.burst, self.tokens + (now - self.at) * self.rate)
        self.at = now
        if amount > self.tokens:
            return False
        self.tokens -= amount
        return True


class RateLimited(Exception):
    """An event past its budget: dropped.  `report` is False for refusals that follow one
    reported less than a second before (they are counted, and the next report says so)."""

    def __init__(self, message: str, report: bool) -> None:
        super().__init__(message)
        self.message, self.report = message, report


class EventGate:
    """One session's budget of client events; `check` raises RateLimited past it."""

    def __init__(self, limits: LimitSettings, clock: Callable[[], float] = time.monotonic) -> None:
        self.limits, self.clock = limits, clock
        self.events = TokenBucket(limits.events_per_s, 2 * limits.events_per_s, clock)
        self.audio = TokenBucket(limits.audio_speedup, limits.audio_burst_s, clock)
        self.commits = TokenBucket(limits.commits_per_s, 2 * limits.commits_per_s, clock)
        self.refused = 0  # all refusals
        self._unreported = 0
        self._reported_at: float | None = None

    def arrived(self) -> None:
        """Count one client message, well formed or not."""
        if not self.events.take():
            self._refuse(f"more than {self.limits.events_per_s:g} client events a second")

    def check(self, *, audio_s: float = 0.0, commit: bool = False) -> None:
        """Meter what a parsed event asks for: audio seconds, commits and responses."""
        lim = self.limits
        if audio_s and not self.audio.take(audio_s):
            self._refuse(
                f"audio appended faster than {lim.audio_speedup:g}x real time "
                f"(bursts up to {lim.audio_burst_s:g} s)"
            )
        if commit and not self.commits.take():
            self._refuse(f"more than {lim.commits_per_s:g} commits and responses a second")

    def _refuse(self, why: str) -> None:
        self.refused += 1
        now = self.clock()
        if self._reported_at is not None and now - self._reported_at < 1.0:
            self._unreported += 1
            raise RateLimited(why, report=False)
        also = (
            f" ({self._unreported} more dropped since the last report)" if self._unreported else ""
        )
        self._reported_at, self._unreported = now, 0
        raise RateLimited(f"rate limit exceeded: {why}; the event was dropped{also}", report=True)


class Counters:
    """What each client holds at once, against one cap."""

    def __init__(self, cap: int) -> None:
        self.cap = cap
        self.held: Counter[str] = Counter()

    def acquire(self, client: str) -> bool:
        if self.held[client] >= self.cap:
            return False
        self.held[client] += 1
        return True

    def release(self, client: str) -> None:
        self.held[client] -= 1
        if self.held[client] <= 0:
            del self.held[client]
