"""Barge-in latency over a loudspeaker that echoes into the microphone.

A real server (real Whisper, Silero, Piper, AEC) on loopback speaks a long scripted reply;
a client without echo cancellation plays it into a simulated room (`tests/echo_room.py`:
delay, attenuation, reverb) whose microphone it streams back at real time.  At a random
point of the reply a recorded speaker talks over it.  Measured from the speech's onset in
the microphone (client clock): the last reply audio the server sent, and `response.done`.
Also counted: replies that stopped with nobody talking (self-interruption), and past the
reply's first 1.5 s the longest wait between two of its audio deltas before anyone spoke
(the reply held over its own echo).

    .venv/bin/python bench/barge_in.py --trials 12
    .venv/bin/python bench/barge_in.py --trials 12 --backchannels
"""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import random
import statistics
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tests.echo_room import RATE, Room
from tests.fakes import LONG_REPLY, ScriptedChat
from tests.server import LoopbackServer, clip_pcm24, connect, user_text
from tests.speech import clips

from zenglow.app import create_app
from zenglow.bench.client import voiced_end
from zenglow.engines.loader import build_engines
from zenglow.settings import BACKCHANNELS, load_settings


def onset(pcm: np.ndarray) -> int:
    """First sample of speech: where the energy first rises 30 dB over the clip's floor."""
    n = RATE // 100
    x = pcm[: len(pcm) // n * n].astype(np.float64).reshape(-1, n)
    db = 10 * np.log10(np.mean(x * x, axis=1) + 1e-9)
    loud = np.nonzero(db > max(db.max() - 30, np.percentile(db, 10) + 15))[0]
    return int(loud[0]) * n if len(loud) else 0


async def trial(url: str, speech: np.ndarray, at_s: float, seed: int) -> dict:
    rng = random.Random(seed)
    room = Room(delay_s=rng.uniform(0.05, 0.2), gain=rng.uniform(0.2, 0.4), seed=seed)
    async with connect(url) as client:
        client.on_event = room.hear
        await client.wait_for("session.created")
        mic = asyncio.create_task(room.mic_loop(client, at_s + 25))
        await client.send(user_text("Tell me a story."))
        await client.send({"type": "response.create"})
        first = await client.wait_for("response.output_audio.delta", timeout=60)
        rid = first["response_id"]
        await asyncio.sleep(at_s)
        start = room.say(speech) + onset(speech)
        try:
            done = await client.wait_for(
                "response.done", timeout=40, where=lambda e: e["response"]["id"] == rid
            )
        except TimeoutError:
            return {"at_s": at_s, "status": "not heard", "early": False}
        finally:
            mic.cancel()
        t_start = room.start + start / RATE
        i_done = client.events.index(done)
        sent = [
            t
            for e, t in zip(client.events, client.times, strict=True)
            if e["type"] == "response.output_audio.delta" and e["response_id"] == rid
        ]
        status = done["response"]["status"]
        # past the reply's first 1.5 s (the room is not known before): the longest wait
        # between two of its audio deltas before anyone spoke, the reply held over its echo
        before = [t for t in sent if sent[0] + 1.5 < t < t_start]
        heard = [
            t
            for e, t in zip(client.events, client.times, strict=True)
            if e["type"] == "input_audio_buffer.speech_started" and t > t_start
        ]
        return {
            "at_s": at_s,
            "status": status,
            "early": client.times[i_done] < t_start,  # stopped before anyone spoke
            "done_ms": 1000 * (client.times[i_done] - t_start),
            "last_audio_ms": 1000 * (max(sent) - t_start),
            "held_ms": 1000 * max(np.diff(before), default=0.0),
            # when the speech was announced: at its onset, or once it proved no echo
            "started_ms": 1000 * (heard[0] - t_start) if heard else None,
        }


async def main(args: argparse.Namespace) -> None:
    engines = build_engines(load_settings(None))
    settings = engines.settings
    if args.backchannels:
        vad = settings.vad.model_copy(update={"backchannels": BACKCHANNELS})
        settings = settings.model_copy(update={"vad": vad})
    engines = dataclasses.replace(engines, settings=settings)
    engines.chats = {
        name: ScriptedChat([w + " " for w in LONG_REPLY.split(" ")], delay_s=0.01)
        for name in settings.personas
    }
    engines.load()
    voices = sorted(clips("setB"), key=lambda c: c.duration)[: args.trials]
    rows = []
    with LoopbackServer(create_app(settings, engines)) as server:
        for n in range(args.trials):
            c = voices[n % len(voices)]
            at = random.Random(n).uniform(0.3, 8.0)
            speech = clip_pcm24(c.path)[: voiced_end(clip_pcm24(c.path)) + RATE // 10]
            row = await trial(server.ws_url, speech, at, n)
            rows.append(row)
            print(f"{c.path.name[:28]:<28} at {at:4.1f} s: {row}", flush=True)
    ok = [r for r in rows if r["status"] == "cancelled" and not r["early"]]
    mode = "backchannels on" if settings.vad.backchannels else "backchannels off"
    held = [r["held_ms"] for r in rows if "held_ms" in r]
    if held:
        print(f"{mode}: held_ms (longest audio gap past 1.5 s, before speech) median "
              f"{statistics.median(held):.0f}, max {max(held):.0f}")  # fmt: skip
    for key in ("last_audio_ms", "done_ms"):
        values = [r[key] for r in ok]
        if values:
            print(f"{mode}: {key} median {statistics.median(values):.0f}, max {max(values):.0f}")
    print(f"{len(ok)}/{len(rows)} interrupted by the speaker; {sum(r['early'] for r in rows)} "
          "stopped before anyone spoke")  # fmt: skip


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--trials", type=int, default=12)
    parser.add_argument("--backchannels", action="store_true", help="let backchannels through")
    asyncio.run(main(parser.parse_args()))
