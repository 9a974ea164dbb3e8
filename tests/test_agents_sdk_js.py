"""The OpenAI Agents SDK for JavaScript (`@openai/agents-realtime`, installed by
`npm --prefix tests/js ci`), run by Node: its zod schemas over every event the codec builds,
and a `RealtimeAgent` with default settings on the SDK's `OpenAIRealtimeWebSocket` transport,
holding a typed and a spoken turn with a real server.  The SDK drops an event its schemas
refuse without a word, so each event is checked against them as well as for errors."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path
from typing import Any

from zenglow.transports.realtime.server_events import ServerEvents

from .server import clip_pcm24
from .speech import clip, wer
from .test_realtime_codec import conversation, extensions

JS = Path(__file__).resolve().parent / "js"


def node(script: str, *args: str, stdin: str | None = None, timeout: float = 200) -> Any:
    exe = shutil.which("node")
    assert exe, "Node.js is needed for the JavaScript SDK tests"
    assert (JS / "node_modules" / "@openai" / "agents-realtime").is_dir(), (
        "the JavaScript SDK is not installed: run `npm --prefix tests/js ci`"
    )
    done = subprocess.run(
        [exe, str(JS / script), *args],
        input=stdin,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    return json.loads(done.stdout.strip().splitlines()[-1])


def test_every_codec_event_passes_the_js_schemas() -> None:
    events = conversation(ServerEvents())
    problems = node("validate_events.mjs", stdin=json.dumps(events))
    assert {e["type"]: p for e, p in zip(events, problems, strict=True) if p} == {}
    # the extensions are unknown to it: only clients that ask for them get them
    ours = extensions(ServerEvents())
    assert all(node("validate_events.mjs", stdin=json.dumps(ours)))


def check_clean(result: dict[str, Any]) -> None:
    assert result["failure"] is None, result["types"][-15:]
    assert result["errors"] == []
    assert result["invalid"] == []  # every event known to the SDK and accepted by it
    assert not [t for t in result["types"] if t.startswith("zenglow.")]


def test_typed_turn(server) -> None:
    result = node("agent_session.mjs", f"{server.stock_url}?model=jarvis", "text", "Hello there!")
    check_clean(result)
    assert result["types"].count("response.done") == 1
    assert result["audio_bytes"] > 24000  # more than half a second of reply
    roles = [h["role"] for h in result["history"]]
    assert roles == ["user", "assistant"] and result["history"][1]["text"].strip()


def test_spoken_turn(server, tmp_path: Path) -> None:
    c = clip("a09")
    pcm = tmp_path / "speech.pcm"
    pcm.write_bytes(clip_pcm24(c.path, pad_s=1.5).astype("<i2").tobytes())
    result = node("agent_session.mjs", f"{server.stock_url}?model=jarvis", "audio", str(pcm))
    check_clean(result)
    assert "conversation.item.retrieved" in result["types"]  # the SDK's retrieve, answered
    user = [h["text"] for h in result["history"] if h["role"] == "user"]
    assert len(user) == 1 and wer(c.transcript, user[0]) < 0.3
    assert result["audio_bytes"] > 24000


def test_a_function_tool_is_called_and_its_result_spoken(server) -> None:
    url = f"{server.stock_url}?model=jarvis"
    result = node("agent_tool.mjs", url, "What is the weather forecast in Paris?")
    check_clean(result)
    assert len(result["called"]) == 1 and result["called"][0].strip()
    assert result["outputs"] == [["function_call"], ["message"]]
    assert result["audio_bytes"] > 24000
