"""One benchmark clip over the Realtime WebSocket or a WebRTC call: stream it, time the reply.

The clip goes out at real time in 20 ms chunks, then silence, as a microphone would send it.
Voice-to-voice runs on the client's monotonic clock, from sending the chunk that holds the
clip's last voiced sample to the first `response.output_audio.delta` (WebSocket), or to the
first audible frame the server's track delivers (WebRTC, after the jitter buffer).
`Tracker` folds the server's events, with their arrival times, into one clip's figures; it
is pure.
"""

from __future__ import annotations

import asyncio
import base64
import itertools
import json
import time
from dataclasses import dataclass, field
from typing import Any

import numpy as np

RATE = 24000
CHUNK = RATE * 20 // 1000  # samples per 20 ms message
FRAME_S = 0.02
TAIL_SILENCE_S = 2.0
UNDERRUN_S = 0.02  # later than this after the audio ran out is an audible gap
Json = dict[str, Any]


def voiced_end(audio: np.ndarray, rate: int = RATE, frame_ms: int = 20) -> int:
    """Where speech ends, in samples: the end of the last frame well above the noise floor."""
    n = rate * frame_ms // 1000
    frames = len(audio) // n
    if frames == 0:
        return len(audio)
    x = audio[: frames * n].astype(np.float64).reshape(frames, n)
    db = 10.0 * np.log10(np.mean(x * x, axis=1) + 1e-12)
    threshold = max(float(db.max()) - 40.0, float(np.percentile(db, 10)) + 12.0)
    loud = np.nonzero(db > threshold)[0]
    return len(audio) if len(loud) == 0 else (int(loud[-1]) + 1) * n


@dataclass
class Reply:
    created_at: float
    first_audio_at: float | None = None
    audio_bytes: int = 0
    text: str = ""
    status: str | None = None
    metrics: Json | None = None
    play_end: float | None = None  # when a client playing each delta on arrival runs dry
    underruns: int = 0  # times audio came after the client had played all it had

    def arrived(self, seconds: float, now: float) -> None:
        """Reply audio of `seconds` arrived: played gaplessly, or after a gap (underrun)."""
        if self.play_end is not None and now > self.play_end + UNDERRUN_S:
            self.underruns += 1
        self.play_end = max(self.play_end or now, now) + seconds


@dataclass
class Tracker:
    """Folds server events, with their arrival times, into what one clip measures."""

    started: int = 0
    stopped: int = 0
    stopped_at: float | None = None
    speech_end_ms: int | None = None
    transcripts: list[str] = field(default_factory=list)
    transcripts_failed: int = 0
    replies: dict[str, Reply] = field(default_factory=dict)
    errors: list[str] = field(default_factory=list)

    def on_event(self, ev: Json, now: float) -> None:
        kind, rid = ev.get("type"), ev.get("response_id")
        reply = self.replies.get(rid) if isinstance(rid, str) else None
        if kind == "input_audio_buffer.speech_started":
            self.started += 1
        elif kind == "input_audio_buffer.speech_stopped":
            self.stopped, self.stopped_at = self.stopped + 1, now
            self.speech_end_ms = ev.get("audio_end_ms")
        elif kind == "conversation.item.input_audio_transcription.completed":
            self.transcripts.append(ev.get("transcript", ""))
        elif kind == "conversation.item.input_audio_transcription.failed":
            self.transcripts_failed += 1
        elif kind == "response.created":
            self.replies[ev["response"]["id"]] = Reply(created_at=now)
        elif kind == "response.output_audio.delta" and reply is not None:
            reply.first_audio_at = reply.first_audio_at or now
            size = len(ev.get("delta", "")) * 3 // 4
            reply.audio_bytes += size
            reply.arrived(size / 2 / RATE, now)
        elif kind == "response.output_audio_transcript.done" and reply is not None:
            reply.text = ev.get("transcript", "")
        elif kind == "response.done" and (done := self.replies.get(ev["response"]["id"])):
            done.status = ev["response"].get("status")
        elif kind == "zenglow.turn_metrics" and reply is not None:
            reply.metrics = ev.get("metrics") or {}
        elif kind == "error":
            self.errors.append(str((ev.get("error") or {}).get("message", ev)))

    def on_remote_audio(self, samples: int, now: float) -> None:
        """Audible reply audio came out of the WebRTC track (`samples` at 24 kHz)."""
        reply = self.last_reply()
        if reply is not None:
            reply.first_audio_at = reply.first_audio_at or now
            reply.audio_bytes += 2 * samples
            reply.arrived(samples / RATE, now)

    def last_reply(self) -> Reply | None:
        return next(reversed(self.replies.values()), None)

    def finished(self) -> bool:
        """The user's turn ended, its transcript came, and the reply after it is measured."""
        reply, stopped_at = self.last_reply(), self.stopped_at
        return (
            stopped_at is not None
            and self.started == self.stopped
            and len(self.transcripts) + self.transcripts_failed >= self.stopped
            and reply is not None
            and reply.created_at >= stopped_at
            and reply.metrics is not None
        )

    def row(self, voiced_end_at: float | None, finished: bool) -> Json:
        reply = self.last_reply() or Reply(0.0)
        first, errors = reply.first_audio_at, list(self.errors)
        if not finished:
            errors.append("no measured reply before the timeout")
        elif first is None:
            errors.append("the reply carried no audio")
        v2v = None if first is None or voiced_end_at is None else first - voiced_end_at
        return {"ok": not errors[len(self.errors) :],
                "voice_to_voice_ms": None if v2v is None else round(1000 * v2v, 1),
                "transcript": " ".join(t.strip() for t in self.transcripts).strip(),
                "user_turns": self.stopped, "replies": len(self.replies),
                "server_speech_end_ms": self.speech_end_ms, "reply": reply.text,
                "reply_chars": len(reply.text), "reply_status": reply.status,
                "reply_audio_s": round(reply.audio_bytes / 2 / RATE, 2),
                "underruns": reply.underruns,
                "server": reply.metrics or {}, "errors": errors}  # fmt: skip


TRY_AGAIN = 1013  # the WebSocket close code of a server too busy for the session now


class Busy(Exception):
    """The server turned the session away for now (a session limit): try again shortly."""


def _append(pcm: np.ndarray) -> str:
    audio = base64.b64encode(pcm.astype("<i2").tobytes()).decode()
    return json.dumps({"type": "input_audio_buffer.append", "audio": audio})


async def run_clip(url: str, pcm: np.ndarray, end_sample: int, reply_timeout: float) -> Json:
    """Stream one clip (then silence) through a fresh session and measure its reply."""
    from websockets.asyncio.client import connect

    padded = np.concatenate([pcm, np.zeros(-len(pcm) % CHUNK, np.int16)])
    messages = [_append(padded[i : i + CHUNK]) for i in range(0, len(padded), CHUNK)]
    silence = _append(np.zeros(CHUNK, np.int16))
    end_index, tail = max(0, -(-end_sample // CHUNK) - 1), int(TAIL_SILENCE_S * RATE / CHUNK)
    track, done = Tracker(), asyncio.Event()
    marks: dict[str, float] = {}

    async with connect(url, max_size=None, open_timeout=30) as ws:

        async def send_loop() -> None:
            t0 = time.monotonic()
            for i in itertools.count():
                delay = t0 + (i + 1) * CHUNK / RATE - time.monotonic()
                if delay > 0:
                    await asyncio.sleep(delay)
                await ws.send(messages[i] if i < len(messages) else silence)
                if i == end_index:
                    marks["voiced_end"] = time.monotonic()
                if i + 1 >= len(messages) + tail and track.finished():
                    done.set()

        async def receive_loop() -> None:
            async for raw in ws:
                track.on_event(json.loads(raw), time.monotonic())

        tasks = [asyncio.create_task(send_loop()), asyncio.create_task(receive_loop())]
        waiter = asyncio.create_task(done.wait())
        limit = len(messages) * CHUNK / RATE + TAIL_SILENCE_S + reply_timeout
        await asyncio.wait([waiter, *tasks], timeout=limit, return_when=asyncio.FIRST_COMPLETED)
        for t in (waiter, *tasks):
            t.cancel()
        await asyncio.wait([waiter, *tasks])
    for t in tasks:
        if not t.cancelled() and (exc := t.exception()) is not None:
            if getattr(getattr(exc, "rcvd", None), "code", None) == TRY_AGAIN:
                raise Busy(str(exc))
            track.errors.append(f"connection: {exc!r}")
    return track.row(marks.get("voiced_end"), done.is_set())


AUDIBLE_DBFS = -50.0  # a received 20 ms frame louder than this is reply audio


async def run_clip_webrtc(url: str, pcm: np.ndarray, end_sample: int, reply_timeout: float) -> Json:
    """The same over a WebRTC call: the clip is the microphone track, events come on the
    `oai-events` data channel, and the reply is timed by the server's audio track."""
    import httpx
    from aiortc import RTCConfiguration, RTCPeerConnection, RTCSessionDescription
    from aiortc.mediastreams import MediaStreamError, MediaStreamTrack

    from ..speech.audio import rms_dbfs
    from ..transports.webrtc.media import FRAME, MicDecoder, PcmTrack

    track, done, marks = Tracker(), asyncio.Event(), {}
    end_frame = -(-2 * end_sample // FRAME)  # the mic frame after the last voiced sample
    total_s = len(pcm) / RATE + TAIL_SILENCE_S

    class Mic(PcmTrack):
        async def recv(self):  # type: ignore[no-untyped-def]
            frame = await super().recv()
            if self.frames == end_frame:
                marks["voiced_end"] = time.monotonic()
            if self.frames * FRAME_S >= total_s and track.finished():
                done.set()
            return frame

    async def listen(remote: MediaStreamTrack) -> None:
        decoder = MicDecoder()
        while True:
            try:
                audio = decoder.feed(await remote.recv())  # type: ignore[arg-type]
            except MediaStreamError:
                return
            if len(audio) and rms_dbfs(audio) > AUDIBLE_DBFS:
                track.on_remote_audio(len(audio), time.monotonic())

    mic = Mic(capacity_ms=int(1000 * len(pcm) / RATE) + 1000)
    mic.push(pcm)
    pc = RTCPeerConnection(RTCConfiguration(iceServers=[]))
    tasks: list[asyncio.Task[None]] = []
    pc.addTrack(mic)
    pc.on("track", lambda remote: tasks.append(asyncio.create_task(listen(remote))))
    channel = pc.createDataChannel("oai-events")
    channel.on("message", lambda raw: track.on_event(json.loads(raw), time.monotonic()))
    location = None
    try:
        async with httpx.AsyncClient(timeout=30) as http:
            await pc.setLocalDescription(await pc.createOffer())
            answer = await http.post(
                url, content=pc.localDescription.sdp, headers={"content-type": "application/sdp"}
            )
            answer.raise_for_status()
            location = answer.headers.get("location")
            await pc.setRemoteDescription(RTCSessionDescription(answer.text, "answer"))
            try:
                await asyncio.wait_for(done.wait(), total_s + reply_timeout)
            except TimeoutError:
                pass
            if location:
                await http.delete(str(answer.url.join(location)))
    finally:
        await pc.close()
        for t in tasks:
            t.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
    return track.row(marks.get("voiced_end"), done.is_set())
