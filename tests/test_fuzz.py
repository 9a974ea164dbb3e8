"""A bounded live fuzzer: thousands of random and mutated Realtime events on one session,
malformed SDP offers and uploads, against a real server on loopback.  Every malformed event
is answered with an error, the same session still holds a normal turn afterwards, memory
stays bounded, and no slot leaks.  The seed is printed, so a failure can be replayed
(FUZZ_SEED)."""

from __future__ import annotations

import asyncio
import os
import random
from collections.abc import Iterator

import httpx
import pytest

from zenglow.app import create_app
from zenglow.engines.loader import Engines
from zenglow.settings import LimitSettings
from zenglow.transports.realtime import client_events as rt

from .conftest import engines_with
from .fakes import ScriptedChat
from .fuzz_events import message, sdp
from .server import LoopbackServer, connect, user_text
from .webrtc_peer import Peer

SEED = int(os.environ.get("FUZZ_SEED", "20261202"))
EVENTS = 3000


def rss_mib() -> float:
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return 0.0


@pytest.fixture(scope="module")
def target(engines: Engines) -> Iterator[LoopbackServer]:
    """Limits raised so that every event reaches the codec and the session."""
    eng = engines_with(
        engines,
        limits=LimitSettings(
            events_per_s=100_000,
            commits_per_s=100_000,
            audio_speedup=100,
            max_items=100_000,
            max_item_chars=50_000_000,
            rest_in_flight=64,
        ),
    )
    eng.chats = {name: ScriptedChat(["Okay."]) for name in eng.settings.personas}
    with LoopbackServer(create_app(eng.settings, eng)) as srv:
        yield srv


async def test_random_events_get_errors_and_the_session_goes_on(target: LoopbackServer) -> None:
    print(f"fuzz seed {SEED}")
    rng = random.Random(SEED)
    max_bytes = target.server.config.app.state.runtime.settings.server.max_message_bytes
    before = rss_mib()
    with_id: set[str] = set()  # malformed events whose id the server can read back
    anonymous = 0  # malformed ones it cannot
    async with connect(target.ws_url) as client:
        await client.wait_for("session.created")
        for n in range(EVENTS):
            raw, _ = message(rng, n, max_bytes)
            try:
                rt.parse_client_event(raw, max_bytes=max_bytes)
            except rt.ProtocolError as exc:
                if exc.event_id:
                    with_id.add(exc.event_id)
                else:
                    anonymous += 1
            await client.ws.send(raw)
            if n % 100 == 99:
                await asyncio.sleep(0.05)
        await client.send({"type": "input_audio_buffer.clear", "event_id": "last"})
        await client.wait_for("input_audio_buffer.cleared", timeout=120,
                              where=lambda e: True)  # fmt: skip
        loop = asyncio.get_running_loop()
        deadline = loop.time() + 120

        def answered() -> tuple[set[str], int]:
            errors = [e["error"] for e in client.of("error")]
            ids = {e.get("event_id") for e in errors}
            return with_id - ids, len(errors)

        while (missing := answered())[0] or missing[1] < len(with_id) + anonymous:
            assert loop.time() < deadline, f"seed {SEED}: unanswered {sorted(missing[0])[:5]}"
            await asyncio.sleep(0.2)
        assert with_id and anonymous, "the generator made no malformed events"
        # the same session still holds a normal turn
        await client.send({"type": "response.cancel"})
        await client.send(
            {
                "type": "session.update",
                "session": {"type": "realtime", "output_modalities": ["text"]},
            }
        )
        await asyncio.sleep(0.5)
        seen = len(client.events)
        await client.send(user_text("Are you still there?"))
        await client.send({"type": "response.create"})
        done = await client.wait_for("response.done", after=seen, timeout=120)
        assert done["response"]["status"] == "completed", f"seed {SEED}"
    grown = rss_mib() - before
    assert grown < 300, f"seed {SEED}: memory grew {grown:.0f} MiB"
    loop = asyncio.get_running_loop()
    deadline = loop.time() + 20
    while target.live() != (0, 0):
        assert loop.time() < deadline, "a slot leaked"
        await asyncio.sleep(0.1)


async def test_malformed_offers_and_uploads_get_4xx_and_leak_nothing(
    target: LoopbackServer,
) -> None:
    rng = random.Random(SEED + 1)
    base = f"http://127.0.0.1:{target.port}"
    peer = Peer()
    good = await peer.offer()
    await peer.close()
    statuses: dict[int, int] = {}
    async with httpx.AsyncClient(base_url=base, timeout=60) as h:
        for _ in range(150):
            body = sdp(rng, good)
            kind = rng.choice(["application/sdp", "application/json", "multipart"])
            if kind == "multipart":
                r = await h.post("/v1/realtime/calls", files={"sdp": (None, body)})
            elif kind == "application/json":
                r = await h.post(
                    "/v1/realtime/calls",
                    json={"sdp": body, "session": rng.choice([None, {}, "x", [1]])},
                )
            else:
                r = await h.post("/v1/realtime/calls", content=body, headers={"content-type": kind})
            statuses[r.status_code] = statuses.get(r.status_code, 0) + 1
            if r.status_code == 201:  # a mutation that still made sense: hang it up
                await h.delete(r.headers["location"])
            else:
                assert 400 <= r.status_code < 500, (r.status_code, r.text)
                assert r.json()["error"]["message"]
        for _ in range(40):
            data = bytes(rng.randrange(256) for _ in range(rng.randint(0, 4000)))
            r = await h.post("/jarvis/listen", files={"file": ("x.wav", data)})
            assert r.status_code in (400, 415, 422), (r.status_code, r.text)
            r = await h.post(
                "/jarvis/speak", content=data, headers={"content-type": "application/json"}
            )
            assert 400 <= r.status_code < 500, (r.status_code, r.text)
        assert (await h.get("/ready")).status_code == 200
    assert sum(v for k, v in statuses.items() if k >= 400) > 50  # mostly malformed
    loop = asyncio.get_running_loop()
    deadline = loop.time() + 30
    while target.live() != (0, 0):
        assert loop.time() < deadline, "a call leaked"
        await asyncio.sleep(0.1)
