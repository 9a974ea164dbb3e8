"""A loudspeaker next to a microphone, for a WebSocket client without echo cancellation.

The client plays each `response.output_audio.delta` as it arrives (gaplessly, as a page
does); the microphone hears that playback `delay_s` later, attenuated and with a room's
reverb (an exponentially decaying noise tail, convolved), plus whatever the user says.
`mic_loop` streams it to the server at real time, 40 ms at a time.
"""

from __future__ import annotations

import asyncio
import base64
import time

import numpy as np

from .server import Client, append_event

RATE = 24000
CHUNK = RATE // 25  # 40 ms


def reverb(seconds: float = 0.25, decay_s: float = 0.06, seed: int = 0) -> np.ndarray:
    """A room's impulse response: the direct sound, then a decaying diffuse tail."""
    rng = np.random.default_rng(seed)
    t = np.arange(int(seconds * RATE)) / RATE
    ir = rng.standard_normal(len(t)) * np.exp(-t / decay_s) * 0.4
    ir[0] = 1.0
    return (ir / np.sqrt(np.sum(ir**2))).astype(np.float32)


class Room:
    def __init__(self, *, delay_s: float = 0.12, gain: float = 0.5, seed: int = 0) -> None:
        self.delay = int(delay_s * RATE)
        self.gain = gain
        self.ir = reverb(seed=seed)
        self.start = time.monotonic()
        self.played = np.zeros(RATE * 120, np.float32)  # what the loudspeaker played, by time
        self.user = np.zeros(RATE * 120, np.float32)  # what the user says, by time
        self.play_end = 0  # sample index where queued playback ends
        self.noise = np.random.default_rng(seed + 1).standard_normal(RATE * 120) * 1e-3

    def now(self) -> int:
        return int((time.monotonic() - self.start) * RATE)

    def hear(self, event: dict) -> None:
        """A reply delta reached the client: it plays right after what is queued."""
        if event["type"] != "response.output_audio.delta":
            return
        pcm = np.frombuffer(base64.b64decode(event["delta"]), "<i2").astype(np.float32) / 32768
        at = max(self.now(), self.play_end)
        self.played[at : at + len(pcm)] = pcm[: len(self.played) - at]
        self.play_end = at + len(pcm)

    def flush(self) -> None:
        """The client stopped playback (barge-in): nothing queued plays any more."""
        now = self.now()
        self.played[now:] = 0
        self.play_end = now

    def say(self, pcm24: np.ndarray, after_s: float = 0.0) -> int:
        """The user starts speaking `after_s` from now; returns the sample index it starts."""
        at = self.now() + int(after_s * RATE)
        audio = pcm24.astype(np.float32) / 32768
        self.user[at : at + len(audio)] += audio[: len(self.user) - at]
        return at

    def mic(self, a: int, b: int) -> np.ndarray:
        """The microphone over samples [a, b): echo of the playback, the user, a noise floor."""
        lo, hi = a - self.delay - len(self.ir), b - self.delay  # history the reverb needs
        src = np.zeros(hi - lo, np.float32)
        keep = slice(max(lo, 0), max(hi, 0))
        src[keep.start - lo : keep.stop - lo] = self.played[keep]
        echo = np.convolve(src, self.ir)[len(self.ir) : len(self.ir) + b - a] * self.gain
        return echo + self.user[a:b] + self.noise[a:b]

    async def mic_loop(self, client: Client, seconds: float) -> None:
        sent = self.now()
        end = sent + int(seconds * RATE)
        while sent < end:
            await asyncio.sleep(max(0.0, (sent + CHUNK) / RATE - (time.monotonic() - self.start)))
            pcm = np.clip(self.mic(sent, sent + CHUNK), -1, 1)
            await client.send(append_event((pcm * 32767).astype(np.int16)))
            sent += CHUNK
