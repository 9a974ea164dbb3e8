"""Conversations: the store as the server uses it.  Opens it at start (a damaged file is
one clear error), purges what retention says, and opens a `ConversationLog` for each new
or resumed session of an owner."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
import uuid

from ..settings import SettingsError
from ..settings.storage import StorageSettings
from .base import ConversationStore, StorageCorrupt, StorageError
from .health import StoreHealth
from .log import ConversationLog
from .sqlite import SqliteStore

log = logging.getLogger(__name__)

PURGE_EVERY_S = 3600.0
MAX_ID_CHARS = 64


class ConversationNotFound(Exception):
    """An unknown conversation, or another owner's (the caller cannot tell which)."""

    code = "conversation_not_found"

    def __init__(self, conversation_id: str) -> None:
        self.message = f"no conversation with id {conversation_id[:MAX_ID_CHARS]!r}"
        super().__init__(self.message)


def new_conversation_id() -> str:
    return f"conv_{uuid.uuid4().hex[:24]}"


def open_store(settings: StorageSettings) -> ConversationStore | None:
    if settings.backend == "off":
        return None
    return SqliteStore(
        settings.data_dir,
        synchronous=settings.synchronous,
        busy_timeout_ms=settings.busy_timeout_ms,
    )


def check_store(settings: StorageSettings) -> None:
    """Before serving: a damaged database file stops the server with one line (a store
    that cannot be written yet does not: the server then runs without saving)."""
    store = open_store(settings)
    if store is None:
        return

    async def probe() -> None:
        try:
            await store.open()
        except StorageError as exc:
            if isinstance(exc, StorageCorrupt):
                raise SettingsError(f"storage.data_dir: {exc}") from None
        finally:
            await store.close()

    asyncio.run(probe())


class Conversations:
    def __init__(
        self,
        settings: StorageSettings,
        store: ConversationStore | None,
        health: StoreHealth | None = None,
    ) -> None:
        self.settings = settings
        self.store = store
        self.health = health or StoreHealth()
        self._purging: asyncio.Task[None] | None = None

    @property
    def enabled(self) -> bool:
        return self.store is not None

    async def start(self) -> None:
        """Open the store (StorageCorrupt for a damaged file stops the server); a store
        that cannot be written yet only means the server does not persist."""
        if self.store is None:
            return
        try:
            await self.store.open()
        except StorageError as exc:
            if type(exc) is not StorageError:
                raise
            self.health.failed(str(exc))
            log.error("conversations are not being saved: %s", exc)
        if self.settings.retention_days is not None:
            self._purging = asyncio.create_task(self._purge_loop(), name="retention")

    async def stop(self) -> None:
        if self._purging is not None:
            self._purging.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._purging
        if self.store is not None:
            await self.store.close()

    async def purge(self) -> int:
        """Erase what is older than `storage.retention_days`; how many conversations."""
        days = self.settings.retention_days
        if self.store is None or days is None:
            return 0
        gone = await self.store.purge(time.time() - days * 86400)
        if gone:
            log.info("retention: erased %d conversation(s) older than %g days", gone, days)
        return gone

    async def _purge_loop(self) -> None:
        while True:
            try:
                await self.purge()
            except StorageError as exc:
                log.warning("retention: could not purge: %s", exc)
            await asyncio.sleep(PURGE_EVERY_S)

    async def open_log(self, owner: str, conversation_id: str | None) -> ConversationLog | None:
        """The log of a new conversation of `owner`, or of the one `conversation_id` names
        (ConversationNotFound if it is not theirs); None with storage off."""
        if self.store is None:
            if conversation_id:
                raise ConversationNotFound(conversation_id)
            return None
        retry = self.settings.retry_s
        if not conversation_id:
            return ConversationLog(
                self.store, self.health, new_conversation_id(), owner, retry_s=retry
            )
        if len(conversation_id) > MAX_ID_CHARS:
            raise ConversationNotFound(conversation_id)
        items = await self.store.items(conversation_id, owner)
        if items is None:
            raise ConversationNotFound(conversation_id)
        return ConversationLog(
            self.store, self.health, conversation_id, owner, items, retry_s=retry
        )
