"""The conversation store and the log, without a server: order, ownership, real erasure,
a damaged file, and the rule that an item is committed before its event goes out."""

from __future__ import annotations

import asyncio
import sqlite3
from collections.abc import Awaitable, Callable
from pathlib import Path

import pytest

from zenglow.conversation import events as ev
from zenglow.settings import SettingsError
from zenglow.settings.storage import StorageSettings
from zenglow.storage import (
    Changes,
    ConversationLog,
    ConversationNotFound,
    Conversations,
    StorageCorrupt,
    StorageError,
    StoredItem,
    StoreHealth,
)
from zenglow.storage.conversations import check_store
from zenglow.storage.log import restored_item
from zenglow.storage.sqlite import FILE_NAME, SqliteStore


def item(id_: str, role: str = "user", text: str = "hello", **kw: object) -> StoredItem:
    return StoredItem(id_, role, text, **kw)  # type: ignore[arg-type]


async def test_items_keep_their_order_and_their_latest_words(tmp_path: Path) -> None:
    store = SqliteStore(tmp_path)
    await store.open()
    await store.write("conv_a", "key_1", Changes([item("i1"), item("i2", "assistant", "hi")]))
    await store.write("conv_a", "key_1", Changes([item("i3", text="bye")]))
    await store.write(
        "conv_a", "key_1", Changes([item("i2", "assistant", "hi there", status="incomplete")])
    )
    got = await store.items("conv_a", "key_1")
    assert got is not None
    assert [(i.id, i.text, i.status) for i in got] == [
        ("i1", "hello", "completed"), ("i2", "hi there", "incomplete"), ("i3", "bye", "completed"),
    ]  # fmt: skip
    await store.write("conv_a", "key_1", Changes(deletes=["i1"]))
    got = await store.items("conv_a", "key_1")
    assert got is not None and [i.id for i in got] == ["i2", "i3"]
    info = await store.conversation("conv_a", "key_1")
    assert info is not None and info.items == 2 and info.preview == "bye"
    await store.close()


async def test_an_owner_sees_only_their_own(tmp_path: Path) -> None:
    store = SqliteStore(tmp_path)
    await store.write("conv_a", "key_1", Changes([item("i1")]))
    assert await store.items("conv_a", "key_2") is None
    assert await store.conversation("conv_a", "key_2") is None
    assert await store.conversations("key_2") == []
    assert await store.delete("conv_a", "key_2") is False
    with pytest.raises(StorageError, match="another owner"):
        await store.write("conv_a", "key_2", Changes([item("i9")]))
    assert [c.id for c in await store.conversations("key_1")] == ["conv_a"]
    assert [c.id for c in await store.conversations(None)] == ["conv_a"]  # the command line
    await store.close()


async def test_listing_is_newest_first_and_pages(tmp_path: Path) -> None:
    store = SqliteStore(tmp_path)
    for n in range(5):
        await store.write(f"conv_{n}", "key_1", Changes([item(f"i{n}")]))
    first = await store.conversations("key_1", limit=2)
    assert [c.id for c in first] == ["conv_4", "conv_3"]
    rest = await store.conversations("key_1", limit=10, before=first[-1].updated_at)
    assert [c.id for c in rest] == ["conv_2", "conv_1", "conv_0"]
    await store.close()


def _on_disk(folder: Path) -> bytes:
    return b"".join(p.read_bytes() for p in folder.iterdir() if p.name.startswith(FILE_NAME))


async def test_a_deleted_conversation_is_gone_from_the_files(tmp_path: Path) -> None:
    store = SqliteStore(tmp_path)
    secret = "my locker code is 7391-zebra"
    await store.write("conv_a", "key_1", Changes([item("i1", text=secret)]))
    await store.write("conv_b", "key_1", Changes([item("i2", text="keep this")]))
    assert secret.encode() in _on_disk(tmp_path)
    assert await store.delete("conv_a", "key_1") is True
    assert secret.encode() not in _on_disk(tmp_path)
    assert b"keep this" in _on_disk(tmp_path)
    await store.close()


async def test_erase_an_owner_and_purge_by_age(tmp_path: Path) -> None:
    store = SqliteStore(tmp_path)
    await store.write("conv_a", "key_1", Changes([item("i1", text="first key")]))
    await store.write("conv_b", "key_1", Changes([item("i2")]))
    await store.write("conv_c", "key_2", Changes([item("i3")]))
    assert await store.erase_owner("key_1") == 2
    assert b"first key" not in _on_disk(tmp_path)
    assert [c.id for c in await store.conversations(None)] == ["conv_c"]
    assert await store.purge(older_than=0.0) == 0
    settings = StorageSettings(data_dir=tmp_path, retention_days=1)
    db = sqlite3.connect(tmp_path / FILE_NAME)
    db.execute("UPDATE conversations SET updated_at = updated_at - 2 * 86400")
    db.commit()
    db.close()
    assert await Conversations(settings, store).purge() == 1
    assert await store.conversations(None) == []
    await store.close()


async def test_a_damaged_file_is_found_at_start_in_one_line(tmp_path: Path) -> None:
    (tmp_path / FILE_NAME).write_bytes(b"this is not a database, it is a shopping list " * 200)
    with pytest.raises(StorageCorrupt, match="not a usable conversation database"):
        await SqliteStore(tmp_path).open()
    with pytest.raises(SettingsError) as caught:
        await asyncio.to_thread(check_store, StorageSettings(data_dir=tmp_path))
    assert len(str(caught.value).splitlines()) == 1
    assert "move it aside" in str(caught.value)


async def test_resuming_needs_the_owner_and_a_known_id(tmp_path: Path) -> None:
    conversations = Conversations(StorageSettings(data_dir=tmp_path), SqliteStore(tmp_path))
    await conversations.start()
    fresh = await conversations.open_log("key_1", None)
    assert fresh is not None and not fresh.resumed
    await conversations.store.write(fresh.id, "key_1", Changes([item("i1")]))  # type: ignore[union-attr]
    again = await conversations.open_log("key_1", fresh.id)
    assert again is not None and again.resumed and [i.text for i in again.restored] == ["hello"]
    for owner, wanted in [("key_2", fresh.id), ("key_1", "conv_nope"), ("key_1", "x" * 500)]:
        with pytest.raises(ConversationNotFound):
            await conversations.open_log(owner, wanted)
    await conversations.stop()


async def test_function_calls_come_back_as_calls_with_their_ids(tmp_path: Path) -> None:
    store = SqliteStore(tmp_path)
    await store.write(
        "conv_a",
        "key_1",
        Changes([
            item("i1", text="Lights off in the kitchen"),
            StoredItem("i2", "assistant", '{"room": "kitchen"}', "function_call", call_id="c1",
                       name="lights_off"),
            StoredItem("i3", "user", "done", "function_call_output", call_id="c1"),
        ]),
    )  # fmt: skip
    got = await store.items("conv_a", "key_1")
    assert got is not None
    restored = [restored_item(i) for i in got]
    assert [(i.kind, i.call_id, i.name) for i in restored] == [
        ("text", None, None), ("function_call", "c1", "lights_off"),
        ("function_call_output", "c1", None),
    ]  # fmt: skip
    assert got[1].as_json()["call_id"] == "c1" and "call_id" not in got[0].as_json()
    await store.close()


async def test_a_store_without_the_call_columns_gains_them(tmp_path: Path) -> None:
    db = sqlite3.connect(tmp_path / FILE_NAME)
    db.executescript(
        "CREATE TABLE conversations (id TEXT PRIMARY KEY, owner TEXT NOT NULL,"
        " created_at REAL NOT NULL, updated_at REAL NOT NULL);"
        "CREATE TABLE items (conversation_id TEXT NOT NULL, id TEXT NOT NULL,"
        " seq INTEGER NOT NULL, role TEXT NOT NULL, kind TEXT NOT NULL, text TEXT NOT NULL,"
        " status TEXT NOT NULL, persona TEXT, created_at REAL NOT NULL,"
        " PRIMARY KEY (conversation_id, id));"
        "INSERT INTO conversations VALUES ('conv_a', 'key_1', 1, 1);"
        "INSERT INTO items VALUES ('conv_a', 'i1', 1, 'user', 'text', 'old words',"
        " 'completed', NULL, 1);"
    )
    db.close()
    store = SqliteStore(tmp_path)
    await store.write("conv_a", "key_1", Changes([StoredItem("i2", "user", "x", call_id="c9")]))
    got = await store.items("conv_a", "key_1")
    assert got is not None and [(i.text, i.call_id) for i in got] == [
        ("old words", None), ("x", "c9"),
    ]  # fmt: skip
    await store.close()


class Recorder:
    """The transport's emit: records each event with what the store held at that moment."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.seen: list[tuple[ev.SessionEvent, list[tuple[str, str, str]]]] = []

    async def __call__(self, event: ev.SessionEvent) -> None:
        db = sqlite3.connect(self.folder / FILE_NAME)
        rows = db.execute("SELECT id, text, status FROM items ORDER BY seq").fetchall()
        db.close()
        self.seen.append((event, rows))

    def stored_at(self, kind: type) -> list[list[tuple[str, str, str]]]:
        return [rows for event, rows in self.seen if isinstance(event, kind)]


async def test_each_item_is_committed_before_its_event_goes_out(tmp_path: Path) -> None:
    store = SqliteStore(tmp_path)
    await store.open()
    log = ConversationLog(store, StoreHealth(), "conv_a", "key_1")
    rec = Recorder(tmp_path)
    emit = log.wrap(rec)
    items: list[ev.Item] = []
    log.attach(items)
    config = ev.SessionConfig(id="sess_1", model="jarvis")
    await emit(ev.SessionStarted(config))
    items.append(ev.Item("u1", "user", "What is a lighthouse?"))
    await emit(ev.ItemAdded(items[-1], None))
    items.append(ev.Item("a1", "assistant", "", "audio", "in_progress", "jarvis"))
    await emit(ev.ResponseStarted("r1", "a1", "u1", "jarvis", ("audio",)))
    await emit(ev.TextOut("r1", "a1", "A tower."))
    await emit(ev.AudioOut("r1", "a1", b"\x00\x00" * 240, 0.0))
    await emit(ev.TextOut("r1", "a1", " It guides ships."))
    items[-1] = ev.Item("a1", "assistant", "A tower.", "audio", "incomplete", "jarvis")
    await emit(ev.ResponseDone("r1", "a1", "cancelled", "A tower."))
    types = [type(e).__name__ for e, _ in rec.seen]
    assert types[:2] == ["SessionStarted", "ConversationOpened"]
    assert rec.stored_at(ev.ItemAdded) == [[("u1", "What is a lighthouse?", "completed")]]
    assert rec.stored_at(ev.TextOut) == [
        [("u1", "What is a lighthouse?", "completed"), ("a1", "A tower.", "in_progress")],
        [("u1", "What is a lighthouse?", "completed"),
         ("a1", "A tower. It guides ships.", "in_progress")],
    ]  # fmt: skip
    # cut short: stored as heard, and marked so
    assert rec.stored_at(ev.ResponseDone)[0][-1] == ("a1", "A tower.", "incomplete")
    # a crash leaves an item in progress: resumed, it is incomplete, as far as it was told
    await store.write(
        "conv_a", "key_1", Changes([item("a2", "assistant", "Half", status="in_progress")])
    )
    resumed = ConversationLog(
        store, StoreHealth(), "conv_a", "key_1", await store.items("conv_a", "key_1")
    )
    assert [(i.id, i.status) for i in resumed.restored][-1] == ("a2", "incomplete")
    await store.close()


class Failing:
    """A store whose writes fail until `healed`: the session must go on regardless."""

    def __init__(self) -> None:
        self.healed = False
        self.written: list[Changes] = []

    async def write(self, conversation_id: str, owner: str, changes: Changes) -> None:
        if not self.healed:
            raise StorageError("cannot write conversations.sqlite3: the disk is full")
        self.written.append(changes)


def session_on(
    log: ConversationLog,
) -> tuple[Callable[[ev.SessionEvent], Awaitable[None]], list[ev.Item], list[ev.SessionEvent]]:
    """What a session does with a log: its emit wrapped, its item list attached.  Returns
    (the emit, the items, what reached the transport)."""
    sent: list[ev.SessionEvent] = []

    async def out(e: ev.SessionEvent) -> None:
        sent.append(e)

    items: list[ev.Item] = []
    log.attach(items)
    return log.wrap(out), items, sent


async def test_a_failing_store_is_told_once_and_caught_up_later() -> None:
    store, health = Failing(), StoreHealth()
    now = [0.0]
    log = ConversationLog(store, health, "conv_a", "key_1", retry_s=5, clock=lambda: now[0])  # type: ignore[arg-type]
    emit, items, sent = session_on(log)
    for n in range(3):
        items.append(ev.Item(f"u{n}", "user", f"line {n}"))
        await emit(ev.ItemAdded(items[-1], None))
    errors = [e for e in sent if isinstance(e, ev.ErrorRaised)]
    assert [e.code for e in errors] == ["storage_unavailable"]  # told once, not per item
    assert [type(e).__name__ for e in sent].count("ItemAdded") == 3  # the session went on
    assert health.persisting is False and "disk is full" in str(health.detail()["error"])
    store.healed, now[0] = True, 6.0
    await emit(ev.StateChanged("listening"))
    assert [i.id for i in store.written[0].upserts] == ["u0", "u1", "u2"]  # all caught up
    assert health.persisting is True


async def test_a_locked_database_fails_the_write_clearly_and_then_recovers(tmp_path: Path) -> None:
    store = SqliteStore(tmp_path, busy_timeout_ms=50)
    await store.write("conv_a", "key_1", Changes([item("i1")]))
    other = sqlite3.connect(tmp_path / FILE_NAME, isolation_level=None)
    other.execute("BEGIN IMMEDIATE")  # another process holds the write lock
    try:
        with pytest.raises(StorageError, match="locked by another process"):
            await store.write("conv_a", "key_1", Changes([item("i2")]))
    finally:
        other.execute("ROLLBACK")
        other.close()
    await store.write("conv_a", "key_1", Changes([item("i2")]))
    got = await store.items("conv_a", "key_1")
    assert got is not None and [i.id for i in got] == ["i1", "i2"]
    await store.close()


async def test_a_conversation_erased_while_open_stays_erased(tmp_path: Path) -> None:
    store = SqliteStore(tmp_path)
    log = ConversationLog(store, StoreHealth(), "conv_a", "key_1")
    emit, items, sent = session_on(log)
    items.append(ev.Item("u1", "user", "Something private."))
    await emit(ev.ItemAdded(items[-1], None))
    assert await store.delete("conv_a", "key_1") is True  # over REST, while the session is on
    items.append(ev.Item("u2", "user", "And more."))
    await emit(ev.ItemAdded(items[-1], None))
    await emit(ev.StateChanged("listening"))
    assert await store.conversation("conv_a", None) is None  # not brought back, not in part
    codes = [e.code for e in sent if isinstance(e, ev.ErrorRaised)]
    assert codes == ["conversation_deleted"] and log.erased
    await store.close()
