"""ConversationLog: keeps one session's items in the store, ahead of what the client hears.

It sits between the session and its transport: every event the session emits passes
through `wrap(emit)`, and before an event goes out, what changed in the session's items
since the last write is committed (so an item is stored before the client is told it is
done).  Reply text is written sentence by sentence as it is sent (a write takes well under
a millisecond), so a crash leaves a cut reply as far as it was told; audio frames pass
straight through.

A write that fails (a full disk, a read-only folder, a locked database) is logged, told to
the client once, and retried after `retry_s`; meanwhile the conversation goes on in memory
and everything it missed is written with the next write that succeeds.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable

from ..conversation import events as ev
from .base import Changes, ConversationErased, ConversationStore, StorageError, StoredItem
from .health import StoreHealth

log = logging.getLogger(__name__)

Emit = Callable[[ev.SessionEvent], Awaitable[None]]


RESTORED_KINDS = ("audio", "text", "function_call", "function_call_output")


def restored_item(stored: StoredItem) -> ev.Item:
    """A stored item as a session holds it; one cut off by a crash is incomplete."""
    status = "incomplete" if stored.status == "in_progress" else stored.status
    kind = stored.kind if stored.kind in RESTORED_KINDS else "text"
    if kind.startswith("function_call") and stored.call_id is None:
        kind = "text"  # a call without its id could not be answered: keep its words
    return ev.Item(
        stored.id, stored.role, stored.text, kind, status, stored.persona,  # type: ignore[arg-type]
        call_id=stored.call_id, name=stored.name,
    )  # fmt: skip


class ConversationLog:
    def __init__(
        self,
        store: ConversationStore,
        health: StoreHealth,
        conversation_id: str,
        owner: str,
        restored: list[StoredItem] | None = None,
        *,
        retry_s: float = 5.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.store, self.health = store, health
        self.id, self.owner = conversation_id, owner
        self.resumed = restored is not None
        self.restored = [restored_item(s) for s in restored or ()]
        self.retry_s, self.clock = retry_s, clock
        self.items: list[ev.Item] = []
        # as stored: a reply a crash cut off is rewritten as incomplete before it is replayed
        self._stored: dict[str, StoredItem] = {s.id: s for s in restored or ()}
        self._told: dict[str, str] = {}  # text sent of assistant items still in progress
        self._lock = asyncio.Lock()
        self._retry_at: float | None = None  # failing: no write before this time
        self.erased = False  # erased (REST, command line) while this session had it open

    def attach(self, items: list[ev.Item]) -> None:
        """Keep the session's own item list (`SessionContext.items`), restored items first."""
        items[:0] = self.restored
        self.items = items

    def wrap(self, emit: Emit) -> Emit:
        """`emit`, with each event preceded by the write of what it announces."""

        async def logged(event: ev.SessionEvent) -> None:
            if isinstance(event, ev.AudioOut):
                await emit(event)
                return
            if isinstance(event, ev.TextOut):
                self._told[event.item_id] = self._told.get(event.item_id, "") + event.delta
            await self.sync(emit)
            await emit(event)
            if isinstance(event, ev.SessionStarted):
                await self._announce(emit)

        return logged

    async def _announce(self, emit: Emit) -> None:
        await emit(ev.ConversationOpened(self.id, self.resumed, len(self.restored)))
        previous = None
        for item in self.restored:
            await emit(ev.ItemRestored(item, previous))
            previous = item.id

    # --- writing -----------------------------------------------------------------------

    def _wanted(self) -> dict[str, StoredItem]:
        """What the store should hold now: every item with something in it."""
        wanted: dict[str, StoredItem] = {}
        for item in self.items:
            text = item.text
            if item.status == "in_progress" and not text:
                text = self._told.get(item.id, "")
                if not text:
                    continue  # nothing of it was told yet
            old = self._stored.get(item.id)
            created = old.created_at if old is not None else time.time()
            wanted[item.id] = StoredItem(
                item.id, item.role, text, item.kind, item.status, item.persona, created,
                item.call_id, item.name,
            )  # fmt: skip
        return wanted

    def _changes(self) -> tuple[Changes, dict[str, StoredItem]]:
        wanted = self._wanted()
        upserts = [s for i, s in wanted.items() if self._stored.get(i) != s]
        deletes = [i for i in self._stored if i not in wanted]
        return Changes(upserts, deletes, create=not self._stored), wanted

    async def sync(self, emit: Emit | None = None) -> None:
        """Write what changed; a failure is reported (once) through `emit`."""
        if self.erased or (self._retry_at is not None and self.clock() < self._retry_at):
            return
        async with self._lock:
            changes, wanted = self._changes()
            if not changes.upserts and not changes.deletes:
                return
            started = time.perf_counter()
            try:
                await self.store.write(self.id, self.owner, changes)
            except ConversationErased as exc:
                await self._gone(exc, emit)
                return
            except StorageError as exc:
                await self._failed(exc, emit)
                return
            self.health.wrote(time.perf_counter() - started)
            self._stored = wanted
            for item_id in list(self._told):
                if item_id in wanted and wanted[item_id].status != "in_progress":
                    del self._told[item_id]
            if self._retry_at is not None:
                self._retry_at = None
                log.info("conversation %s: persisting again", self.id)

    async def _failed(self, exc: StorageError, emit: Emit | None) -> None:
        first = self._retry_at is None
        self._retry_at = self.clock() + self.retry_s
        self.health.failed(str(exc))
        if not first:
            return
        log.error(
            "conversation %s: not persisting: %s; it goes on in memory, retrying every %g s",
            self.id, exc, self.retry_s,
        )  # fmt: skip
        if emit is not None:
            await emit(
                ev.ErrorRaised(
                    "storage_unavailable",
                    f"the conversation is not being saved ({exc}); it goes on, and what is "
                    "said is saved once the store can be written again",
                    type="server_error",
                )
            )

    async def _gone(self, exc: ConversationErased, emit: Emit | None) -> None:
        """Erased means erased: what the session says next is not saved under it again."""
        self.erased = True
        log.info("conversation %s was erased while open: no longer saved", self.id)
        if emit is not None:
            await emit(
                ev.ErrorRaised(
                    exc.code,
                    "this conversation was deleted; it goes on, but nothing more of it is "
                    "saved (reconnect without ?conversation= to start a new one)",
                    type="server_error",
                )
            )

    async def flush(self) -> None:
        """Write what is left, once more even if writes were failing (the session ends)."""
        self._retry_at = None
        await self.sync()
