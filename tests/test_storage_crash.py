"""SIGKILL on a real `zenglow serve` process at random moments of a spoken reply, again and
again on one conversation: after each restart, every item the client was told is done is
stored as it was told, and the reply that was cut is stored as far as it was heard."""

from __future__ import annotations

import asyncio
import json
import os
import random
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import httpx
import websockets

from .server import user_text
from .test_drain import free_port

ROUNDS = 4


def spawn(data: Path, log: Path) -> tuple[subprocess.Popen[bytes], str]:
    port = free_port()
    script = Path(sys.executable).with_name("zenglow")
    command = [str(script)] if script.is_file() else [sys.executable, "-m", "zenglow.cli"]
    env = {**os.environ, "ZENGLOW_SERVER__PORT": str(port), "ZENGLOW_STORAGE__DATA_DIR": str(data)}
    out = log.open("a")
    proc = subprocess.Popen([*command, "serve"], env=env, stdout=out, stderr=subprocess.STDOUT)
    base = f"127.0.0.1:{port}"
    deadline = time.monotonic() + 240
    while True:
        try:
            if httpx.get(f"http://{base}/ready", timeout=2).status_code == 200:
                return proc, base
        except httpx.HTTPError:
            pass
        assert proc.poll() is None, log.read_text()
        assert time.monotonic() < deadline, "the server did not get ready"
        time.sleep(0.3)


def text_of(item: dict[str, Any]) -> str:
    return "".join(c.get("text") or c.get("transcript") or "" for c in item.get("content", []))


def told(events: list[dict[str, Any]]) -> tuple[dict[str, tuple[str, str]], dict[str, str]]:
    """(items told done -> (text, status), replies cut short -> the transcript sent of them)."""
    done = {
        e["item"]["id"]: (text_of(e["item"]), e["item"]["status"])
        for e in events
        if e["type"] == "conversation.item.done"
    }
    cut: dict[str, str] = {}
    for e in events:
        if e["type"] == "response.output_item.added" and e["item"]["id"] not in done:
            cut[e["item"]["id"]] = ""
        elif e["type"] == "response.output_audio_transcript.delta" and e["item_id"] in cut:
            cut[e["item_id"]] += e["delta"]
    return done, cut


def check(base: str, conversation: str, done: dict[str, tuple[str, str]], cut: dict[str, str],
          where: str) -> list[dict[str, Any]]:  # fmt: skip
    got = httpx.get(f"http://{base}/v1/conversations/{conversation}", timeout=30).json()
    stored = {i["id"]: i for i in got["data"]}
    for item_id, (text, status) in done.items():
        assert item_id in stored, f"{item_id} was told done and is lost {where}"
        assert (stored[item_id]["text"], stored[item_id]["status"]) == (text, status), where
    for item_id, heard in cut.items():
        if heard:  # the client saw some of it: at least that much is kept
            assert stored[item_id]["text"].startswith(heard), where
            assert stored[item_id]["status"] in ("in_progress", "incomplete"), where
    return list(got["data"])


async def talk_until_killed(
    base: str, conversation: str | None, text: str, proc: subprocess.Popen[bytes], wait_s: float
) -> tuple[str, list[dict[str, Any]]]:
    query = "?extensions=zenglow" + (f"&conversation={conversation}" if conversation else "")
    events: list[dict[str, Any]] = []
    async with websockets.connect(f"ws://{base}/v1/realtime{query}", max_size=None) as ws:
        await ws.send(json.dumps(user_text(text)))
        await ws.send(json.dumps({"type": "response.create"}))
        killed_at = time.monotonic() + wait_s
        try:
            async with asyncio.timeout(180):
                while True:
                    left = killed_at - time.monotonic()
                    if left <= 0:
                        break
                    try:
                        raw = await asyncio.wait_for(ws.recv(), left)
                    except TimeoutError:
                        break
                    events.append(json.loads(raw))
                    if events[-1]["type"] == "response.done":
                        break
        finally:
            proc.kill()  # SIGKILL: no drain, no flush, nothing of the server runs on
            proc.wait()
    opened = next(e for e in events if e["type"] == "zenglow.conversation")
    return opened["id"], events


async def test_sigkill_at_random_moments_loses_nothing_told(tmp_path: Path) -> None:
    seed = random.randrange(1 << 30)
    rng = random.Random(seed)
    data, log = tmp_path / "data", tmp_path / "server.log"
    conversation = None
    done: dict[str, tuple[str, str]] = {}
    cut: dict[str, str] = {}
    where = ""
    for n in range(ROUNDS + 1):
        proc, base = spawn(data, log)
        if conversation is not None:  # what the last round was told, after the kill
            try:
                check(base, conversation, done, cut, where)
            except BaseException:
                proc.kill()
                raise
        if n == ROUNDS:
            break
        wait_s = rng.uniform(0.5, 6.0)
        where = f"(seed {seed}, round {n}, killed {wait_s:.2f} s after asking)"
        text = f"Tell me a long story about lighthouse number {n}."
        conversation, events = await talk_until_killed(base, conversation, text, proc, wait_s)
        now_done, now_cut = told(events)
        done |= now_done
        cut = {k: v for k, v in (cut | now_cut).items() if k not in now_done}
    # resumed once more: each cut reply is marked incomplete, all of it is replayed in order
    try:
        async with websockets.connect(
            f"ws://{base}/v1/realtime?extensions=zenglow&conversation={conversation}"
        ) as ws:
            opened = json.loads(await ws.recv())
            while opened["type"] != "zenglow.conversation":
                opened = json.loads(await ws.recv())
            replayed = [json.loads(await ws.recv()) for _ in range(2 * opened["items"])]
        assert conversation is not None
        items = check(base, conversation, {}, {}, where)
    finally:
        proc.kill()
        proc.wait()
    assert opened["resumed"] is True and opened["items"] == len(items)
    assert [e["item"]["id"] for e in replayed[1::2]] == [i["id"] for i in items]
    assert all(i["status"] == "incomplete" for i in items if i["id"] in cut)
    assert sum(1 for i in items if i["role"] == "user") == ROUNDS
    assert "Traceback" not in log.read_text()
