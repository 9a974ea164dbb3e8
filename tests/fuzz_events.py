"""Random and mutated Realtime client events, SDP offers and uploads, from a seeded generator
(so a failure can be replayed from its seed)."""

from __future__ import annotations

import base64
import json
import random
from typing import Any

import numpy as np

SILENCE = base64.b64encode(np.zeros(480, "<i2").tobytes()).decode()


def templates(rng: random.Random) -> list[dict[str, Any]]:
    """One well-formed example of every client event the server takes."""
    text = rng.choice(["Hello.", "What time is it?", "", "x" * rng.randint(1, 300)])
    item = {"type": "message", "role": rng.choice(["user", "assistant", "system"]),
            "content": [{"type": "input_text", "text": text}]}  # fmt: skip
    td = {"type": rng.choice(["server_vad", "semantic_vad"]), "threshold": rng.random(),
          "silence_duration_ms": rng.randint(100, 2000)}  # fmt: skip
    session = {"type": "realtime", "instructions": text, "output_modalities": ["text"],
               "audio": {"input": {"turn_detection": td}, "output": {"voice": "joe"}}}  # fmt: skip
    return [
        {"type": "session.update", "session": session},
        {"type": "input_audio_buffer.append", "audio": SILENCE},
        {"type": "input_audio_buffer.commit"},
        {"type": "input_audio_buffer.clear"},
        {"type": "output_audio_buffer.clear"},
        {"type": "conversation.item.create", "item": item},
        {
            "type": "conversation.item.truncate",
            "item_id": "item_x",
            "content_index": 0,
            "audio_end_ms": rng.randint(-5, 5000),
        },
        {"type": "conversation.item.delete", "item_id": rng.choice(["item_x", ""])},
        {"type": "conversation.item.retrieve", "item_id": "item_y"},
        {"type": "response.create", "response": {"output_modalities": ["text"]}},
        {"type": "response.cancel"},
    ]


def junk(rng: random.Random, depth: int = 0) -> Any:
    kind = rng.randrange(9 if depth < 3 else 6)
    if kind == 0:
        return None
    if kind == 1:
        return rng.choice([True, False])
    if kind == 2:
        return rng.choice([0, -1, 1, 2**31, -(2**63), 10**30, 3.5, -0.0, 1e308])
    if kind == 3:
        return "".join(rng.choice('aé\u0000\ud7ff🙂{}"\\ ') for _ in range(rng.randint(0, 20)))
    if kind == 4:
        return rng.choice(["", "server_vad", "audio", "text", "pcm16", "g711_ulaw", "===="])
    if kind == 5:
        return "A" * rng.choice([1, 3, 1001])
    if kind == 6:
        return [junk(rng, depth + 1) for _ in range(rng.randint(0, 4))]
    return {rng.choice(["type", "session", "item", "audio", "x", ""]): junk(rng, depth + 1)
            for _ in range(rng.randint(0, 4))}  # fmt: skip


def mutate(event: dict[str, Any], rng: random.Random) -> dict[str, Any] | Any:
    """Changes one thing deep in `event` (or swaps it for junk)."""
    if rng.random() < 0.05:
        return junk(rng)
    event = json.loads(json.dumps(event))
    paths: list[tuple[Any, Any]] = []

    def collect(node: Any) -> None:
        if isinstance(node, dict):
            for k in list(node):
                paths.append((node, k))
                collect(node[k])
        elif isinstance(node, list):
            for i in range(len(node)):
                paths.append((node, i))
                collect(node[i])

    collect(event)
    parent, key = rng.choice(paths)
    action = rng.randrange(4)
    if action == 0 and isinstance(parent, dict):
        del parent[key]
    elif action == 1 and isinstance(parent, dict):
        parent[rng.choice(["extra", "event_id", "type"])] = junk(rng)
    else:
        parent[key] = junk(rng)
    return event


def message(rng: random.Random, n: int, max_bytes: int) -> tuple[str | bytes, str | None]:
    """A client message and the event_id it carries (None when it carries none)."""
    roll = rng.random()
    event_id = f"fz{n}"
    if roll < 0.08:  # not JSON at all
        raw = rng.choice(
            [b"\xff\xfe\x00garbage", b"", b"{", b'{"type": "session.update"', b"null",
             bytes(rng.randrange(256) for _ in range(rng.randint(1, 64)))]
        )  # fmt: skip
        return raw, None
    if roll < 0.1:  # over the size limit
        return json.dumps({"type": "conversation.item.create", "event_id": event_id,
                           "pad": "x" * (max_bytes + 10)}), event_id  # fmt: skip
    event = dict(rng.choice(templates(rng)))
    if roll < 0.35:
        event = mutate(event, rng)
    if isinstance(event, dict) and rng.random() < 0.9:
        event["event_id"] = event_id
    else:
        event_id = None
    text = json.dumps(event)
    return (text.encode() if rng.random() < 0.1 else text), event_id


def sdp(rng: random.Random, good: str) -> str:
    lines = good.split("\r\n")
    for _ in range(rng.randint(1, 4)):
        i = rng.randrange(len(lines))
        roll = rng.random()
        if roll < 0.3:
            del lines[i]
        elif roll < 0.6:
            lines[i] = lines[i][: rng.randint(0, len(lines[i]))]
        elif roll < 0.8:
            lines.insert(
                i, rng.choice(["m=audio x", "a=rtpmap:1 FOO/1", "c=IN IP9 ::", "a=" + "z" * 500])
            )
        else:
            lines[i] = "".join(rng.choice("=:/ aZ9\x00") for _ in range(rng.randint(0, 40)))
    return "\r\n".join(lines)
