"""`/metrics` after a real conversation over the WebSocket, read with Prometheus' own parser."""

from __future__ import annotations

import asyncio
import time

import httpx
from prometheus_client.parser import text_string_to_metric_families

from .server import LoopbackServer, connect

Key = tuple[str, frozenset[tuple[str, str]]]


class Scrape:
    def __init__(self, text: str) -> None:
        self.types: dict[str, str] = {}
        self.values: dict[Key, float] = {}
        for family in text_string_to_metric_families(text):
            self.types[family.name] = family.type
            for s in family.samples:
                self.values[(s.name, frozenset(s.labels.items()))] = s.value

    def get(self, name: str, **labels: str) -> float:
        return self.values.get((name, frozenset(labels.items())), 0.0)

    def label_sets(self, name: str) -> list[dict[str, str]]:
        return [dict(labels) for n, labels in self.values if n == name]


async def scrape(server: LoopbackServer) -> Scrape:
    async with httpx.AsyncClient() as http:
        r = await http.get(f"http://127.0.0.1:{server.port}/metrics", timeout=30)
    assert r.status_code == 200
    assert r.headers["content-type"].startswith("text/plain")
    return Scrape(r.text)


async def typed_turn(client, text: str) -> dict:
    await client.wait_for("session.created")
    item = {
        "type": "message",
        "role": "user",
        "content": [{"type": "input_text", "text": text}],
    }
    await client.send({"type": "conversation.item.create", "item": item})
    await client.send({"type": "response.create"})
    done = await client.wait_for("response.done", timeout=90)
    await client.wait_for("zenglow.turn_metrics", timeout=10)
    return done


async def test_metrics_after_a_conversation(server):
    before = await scrape(server)
    async with connect(server.ws_url) as client:
        done = await typed_turn(client, "Hello! How are you today?")
        during = await scrape(server)
    assert done["response"]["status"] == "completed"

    after = await scrape(server)
    # Let the server notice the closed connection before reading the open-session gauge.
    deadline = time.monotonic() + 10
    while after.get("zenglow_sessions_open") > before.get("zenglow_sessions_open"):
        assert time.monotonic() < deadline, "the session was not closed"
        await asyncio.sleep(0.05)
        after = await scrape(server)

    assert after.types["zenglow_sessions"] == "counter"
    assert after.get("zenglow_sessions_total") >= before.get("zenglow_sessions_total") + 1
    assert during.get("zenglow_sessions_open") >= 1
    assert after.get("zenglow_sessions_open") == before.get("zenglow_sessions_open")

    turns = ("zenglow_turns_total", {"persona": "jarvis", "status": "completed"})
    assert after.get(turns[0], **turns[1]) == before.get(turns[0], **turns[1]) + 1

    # Per-stage latency histograms, labelled by persona and stage.
    assert after.types["zenglow_turn_stage_seconds"] == "histogram"
    for stage in ("llm_first_token", "first_sentence", "tts_first_audio", "first_audio_sent"):
        labels = {"persona": "jarvis", "stage": stage}
        count = after.get("zenglow_turn_stage_seconds_count", **labels)
        assert count == before.get("zenglow_turn_stage_seconds_count", **labels) + 1, stage
        assert after.get("zenglow_turn_stage_seconds_sum", **labels) > 0
        buckets = sorted(
            (float(ls["le"]), after.get("zenglow_turn_stage_seconds_bucket", **ls))
            for ls in after.label_sets("zenglow_turn_stage_seconds_bucket")
            if ls["persona"] == "jarvis" and ls["stage"] == stage
        )
        counts = [c for _, c in buckets]
        assert counts == sorted(counts) and buckets[-1] == (float("inf"), count)

    # The chat pool: every endpoint is up, and none is busy once the reply is done.
    endpoints = after.label_sets("zenglow_llm_endpoint_up")
    assert {ls["persona"] for ls in endpoints} == {"jarvis", "leonardo"}
    assert all(after.get("zenglow_llm_endpoint_up", **ls) == 1 for ls in endpoints)
    in_flight = after.label_sets("zenglow_llm_in_flight")
    assert {ls["persona"] for ls in in_flight} == {"jarvis", "leonardo"}
    assert all(after.get("zenglow_llm_in_flight", **ls) == 0 for ls in in_flight)
    jarvis = next(ls for ls in endpoints if ls["persona"] == "jarvis")
    ttft = "zenglow_llm_time_to_first_token_seconds_count"
    assert after.get(ttft, **jarvis) >= before.get(ttft, **jarvis) + 1
