"""Speaker: paced release within the lead, offsets and cues, backpressure, clear(), play position.
Time is virtual (`FakeClock`): the Speaker's pacing loop sleeps on it, nothing really waits."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from typing import Any

import numpy as np

from zenglow.conversation.events import AudioOut
from zenglow.conversation.speaker import Speaker
from zenglow.engines.base import VisemeCue

from .fakes import FakeClock, until

RATE = 24000
LEAD_MS = 300
FRAME_MS = 40
FRAME_BYTES = 2 * RATE * FRAME_MS // 1000


def pcm(ms: float, start: int = 0) -> np.ndarray:
    """`ms` of int16 audio whose samples count up from `start`, so any reordering shows."""
    n = round(RATE * ms / 1000)
    return ((np.arange(start, start + n) % 20000) - 10000).astype(np.int16)


@dataclass(frozen=True)
class Sent:
    at: float  # virtual time the frame went out
    out: AudioOut
    played_ms: float  # play position of its response when it went out
    released_ms: float  # released of its response, this frame included


class Rig:
    """A Speaker on a FakeClock with its pacing loop running, recording every frame."""

    def __init__(self, **options: Any) -> None:
        self.clock = FakeClock()
        self.sent: list[Sent] = []
        self.speaker = Speaker(
            self._emit,
            sample_rate=RATE,
            clock=self.clock.now,
            sleep=self.clock.sleep,
            **{"lead_ms": LEAD_MS, "frame_ms": FRAME_MS, **options},
        )
        self.loop: asyncio.Task[None] | None = None

    async def _emit(self, out: AudioOut) -> None:
        sp = self.speaker
        self.sent.append(
            Sent(self.clock.now(), out, sp.played_ms(out.response_id), sp.released_ms())
        )

    def start(self) -> None:
        self.loop = asyncio.create_task(self.speaker.run_loop())

    async def __aenter__(self) -> Rig:
        self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        if self.loop is None:
            return
        if self.loop.done():
            self.loop.result()  # the pacing loop must never end on its own
        self.loop.cancel()
        await asyncio.wait([self.loop])

    def frames(self, response_id: str) -> list[Sent]:
        return [s for s in self.sent if s.out.response_id == response_id]

    def audio(self, response_id: str) -> np.ndarray:
        data = b"".join(s.out.pcm for s in self.frames(response_id))
        return np.frombuffer(data, dtype=np.int16)

    async def idle(self) -> None:
        await until(lambda: not self.speaker.busy)


async def test_release_is_paced_within_the_lead_and_complete() -> None:
    chunks = [pcm(700, 0), pcm(900, 50_000), pcm(430, 7)]
    async with Rig() as rig:
        for chunk in chunks:
            await rig.speaker.play("r1", "i1", chunk)
        await rig.idle()
    frames = rig.frames("r1")
    assert np.array_equal(rig.audio("r1"), np.concatenate(chunks))
    assert rig.speaker.played_ms() == rig.speaker.released_ms() == 2030.0
    assert all(0 < len(s.out.pcm) <= FRAME_BYTES for s in frames)
    t0 = rig.speaker.first_release_at("r1")
    assert t0 == frames[0].at
    for s in frames:
        assert s.out.offset_ms - s.played_ms < LEAD_MS  # a frame starts within the lead
        assert s.released_ms - s.played_ms <= LEAD_MS + FRAME_MS
        assert s.played_ms <= s.out.offset_ms
        # it could not have gone out before the listener got within the lead of it
        assert s.at - t0 >= (s.out.offset_ms - LEAD_MS) / 1000 - 1e-9
    assert frames[-1].at - t0 >= (2030 - LEAD_MS - FRAME_MS) / 1000
    assert rig.clock.now() - t0 >= 2.03 - 1e-9  # played out at real time


async def test_offsets_are_contiguous_per_response_and_restart_at_zero() -> None:
    async with Rig() as rig:
        for i, ms in enumerate([250, 130, 410]):
            await rig.speaker.play("ra", "ia", pcm(ms, i))
        for i, ms in enumerate([90, 333]):
            await rig.speaker.play("rb", "ib", pcm(ms, i))
        await rig.idle()
    assert [s.out.response_id for s in rig.sent] == ["ra"] * len(rig.frames("ra")) + ["rb"] * len(
        rig.frames("rb")
    )
    for response_id, item_id, total in (("ra", "ia", 790), ("rb", "ib", 423)):
        frames = rig.frames(response_id)
        assert frames[0].out.offset_ms == 0.0
        expected = 0.0
        for s in frames:
            assert s.out.item_id == item_id
            assert s.out.offset_ms == expected
            expected += 1000 * len(s.out.pcm) / 2 / RATE
        assert expected == total


async def test_cues_travel_only_on_the_first_frame_of_their_chunk() -> None:
    cues = [
        (VisemeCue("PP", 0, 50), VisemeCue("aa", 50, 200)),
        (),
        (VisemeCue("oh", 10, 95),),
    ]
    lengths = [200, 120, 95]
    async with Rig() as rig:
        for ms, chunk_cues in zip(lengths, cues, strict=True):
            await rig.speaker.play("r", "i", pcm(ms), chunk_cues)
        await rig.idle()
    with_cues = [s for s in rig.sent if s.out.cues]
    assert [s.out.cues for s in with_cues] == [cues[0], cues[2]]
    assert [s.out.offset_ms for s in with_cues] == [0.0, 320.0]  # where each chunk starts
    assert len(rig.sent) == sum(-(-ms // FRAME_MS) for ms in lengths)  # frames never span chunks


async def test_play_blocks_while_the_queue_is_full_and_resumes_as_audio_goes_out() -> None:
    capacity_ms, chunk_ms = 500, 200
    rig = Rig(capacity_ms=capacity_ms)
    queued_in = 0.0
    for _ in range(3):  # 600 ms queued: the next play() must wait
        await rig.speaker.play("r", "i", pcm(chunk_ms))
        queued_in += chunk_ms
    blocked = asyncio.create_task(rig.speaker.play("r", "i", pcm(chunk_ms)))
    for _ in range(50):
        await asyncio.sleep(0)
    assert not blocked.done()
    assert rig.sent == []  # nothing goes out without the pacing loop
    async with rig:
        await blocked
        assert 0 < rig.speaker.released_ms()  # it resumed once audio went out
        assert queued_in - rig.speaker.released_ms() < capacity_ms
        queued_in += chunk_ms
        before = rig.clock.now()
        for _ in range(10):  # a producer faster than real time is held to the capacity
            await rig.speaker.play("r", "i", pcm(chunk_ms))
            assert queued_in - rig.speaker.released_ms() < capacity_ms
            queued_in += chunk_ms
        assert rig.clock.now() - before >= (10 * chunk_ms - capacity_ms - LEAD_MS) / 1000
        await rig.idle()
    assert rig.speaker.released_ms() == queued_in == 14 * chunk_ms


async def test_clear_drops_queued_audio_at_once_and_returns_the_played_ms() -> None:
    async with Rig(capacity_ms=1500) as rig:
        sp = rig.speaker
        await sp.play("r", "i", pcm(2000, 0))
        await sp.play("r", "i", pcm(2000, 3000))
        later = pcm(800, 7777)
        producer = asyncio.create_task(sp.play("r", "i", later))  # waits: the queue is full
        await rig.clock.sleep(0.5)
        assert not producer.done()
        released_before = sp.released_ms()
        t0 = sp.first_release_at("r")
        assert t0 is not None
        elapsed_ms = 1000 * (rig.clock.now() - t0)
        cleared_at = len(rig.sent)
        played = sp.clear()
        assert 0 < played < released_before
        assert abs(played - elapsed_ms) < 1e-6  # no underrun: the play position is the time
        assert abs(sp.played_ms() - played) < 1000 / RATE
        assert sp.released_ms() == sp.played_ms()  # what went beyond it is flushed
        resumed_from = sp.released_ms()
        assert not sp.busy  # dropped at once, before any further pacing step
        await until(producer.done)  # a waiting producer is let go
        await rig.clock.sleep(2.0)
    after = rig.sent[cleared_at:]
    # nothing of the cleared audio went out: only the chunk queued after the clear
    data = np.frombuffer(b"".join(s.out.pcm for s in after), dtype=np.int16)
    assert np.array_equal(data, later)
    assert after[0].out.offset_ms == resumed_from  # new audio follows what was heard


async def test_nothing_of_cleared_audio_goes_out_after_clear() -> None:
    async with Rig() as rig:
        await rig.speaker.play("r", "i", pcm(1500))
        await rig.clock.sleep(0.3)
        sent = len(rig.sent)
        played = rig.speaker.clear()
        await rig.clock.sleep(3.0)
        assert len(rig.sent) == sent
        assert abs(rig.speaker.played_ms() - played) < 1000 / RATE
        assert not rig.speaker.busy
    assert rig.sent[-1].out.offset_ms < played + LEAD_MS


async def test_busy_until_played_out_and_waits_return_at_the_right_time() -> None:
    async with Rig() as rig:
        sp = rig.speaker
        assert not sp.busy
        await sp.play("r", "i", pcm(600))
        await sp.play("r", "i", pcm(400))
        assert sp.busy
        states: dict[str, tuple[float, float, float, bool]] = {}

        async def wait(name: str, waiter: Any) -> None:
            await waiter
            states[name] = (rig.clock.now(), sp.released_ms(), sp.played_ms("r"), sp.busy)

        async with asyncio.TaskGroup() as tg:
            tg.create_task(wait("released", sp.wait_released("r")))
            tg.create_task(wait("played", sp.wait_played("r")))
            tg.create_task(wait("other", sp.wait_played("nobody")))
    t0 = sp.first_release_at("r")
    assert t0 is not None
    at, released, played, busy = states["released"]
    assert released == 1000.0 and played < released and busy  # all out, still playing
    assert played >= 1000 - LEAD_MS - FRAME_MS
    at2, released2, played2, busy2 = states["played"]
    assert released2 == played2 == 1000.0 and not busy2
    assert at2 - t0 >= 1.0 - 1e-9 and at2 > at
    assert states["other"][0] <= at  # nothing of it queued: returns at once


async def test_an_underrun_does_not_move_the_play_position_past_the_audio() -> None:
    rig = Rig()
    seen: list[tuple[float, float]] = []
    done = False

    async def watch() -> None:
        while not done:
            seen.append((rig.speaker.played_ms(), rig.speaker.released_ms()))
            await asyncio.sleep(0)

    async with rig:
        watcher = asyncio.create_task(watch())
        for i in range(5):  # 100 ms of audio every 250 ms: slower than real time
            await rig.speaker.play("r", "i", pcm(100, i))
            await rig.clock.sleep(0.25)
        await rig.idle()
        done = True
        await watcher
    assert all(played <= released for played, released in seen)
    t0 = rig.speaker.first_release_at("r")
    assert t0 is not None and rig.clock.now() - t0 >= 1.0
    assert rig.speaker.played_ms() == rig.speaker.released_ms() == 500.0
    starts = [s for s in rig.sent if s.out.offset_ms % 100 == 0]
    assert [s.out.offset_ms for s in starts] == [0, 100, 200, 300, 400]
    for s in starts:  # after each gap the listener had heard everything, and waited
        assert s.played_ms == s.out.offset_ms
    assert np.array_equal(rig.audio("r"), np.concatenate([pcm(100, i) for i in range(5)]))


async def test_a_new_response_counts_from_where_the_previous_one_ends() -> None:
    async with Rig() as rig:
        sp = rig.speaker
        await sp.play("a", "ia", pcm(1000))
        await sp.wait_released("a")
        await sp.play("b", "ib", pcm(500))
        await sp.wait_played("b")
    ta, tb = sp.first_release_at("a"), sp.first_release_at("b")
    assert ta is not None and tb is not None
    assert tb - ta >= (1000 - LEAD_MS - FRAME_MS) / 1000  # still within the lead overall
    first_b = rig.frames("b")[0]
    assert first_b.out.offset_ms == 0.0 and first_b.played_ms == 0.0
    for s in rig.frames("b"):  # the lead counts the audio of "a" still unplayed
        assert s.at - ta >= (1000 + s.out.offset_ms - LEAD_MS) / 1000 - 1e-9
    assert rig.clock.now() - ta >= 1.5 - 1e-9  # "b" was heard after "a", not over it


async def test_clear_before_a_new_response_starts_reports_nothing_of_it_played() -> None:
    rig = Rig()
    await rig.speaker.play("a", "ia", pcm(1000))
    await rig.speaker.play("b", "ib", pcm(500))
    async with rig:
        await rig.clock.sleep(0.4)
        assert rig.speaker.played_ms("a") > 0
        assert rig.frames("b") == []
        assert rig.speaker.clear() == 0.0
        await rig.clock.sleep(1.0)
    assert rig.frames("b") == []
