"""The OpenAI Agents SDK for Python, unchanged: a `RealtimeAgent` with default settings under
`RealtimeRunner`, pointed at a real server on loopback.  It validates every server event
against the GA event union and reports what fails as an `error` event; it also sends what it
thinks the server needs (`ash` as its voice, truncates, retrieves).  Each conversation must
end with no error at all, and every server event valid in pydantic's strict mode."""

from __future__ import annotations

import asyncio
import time
from typing import Any

from agents.realtime import RealtimeAgent, RealtimeRunner

from .server import clip_pcm24
from .speech import clip, wer
from .test_realtime_codec import SERVER_EVENT

CHUNK = 1920  # 40 ms of PCM16 at 24 kHz


class AgentRun:
    """One `RealtimeSession`: its session events and the raw server events it received."""

    def __init__(self, url: str, model_settings: dict[str, Any] | None = None) -> None:
        agent = RealtimeAgent(name="Assistant", instructions="Answer briefly.")
        config: Any = {"model_settings": model_settings} if model_settings else None
        self.runner = RealtimeRunner(agent, config=config)
        self.url = f"{url}?model=jarvis"
        self.events: list[Any] = []
        self.raw: list[dict[str, Any]] = []
        self._new = asyncio.Event()

    async def __aenter__(self) -> AgentRun:
        self.session = await self.runner.run(model_config={"url": self.url, "api_key": "sk-local"})
        await self.session.__aenter__()
        self._reader = asyncio.create_task(self._read())
        return self

    async def __aexit__(self, *exc: object) -> None:
        self._reader.cancel()
        await asyncio.gather(self._reader, return_exceptions=True)
        await self.session.close()

    async def _read(self) -> None:
        async for event in self.session:
            if event.type == "raw_model_event" and event.data.type == "raw_server_event":
                self.raw.append(event.data.data)
            self.events.append(event)
            self._new.set()

    async def wait_for(
        self,
        kind: str,
        after: int = 0,
        timeout: float = 120.0,  # noqa: ASYNC109 - bounds the whole search
        where: Any = None,
    ) -> int:
        """Index of the first session event of `kind` (that `where` takes) from `after` on."""
        deadline = time.monotonic() + timeout
        while True:
            for i in range(after, len(self.events)):
                if self.events[i].type == kind and (where is None or where(self.events[i])):
                    return i
            if time.monotonic() > deadline:
                raise TimeoutError(f"no {kind}; got {sorted({e.type for e in self.events})}")
            self._new.clear()
            try:
                await asyncio.wait_for(self._new.wait(), 1.0)
            except TimeoutError:
                pass

    async def speak(self, pcm_bytes: bytes) -> None:
        """Stream speech as a microphone would: 40 ms at a time, at real time."""
        start = time.monotonic()
        for n, i in enumerate(range(0, len(pcm_bytes), CHUNK)):
            await self.session.send_audio(pcm_bytes[i : i + CHUNK])
            await asyncio.sleep(max(0.0, start + (n + 1) * 0.04 - time.monotonic()))

    def of(self, kind: str) -> list[dict[str, Any]]:
        return [e for e in self.raw if e["type"] == kind]

    def check_clean(self) -> None:
        """No error reached the application, and every server event passes the SDK's union
        strictly; no `zenglow.*` event came to a client that did not ask for them."""
        errors = [repr(getattr(e, "error", e))[:300] for e in self.events if e.type == "error"]
        assert errors == []
        assert self.raw and not [e["type"] for e in self.raw if e["type"].startswith("zenglow.")]
        for event in self.raw:
            SERVER_EVENT.validate_python(event, strict=True)


def pcm_bytes(name: str, pad_s: float = 1.5) -> tuple[bytes, str]:
    c = clip(name)
    return clip_pcm24(c.path, pad_s=pad_s).astype("<i2").tobytes(), c.transcript


def response_created(event: Any) -> bool:
    return event.data.type == "raw_server_event" and event.data.data["type"] == "response.created"


async def test_typed_turn_with_default_settings_is_spoken(server):
    async with AgentRun(server.stock_url) as run:
        await run.session.send_message("Hello! How are you today?")
        await run.wait_for("agent_end")
        await asyncio.sleep(0.5)  # whatever follows the turn
    run.check_clean()
    voice = run.of("session.updated")[0]["session"]["audio"]["output"]["voice"]
    assert voice == "ash"  # the SDK's default voice, taken (spoken in the persona's own)
    assert [e["response"]["status"] for e in run.of("response.done")] == ["completed"]
    assert [e for e in run.events if e.type == "audio"], "no reply audio reached the app"


async def test_text_only_modality_is_applied(server):
    async with AgentRun(server.stock_url, {"output_modalities": ["text"]}) as run:
        await run.session.send_message("Tell me about the sea.")
        await run.wait_for("agent_end")
    run.check_clean()
    assert run.of("session.updated")[0]["session"]["output_modalities"] == ["text"]
    text = "".join(e["delta"] for e in run.of("response.output_text.delta"))
    assert text.strip() and not run.of("response.output_audio.delta")


async def test_spoken_turn(server):
    pcm, transcript = pcm_bytes("a09")
    async with AgentRun(server.stock_url) as run:
        await run.wait_for("history_updated")  # connected and configured
        await run.speak(pcm)
        await run.wait_for("agent_end")
        await asyncio.sleep(1.0)  # whatever follows the turn
    run.check_clean()
    heard = run.of("conversation.item.input_audio_transcription.completed")
    assert len(heard) == 1 and wer(transcript, heard[0]["transcript"]) < 0.3
    # one reply, whole or ended by Jarvis's token limit (a small model may run on to it)
    [done] = [e["response"] for e in run.of("response.done")]
    assert done["status"] == "completed" or (
        done["status"] == "incomplete" and done["status_details"]["reason"] == "max_output_tokens"
    ), done["status_details"]


async def test_barge_in(long_server):
    """Talking over a long reply: the SDK stops its playback (and truncates the item); the
    server cancels the reply and answers what was said, all with no error."""
    pcm, _ = pcm_bytes("a04")
    async with AgentRun(long_server.stock_url) as run:
        await run.session.send_message("Tell me a long story.")
        first = await run.wait_for("audio")
        await asyncio.sleep(2.5)  # past the echo guard
        await run.speak(pcm)
        interrupted = await run.wait_for("audio_interrupted", after=first)
        # what was said over the reply is answered
        await run.wait_for("raw_model_event", after=interrupted, where=response_created)
        await asyncio.sleep(1.0)
    run.check_clean()
    done = run.of("response.done")
    assert done and done[0]["response"]["status"] == "cancelled", done
    assert done[0]["response"]["status_details"]["reason"] == "turn_detected"
    assert len(run.of("response.created")) == 2
    # The SDK truncates the item unless it thinks its playback had already ended (its clock
    # against the audio received, so not on a busy machine); when it does, no error follows.
