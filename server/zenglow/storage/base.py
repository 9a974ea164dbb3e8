"""The conversation store's interface: what a session and the routes ask of any backend.

A backend keeps conversations (an owner, times) and their items in order.  Every method is
a coroutine: the SQLite backend runs its work in a worker thread of its own, a networked
backend (PostgreSQL, for several servers behind one balancer) would await its driver.
Methods that take an `owner` see only that owner's conversations; `None` (the command line)
sees them all.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Protocol

SERVER_OWNER = "server"  # who owns conversations when auth is off


class StorageError(Exception):
    """The store cannot do what was asked (disk full, read-only, locked...)."""

    code = "storage_unavailable"

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class ConversationErased(StorageError):
    """A write to a conversation that was erased while a session still had it open."""

    code = "conversation_deleted"


class StorageCorrupt(StorageError):
    """The database file is damaged or is not a database: found when the store opens."""


@dataclass(frozen=True, slots=True)
class StoredItem:
    id: str
    role: str  # user | assistant | system
    text: str
    kind: str = "text"  # audio (spoken) | text (typed) | function_call | function_call_output
    status: str = "completed"  # completed | incomplete | in_progress
    persona: str | None = None
    created_at: float = field(default_factory=time.time)
    call_id: str | None = None  # function calls and their outputs (text: arguments | output)
    name: str | None = None  # the function a call names

    def as_json(self) -> dict[str, object]:
        out: dict[str, object] = {
            "id": self.id,
            "role": self.role,
            "kind": self.kind,
            "text": self.text,
            "persona": self.persona,
            "status": self.status,
            "created_at": round(self.created_at, 3),
        }
        if self.call_id is not None:
            out |= {"call_id": self.call_id, "name": self.name}
        return out


@dataclass(frozen=True, slots=True)
class ConversationInfo:
    id: str
    owner: str
    created_at: float
    updated_at: float
    items: int = 0
    preview: str = ""  # the start of the first thing the user said

    def as_json(self) -> dict[str, object]:
        return {
            "id": self.id,
            "object": "zenglow.conversation",
            "created_at": round(self.created_at, 3),
            "updated_at": round(self.updated_at, 3),
            "items": self.items,
            "preview": self.preview,
        }


@dataclass(frozen=True, slots=True)
class Changes:
    """One atomic write to a conversation: items added or changed, items removed."""

    upserts: Sequence[StoredItem] = ()
    deletes: Sequence[str] = ()
    create: bool = True  # False: the conversation was written before, and must still exist


class ConversationStore(Protocol):
    """A backend.  Writes raise StorageError; reads of a missing or foreign conversation
    answer None (or False), so a caller cannot tell one from the other."""

    async def open(self) -> None:
        """Check the store can be used (StorageCorrupt for a damaged file)."""

    async def close(self) -> None: ...

    async def conversation(
        self, conversation_id: str, owner: str | None
    ) -> ConversationInfo | None: ...

    async def items(self, conversation_id: str, owner: str | None) -> list[StoredItem] | None: ...

    async def write(self, conversation_id: str, owner: str, changes: Changes) -> None:
        """Apply `changes` at once, creating the conversation on its first write."""

    async def conversations(
        self, owner: str | None, *, limit: int = 20, before: float | None = None
    ) -> list[ConversationInfo]:
        """Newest first (by last change); `before`: only those changed before this time."""

    async def delete(self, conversation_id: str, owner: str | None) -> bool:
        """Erase the conversation and its items from disk; False if there was none."""

    async def erase_owner(self, owner: str) -> int:
        """Erase every conversation of `owner`; how many there were."""

    async def purge(self, older_than: float) -> int:
        """Erase conversations unchanged since `older_than` (unix seconds); how many."""
