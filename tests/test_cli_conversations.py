"""`zenglow conversations list | show | export | delete | erase | purge` on a store file."""

from __future__ import annotations

import asyncio
import json
import sqlite3
from pathlib import Path

import pytest

from zenglow.cli import main
from zenglow.storage import Changes, StoredItem
from zenglow.storage.sqlite import FILE_NAME, SqliteStore
from zenglow.transports.door.keys import key_id

KEY = "cli-conversation-key-0123456"


@pytest.fixture
def folder(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("ZENGLOW_STORAGE__DATA_DIR", str(tmp_path))

    async def seed() -> None:
        store = SqliteStore(tmp_path)
        said = [StoredItem("i1", "user", "Where is the harbour?")]
        said.append(StoredItem("i2", "assistant", "Down the hill,", status="incomplete"))
        await store.write("conv_mine", key_id(KEY), Changes(said))
        await store.write("conv_open", "server", Changes([StoredItem("i3", "user", "Hello")]))
        await store.close()

    asyncio.run(seed())
    return tmp_path


def test_list_show_and_export(folder: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["conversations", "list"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert [line.split()[0] for line in lines] == ["conv_open", "conv_mine"]  # newest first
    assert main(["conversations", "list", "--owner", KEY, "--json"]) == 0
    listed = json.loads(capsys.readouterr().out)
    assert [(c["id"], c["owner"], c["items"]) for c in listed] == [("conv_mine", key_id(KEY), 2)]
    assert main(["conversations", "show", "conv_mine"]) == 0
    shown = capsys.readouterr().out
    assert "user: Where is the harbour?" in shown and "Down the hill, [incomplete]" in shown
    assert main(["conversations", "export", "conv_mine"]) == 0
    exported = json.loads(capsys.readouterr().out)
    assert [i["text"] for i in exported["data"]] == ["Where is the harbour?", "Down the hill,"]


def test_delete_erase_and_purge(folder: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["conversations", "delete", "conv_mine", "--owner", "server"]) == 2  # not theirs
    assert "no conversation with id 'conv_mine'" in capsys.readouterr().err
    assert main(["conversations", "erase", "--owner", KEY]) == 0
    assert "erased 1 conversation(s)" in capsys.readouterr().out
    assert b"harbour" not in (folder / FILE_NAME).read_bytes()
    assert main(["conversations", "erase"]) == 2  # erasing everyone's needs an owner
    assert "needs --owner" in capsys.readouterr().err
    db = sqlite3.connect(folder / FILE_NAME)
    db.execute("UPDATE conversations SET updated_at = updated_at - 40 * 86400")
    db.commit()
    db.close()
    assert main(["conversations", "purge"]) == 0  # no retention set: kept
    assert "erased 0" in capsys.readouterr().out
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("ZENGLOW_STORAGE__RETENTION_DAYS", "30")
        assert main(["conversations", "purge"]) == 0
    assert "erased 1" in capsys.readouterr().out
    assert main(["conversations", "delete", "conv_open"]) == 2
    assert main(["conversations", "show"]) == 2
    err = capsys.readouterr().err.splitlines()
    assert len(err) == 2 and all(line.startswith("zenglow conversations: ") for line in err)


def test_serve_stops_at_a_damaged_database_with_one_line(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("ZENGLOW_STORAGE__DATA_DIR", str(tmp_path))
    (tmp_path / FILE_NAME).write_bytes(b"not a database at all " * 500)
    assert main(["serve", "--port", "0"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("zenglow serve: storage.data_dir: ")
    assert FILE_NAME in err[0] and "move it aside" in err[0]
