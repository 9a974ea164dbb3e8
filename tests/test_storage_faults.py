"""A full disk and a read-only data folder under a real server: the client is told once,
the conversation goes on in memory, `/ready` and the metrics say the server is not
persisting, and what was missed is saved once the disk has room again."""

from __future__ import annotations

import contextlib
import os
import resource
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx

from zenglow.app import create_app
from zenglow.engines.loader import Engines
from zenglow.settings.storage import StorageSettings

from .conftest import engines_with
from .server import LoopbackServer, connect, user_text

TEXT_ONLY = {
    "type": "session.update",
    "session": {"type": "realtime", "output_modalities": ["text"]},
}


def root() -> bool:
    return os.geteuid() == 0


@contextlib.contextmanager
def small_disk(folder: Path) -> Iterator[Path]:
    """A 1 MB file system of its own (as root), else the folder as it is."""
    folder.mkdir(parents=True, exist_ok=True)
    if not root():
        yield folder
        return
    subprocess.run(["mount", "-t", "tmpfs", "-o", "size=1m", "tmpfs", str(folder)], check=True)
    try:
        yield folder
    finally:
        subprocess.run(["umount", "-l", str(folder)], check=True)


@contextlib.contextmanager
def disk_full(folder: Path) -> Iterator[None]:
    """No room left for the store to grow: the small file system filled up (as root), else
    a file-size limit at the write-ahead log's present size (Python ignores SIGXFSZ)."""
    if root():
        filler = folder / "filler"
        fd = os.open(filler, os.O_WRONLY | os.O_CREAT)
        with contextlib.suppress(OSError):
            while True:
                os.write(fd, b"\0" * 4096)
        os.close(fd)
        try:
            yield
        finally:
            filler.unlink()
        return
    old = resource.getrlimit(resource.RLIMIT_FSIZE)
    wal = next(folder.glob("*-wal")).stat().st_size  # where each write lands first
    resource.setrlimit(resource.RLIMIT_FSIZE, (wal, old[1]))
    try:
        yield
    finally:
        resource.setrlimit(resource.RLIMIT_FSIZE, old)


@contextlib.contextmanager
def read_only(folder: Path) -> Iterator[None]:
    folder.mkdir(parents=True, exist_ok=True)
    if root():  # permissions do not stop root: a read-only mount does
        subprocess.run(
            ["mount", "-t", "tmpfs", "-o", "ro,size=1m", "tmpfs", str(folder)], check=True
        )
    else:
        folder.chmod(0o555)
    try:
        yield
    finally:
        if root():
            subprocess.run(["umount", "-l", str(folder)], check=True)
        else:
            folder.chmod(0o755)


@contextlib.contextmanager
def server_in(engines: Engines, folder: Path) -> Iterator[LoopbackServer]:
    storage = StorageSettings(data_dir=folder, retry_s=0.2)
    eng = engines_with(engines, storage=storage)
    with LoopbackServer(create_app(eng.settings, eng)) as srv:
        yield srv


async def turn(client: Any, text: str) -> dict[str, Any]:
    n = len(client.events)
    await client.send(user_text(text))
    await client.send({"type": "response.create"})
    return await client.wait_for("response.done", after=n, timeout=120)


def health(srv: LoopbackServer) -> tuple[dict[str, Any], str]:
    base = f"http://127.0.0.1:{srv.port}"
    ready = httpx.get(base + "/ready").json()
    metrics = [line for line in httpx.get(base + "/metrics").text.splitlines()]
    persisting = next(m for m in metrics if m.startswith("zenglow_storage_persisting "))
    return ready, persisting


def stored_texts(srv: LoopbackServer, conversation_id: str) -> list[str]:
    got = httpx.get(f"http://127.0.0.1:{srv.port}/v1/conversations/{conversation_id}").json()
    return [i["text"] for i in got["data"]]


async def test_a_full_disk(engines: Engines, tmp_path: Path) -> None:
    with small_disk(tmp_path / "data") as folder, server_in(engines, folder) as srv:
        async with connect(srv.ws_url) as client:
            opened = await client.wait_for("zenglow.conversation")
            await client.send(TEXT_ONLY)
            await turn(client, "The first thing I say.")
            assert stored_texts(srv, opened["id"])[0] == "The first thing I say."
            with disk_full(folder):
                done = await turn(client, "Said while the disk is full.")
                errors = [e for e in client.events if e["type"] == "error"]
                ready, persisting = health(srv)
                await turn(client, "Said once more.")
            assert done["response"]["status"] == "completed"  # the conversation went on
            codes = [e["error"]["code"] for e in client.events if e["type"] == "error"]
            assert codes == ["storage_unavailable"] and errors  # told once, not per item
            assert (
                "full" in errors[0]["error"]["message"] or "disk" in errors[0]["error"]["message"]
            )
            assert ready["ready"] is True and ready["storage"]["persisting"] is False
            assert persisting == "zenglow_storage_persisting 0.0"
            await turn(client, "The disk has room again.")  # caught up after the retry time
            texts = stored_texts(srv, opened["id"])
            users = texts[0::2]
            assert users == [
                "The first thing I say.", "Said while the disk is full.", "Said once more.",
                "The disk has room again.",
            ]  # fmt: skip
            assert health(srv)[0]["storage"] == {"persisting": True}


async def test_a_read_only_data_folder(engines: Engines, tmp_path: Path) -> None:
    folder = tmp_path / "data"
    with read_only(folder), server_in(engines, folder) as srv:
        ready, persisting = health(srv)
        assert ready["ready"] is True and ready["storage"]["persisting"] is False
        assert "read-only" in ready["storage"]["error"] and persisting.endswith(" 0.0")
        async with connect(srv.ws_url) as client:
            await client.wait_for("zenglow.conversation")
            await client.send(TEXT_ONLY)
            first = await turn(client, "My favourite colour is green.")
            second = await turn(client, "And my cat is called Pip.")
        assert first["response"]["status"] == second["response"]["status"] == "completed"
        errors = [e for e in client.events if e["type"] == "error"]
        assert [e["error"]["code"] for e in errors] == ["storage_unavailable"]
        assert "read-only" in errors[0]["error"]["message"]
