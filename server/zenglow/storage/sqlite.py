"""The SQLite backend: one database file in WAL mode, used from one worker thread.

Every call runs in the store's own thread (never on the event loop), in order.  Deletes
are real: `secure_delete` overwrites freed pages and the WAL is checkpointed and truncated
after each erase, so an erased conversation's words are not left in the files.
"""

from __future__ import annotations

import asyncio
import sqlite3
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, TypeVar

from .base import (
    Changes,
    ConversationErased,
    ConversationInfo,
    StorageCorrupt,
    StorageError,
    StoredItem,
)

T = TypeVar("T")
FILE_NAME = "conversations.sqlite3"
PREVIEW_CHARS = 80

SCHEMA = """
CREATE TABLE IF NOT EXISTS conversations (
    id TEXT PRIMARY KEY,
    owner TEXT NOT NULL,
    created_at REAL NOT NULL,
    updated_at REAL NOT NULL
);
CREATE INDEX IF NOT EXISTS conversations_by_owner ON conversations (owner, updated_at);
CREATE TABLE IF NOT EXISTS items (
    conversation_id TEXT NOT NULL REFERENCES conversations (id) ON DELETE CASCADE,
    id TEXT NOT NULL,
    seq INTEGER NOT NULL,
    role TEXT NOT NULL,
    kind TEXT NOT NULL,
    text TEXT NOT NULL,
    status TEXT NOT NULL,
    persona TEXT,
    created_at REAL NOT NULL,
    call_id TEXT,
    name TEXT,
    PRIMARY KEY (conversation_id, id)
);
CREATE INDEX IF NOT EXISTS items_in_order ON items (conversation_id, seq);
"""

_INFO = """
SELECT c.id, c.owner, c.created_at, c.updated_at,
       (SELECT count(*) FROM items i WHERE i.conversation_id = c.id),
       coalesce((SELECT substr(i.text, 1, ?) FROM items i
                 WHERE i.conversation_id = c.id AND i.role = 'user' AND i.text != ''
                 ORDER BY i.seq LIMIT 1), '')
FROM conversations c
"""


def _describe(exc: sqlite3.Error, path: Path) -> str:
    text = str(exc)
    if "readonly" in text or "unable to open" in text:
        return f"cannot write {path} ({text}): is its folder read-only?"
    if "full" in text or "disk I/O" in text:
        return f"cannot write {path}: the disk is full ({text})"
    if "locked" in text or "busy" in text:
        return f"cannot write {path}: the database is locked by another process ({text})"
    return f"{path}: {text}"


class SqliteStore:
    def __init__(
        self, data_dir: Path, *, synchronous: str = "normal", busy_timeout_ms: int = 500
    ) -> None:
        self.path = Path(data_dir).expanduser() / FILE_NAME
        self.synchronous = synchronous.upper()
        self.busy_timeout_ms = busy_timeout_ms
        self._db: sqlite3.Connection | None = None
        self._closed = False
        self._thread = ThreadPoolExecutor(max_workers=1, thread_name_prefix="conversation-store")

    # --- plumbing ----------------------------------------------------------------------

    async def _run(self, fn: Callable[..., T], *args: Any) -> T:
        if self._closed:
            raise StorageError(f"{self.path}: the store is closed")
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._thread, self._guarded, fn, args)

    def _guarded(self, fn: Callable[..., T], args: tuple[Any, ...]) -> T:
        try:
            return fn(self._connection(), *args)
        except StorageError:
            raise
        except sqlite3.DatabaseError as exc:
            if self._db is not None and isinstance(exc, sqlite3.OperationalError):
                if "readonly" in str(exc):
                    self._drop()  # reopen next time: the folder may be writable again
            raise StorageError(_describe(exc, self.path)) from None

    def _connection(self) -> sqlite3.Connection:
        if self._db is None:
            self._db = self._connect()
        return self._db

    def _connect(self) -> sqlite3.Connection:
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise StorageError(f"cannot create {self.path.parent}: {exc.strerror}") from None
        db = sqlite3.connect(
            self.path,
            timeout=self.busy_timeout_ms / 1000,
            isolation_level=None,  # transactions are explicit
            check_same_thread=False,  # one worker thread, but not the one that made it
        )
        try:
            check = db.execute("PRAGMA quick_check").fetchone()
            if check is None or check[0] != "ok":
                raise StorageCorrupt(f"{self.path} is damaged ({check and check[0]})")
            db.execute("PRAGMA journal_mode=WAL")
            db.execute(f"PRAGMA synchronous={self.synchronous}")
            db.execute("PRAGMA foreign_keys=ON")
            db.execute("PRAGMA secure_delete=ON")
            db.executescript(SCHEMA)
            _add_columns(db)
        except sqlite3.DatabaseError as exc:
            db.close()
            if isinstance(exc, sqlite3.OperationalError):
                raise StorageError(_describe(exc, self.path)) from None
            raise StorageCorrupt(
                f"{self.path} is not a usable conversation database ({exc}); "
                "move it aside or restore a backup"
            ) from None
        except StorageCorrupt:
            db.close()
            raise
        return db

    def _drop(self) -> None:
        if self._db is not None:
            self._db.close()
            self._db = None

    # --- the interface -----------------------------------------------------------------

    async def open(self) -> None:
        await self._run(lambda db: None)

    async def close(self) -> None:
        if self._closed:
            return
        await asyncio.get_running_loop().run_in_executor(self._thread, self._drop)
        self._closed = True
        self._thread.shutdown(wait=True)

    async def conversation(
        self, conversation_id: str, owner: str | None
    ) -> ConversationInfo | None:
        return await self._run(_info, conversation_id, owner)

    async def items(self, conversation_id: str, owner: str | None) -> list[StoredItem] | None:
        return await self._run(_items, conversation_id, owner)

    async def write(self, conversation_id: str, owner: str, changes: Changes) -> None:
        await self._run(_write, conversation_id, owner, changes)

    async def conversations(
        self, owner: str | None, *, limit: int = 20, before: float | None = None
    ) -> list[ConversationInfo]:
        return await self._run(_list, owner, limit, before)

    async def delete(self, conversation_id: str, owner: str | None) -> bool:
        return await self._run(_erase, "id = ?", conversation_id, owner) > 0

    async def erase_owner(self, owner: str) -> int:
        return await self._run(_erase, "owner = ?", owner, None)

    async def purge(self, older_than: float) -> int:
        return await self._run(_erase, "updated_at < ?", older_than, None)


# --- the queries (run in the worker thread) ------------------------------------------


def _owned(owner: str | None) -> tuple[str, tuple[Any, ...]]:
    return ("", ()) if owner is None else (" AND c.owner = ?", (owner,))


def _to_info(row: tuple[Any, ...]) -> ConversationInfo:
    return ConversationInfo(*row)


def _info(
    db: sqlite3.Connection, conversation_id: str, owner: str | None
) -> ConversationInfo | None:
    where, args = _owned(owner)
    row = db.execute(
        _INFO + " WHERE c.id = ?" + where, (PREVIEW_CHARS, conversation_id, *args)
    ).fetchone()
    return None if row is None else _to_info(row)


def _add_columns(db: sqlite3.Connection) -> None:
    """Columns a store made by an earlier release lacks (function calls' id and name)."""
    have = {row[1] for row in db.execute("PRAGMA table_info(items)")}
    for column in ("call_id", "name"):
        if column not in have:
            db.execute(f"ALTER TABLE items ADD COLUMN {column} TEXT")


def _items(
    db: sqlite3.Connection, conversation_id: str, owner: str | None
) -> list[StoredItem] | None:
    if _info(db, conversation_id, owner) is None:
        return None
    rows = db.execute(
        "SELECT id, role, text, kind, status, persona, created_at, call_id, name FROM items "
        "WHERE conversation_id = ? ORDER BY seq",
        (conversation_id,),
    ).fetchall()
    return [StoredItem(*row) for row in rows]


def _write(db: sqlite3.Connection, conversation_id: str, owner: str, changes: Changes) -> None:
    now = time.time()
    db.execute("BEGIN IMMEDIATE")
    try:
        row = db.execute(
            "SELECT owner FROM conversations WHERE id = ?", (conversation_id,)
        ).fetchone()
        if row is None and not changes.create:
            raise ConversationErased(f"conversation {conversation_id} was erased")
        if row is None:
            db.execute(
                "INSERT INTO conversations (id, owner, created_at, updated_at) VALUES (?, ?, ?, ?)",
                (conversation_id, owner, now, now),
            )
        elif row[0] != owner:
            raise StorageError(f"conversation {conversation_id} belongs to another owner")
        else:
            db.execute(
                "UPDATE conversations SET updated_at = ? WHERE id = ?", (now, conversation_id)
            )
        (seq,) = db.execute(
            "SELECT coalesce(max(seq), 0) FROM items WHERE conversation_id = ?", (conversation_id,)
        ).fetchone()
        for item in changes.upserts:
            seq += 1
            db.execute(
                "INSERT INTO items (conversation_id, id, seq, role, kind, text, status, persona,"
                " created_at, call_id, name) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
                " ON CONFLICT (conversation_id, id) DO UPDATE SET text = excluded.text,"
                " status = excluded.status, persona = excluded.persona",
                (conversation_id, item.id, seq, item.role, item.kind, item.text, item.status,
                 item.persona, item.created_at, item.call_id, item.name),
            )  # fmt: skip
        for item_id in changes.deletes:
            db.execute(
                "DELETE FROM items WHERE conversation_id = ? AND id = ?", (conversation_id, item_id)
            )
        db.execute("COMMIT")
    except BaseException:
        if db.in_transaction:
            db.execute("ROLLBACK")
        raise


def _list(
    db: sqlite3.Connection, owner: str | None, limit: int, before: float | None
) -> list[ConversationInfo]:
    clauses, args = [], []
    if owner is not None:
        clauses.append("c.owner = ?")
        args.append(owner)
    if before is not None:
        clauses.append("c.updated_at < ?")
        args.append(before)
    where = (" WHERE " + " AND ".join(clauses)) if clauses else ""
    rows = db.execute(
        _INFO + where + " ORDER BY c.updated_at DESC LIMIT ?", (PREVIEW_CHARS, *args, limit)
    ).fetchall()
    return [_to_info(r) for r in rows]


def _erase(db: sqlite3.Connection, where: str, value: Any, owner: str | None) -> int:
    if owner is not None:
        where += " AND owner = ?"
    args = (value,) if owner is None else (value, owner)
    db.execute("BEGIN IMMEDIATE")
    try:
        gone = db.execute(f"DELETE FROM conversations WHERE {where}", args).rowcount
        db.execute("COMMIT")
    except BaseException:
        if db.in_transaction:
            db.execute("ROLLBACK")
        raise
    if gone:
        db.execute("PRAGMA wal_checkpoint(TRUNCATE)")  # the erased text leaves the WAL too
    return gone
