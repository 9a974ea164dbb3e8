"""SIGTERM on a real `zenglow serve` process: the reply in progress finishes, every client is
told why, the socket closes with 1001, the call is hung up, and the process exits 0."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest
import websockets

from .server import user_text
from .webrtc_peer import Peer


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture
def process(tmp_path: Path):  # type: ignore[no-untyped-def]
    port = free_port()
    script = Path(sys.executable).with_name("zenglow")
    command = [str(script)] if script.is_file() else [sys.executable, "-m", "zenglow.cli"]
    env = {**os.environ, "ZENGLOW_SERVER__PORT": str(port), "ZENGLOW_SERVER__DRAIN_S": "60"}
    log = (tmp_path / "server.log").open("w")
    proc = subprocess.Popen([*command, "serve"], env=env, stdout=log, stderr=subprocess.STDOUT)
    deadline = time.monotonic() + 240
    while True:
        try:
            if httpx.get(f"http://127.0.0.1:{port}/ready", timeout=2).status_code == 200:
                break
        except httpx.HTTPError:
            pass
        assert proc.poll() is None, (tmp_path / "server.log").read_text()
        assert time.monotonic() < deadline, "the server did not get ready"
        time.sleep(0.5)
    yield proc, port, tmp_path / "server.log"
    if proc.poll() is None:
        proc.kill()
        proc.wait()


async def test_sigterm_drains_and_exits_cleanly(process) -> None:  # type: ignore[no-untyped-def]
    proc, port, log = process
    base = f"http://127.0.0.1:{port}"
    peer = Peer()
    events: list[dict] = []
    try:
        assert (await peer.call(base)).status_code == 201
        await peer.wait_for("session.created", timeout=30)
        async with websockets.connect(f"ws://127.0.0.1:{port}/v1/realtime") as ws:
            await ws.send(json.dumps(user_text("Tell me a story about a lighthouse keeper.")))
            await ws.send(json.dumps({"type": "response.create"}))
            signalled_at = None
            try:
                async with asyncio.timeout(120):
                    async for raw in ws:
                        event = json.loads(raw)
                        events.append(event)
                        if event["type"] == "response.output_audio.delta" and signalled_at is None:
                            proc.send_signal(signal.SIGTERM)  # mid-reply
                            signalled_at = len(events)
            except websockets.ConnectionClosed:
                pass
            close_code = ws.close_code
        assert signalled_at is not None, [e["type"] for e in events]
        after = [e for e in events[signalled_at:]]
        told = [e for e in after if e["type"] == "error"]
        assert told and told[0]["error"]["code"] == "server_shutting_down"
        done = [e for e in events if e["type"] == "response.done"]
        assert done and done[0]["response"]["status"] == "completed"  # not cut off
        assert close_code == 1001
        await peer.wait_for(
            "error", timeout=30, where=lambda e: e["error"]["code"] == "server_shutting_down"
        )
    finally:
        await peer.close()
    assert await asyncio.to_thread(proc.wait, 60) == 0, log.read_text()
    text = log.read_text()
    assert "draining 2 session(s)" in text
    assert "Tell me a story" not in text  # no transcripts in the log unless asked for


def test_an_open_address_without_a_key_refuses_to_start() -> None:
    script = Path(sys.executable).with_name("zenglow")
    command = [str(script)] if script.is_file() else [sys.executable, "-m", "zenglow.cli"]
    env = {k: v for k, v in os.environ.items() if not k.startswith("ZENGLOW_AUTH")}
    done = subprocess.run(
        [*command, "serve", "--host", "0.0.0.0", "--port", str(free_port())],
        env=env, capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert done.returncode == 2
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and "refusing to serve 0.0.0.0 with no API key" in lines[0]
