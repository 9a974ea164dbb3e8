"""What every route shares: the settings, the engines, the door's state, readiness, and the
live sessions with their slots.

It lives below the transports (they are handed one) and above the engines; `app.py`
builds it and registers the routes over it.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Protocol

from .engines.loader import Engines
from .settings import Settings
from .storage import Conversations, StoreHealth
from .storage.conversations import open_store
from .transports.door.keys import ClientSecrets, KeyRing
from .transports.door.limits import Counters
from .transports.door.origins import OriginPolicy

log = logging.getLogger(__name__)

WEDGED_S = 120.0  # an engine job running longer than this means the worker is stuck


class Connection(Protocol):
    """A live session as the runtime sees it: it can be told to go."""

    async def shut_down(self, reason: str, grace_s: float) -> None:
        """Tell the client, let the reply in progress finish (up to `grace_s`), close."""
        ...


@dataclass(frozen=True, slots=True)
class Refusal:
    code: str
    message: str
    status: int  # HTTP status
    close_code: int  # WebSocket close code


class Slot:
    """One admitted session or call: counted from admission, before any await, so that
    concurrent requests see the cap; released once, however the session ends."""

    def __init__(self, runtime: Runtime, client: str, kind: str) -> None:
        self.runtime, self.client, self.kind = runtime, client, kind
        self.connection: Connection | None = None
        self.opened = time.monotonic()
        self._released = False

    def release(self) -> None:
        if not self._released:
            self._released = True
            self.runtime._release(self)


class Runtime:
    def __init__(self, settings: Settings, engines: Engines) -> None:
        self.settings = settings
        self.engines = engines
        self.ready = False
        self.draining = False
        self.sessions: set[Slot] = set()
        self.sessions_total = 0
        self.keys = KeyRing.from_settings(settings.auth)
        self.client_secrets = ClientSecrets(settings.limits.client_secrets)
        self.origins = OriginPolicy(settings.server.allowed_origins)
        self.per_client = Counters(settings.limits.sessions_per_client)
        self.rest_in_flight = Counters(settings.limits.rest_in_flight)
        self._stopping: list[Callable[[], Awaitable[None]]] = []
        m = engines.metrics
        health = StoreHealth(lambda ok: m.storage_persisting.set(int(ok)), m.observe_store_write)
        self.conversations = Conversations(settings.storage, open_store(settings.storage), health)

    # --- admission -------------------------------------------------------------------

    def admit(self, client: str, kind: str = "websocket") -> Slot | Refusal:
        """A slot for a new session (`kind` "websocket" or "call") of `client`, or why not.
        No await: checked and counted at once."""
        s = self.settings
        calls = sum(1 for slot in self.sessions if slot.kind == "call") if kind == "call" else None
        if self.draining:
            return Refusal("server_shutting_down", "the server is shutting down", 503, 1001)
        if not self.ready:
            return Refusal("server_not_ready", "server is still loading its models", 503, 1013)
        busy = len(self.sessions) >= s.server.max_sessions
        if calls is not None and calls >= s.webrtc.max_calls:
            busy = True
        if busy:
            self.engines.metrics.sessions_refused_total.inc()
            detail = f"{len(self.sessions)}/{s.server.max_sessions} sessions"
            if calls is not None:
                detail += f", {calls}/{s.webrtc.max_calls} calls"
            return Refusal(
                "session_limit_reached", f"server busy: {detail}; try again later", 429, 1013
            )
        if not self.per_client.acquire(client):
            self.engines.metrics.sessions_refused_total.inc()
            return Refusal(
                "rate_limit_exceeded",
                f"this client already holds {self.per_client.cap} sessions "
                "(limits.sessions_per_client); close one first",
                429,
                1013,
            )
        slot = Slot(self, client, kind)
        self.sessions.add(slot)
        self.sessions_total += 1
        self.engines.metrics.sessions_total.inc()
        self.engines.metrics.set_sessions(len(self.sessions))
        return slot

    def _release(self, slot: Slot) -> None:
        self.sessions.discard(slot)
        self.per_client.release(slot.client)
        self.engines.metrics.set_sessions(len(self.sessions))

    # --- readiness and drain ---------------------------------------------------------

    def readiness(self) -> tuple[bool, dict[str, object]]:
        """Whether a turn can be served now, and what is wrong if not."""
        problems: list[str] = []
        if not self.ready:
            problems.append("engines are loading" if not self.draining else "stopped")
        if self.draining:
            problems.append("shutting down")
        problems += self.engines.problems(WEDGED_S)
        body: dict[str, object] = {"ready": not problems, "sessions": len(self.sessions)}
        if self.conversations.enabled:  # not persisting is said, not a reason to refuse turns
            body["storage"] = self.conversations.health.detail()
        if problems:
            body["problems"] = problems
        return not problems, body

    def on_stop(self, hang_up: Callable[[], Awaitable[None]]) -> None:
        """Run `hang_up` when the server drains (after the sessions were told)."""
        self._stopping.append(hang_up)

    async def drain(self, grace_s: float) -> None:
        """Refuse new sessions; tell each live one, let replies in progress finish up to
        `grace_s`, close them all, and run the hang-ups registered with `on_stop`."""
        self.draining = True
        live = [s.connection for s in list(self.sessions) if s.connection is not None]
        log.info("draining %d session(s), up to %.1f s", len(live), grace_s)
        if live:
            results = await asyncio.gather(
                *(c.shut_down("the server is shutting down", grace_s) for c in live),
                return_exceptions=True,
            )
            for r in results:
                if isinstance(r, Exception):
                    log.warning("a session did not shut down cleanly: %r", r)
        for hang_up in self._stopping:
            await hang_up()
