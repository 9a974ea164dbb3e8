"""The growable sample buffer behind the listener: the same samples as concatenation, in
linear time (storage grows by doubling, never once per piece)."""

from __future__ import annotations

import numpy as np

from zenglow.speech.samples import SampleBuffer


def test_appends_and_drops_keep_the_same_samples_as_concatenation() -> None:
    rng = np.random.default_rng(7)
    buf, ref = SampleBuffer(capacity=16), np.zeros(0, np.float32)
    for _ in range(2000):
        if rng.random() < 0.8:
            piece = rng.standard_normal(int(rng.integers(0, 700))).astype(np.float32)
            buf.append(piece)
            ref = np.concatenate([ref, piece])
        else:
            n = int(rng.integers(0, 900))
            buf.drop(n)
            ref = ref[n:]
        assert len(buf) == len(ref)
    assert np.array_equal(buf.view(), ref)
    buf.clear()
    assert len(buf) == 0 and buf.view().size == 0


def test_minutes_of_small_pieces_reallocate_only_a_few_times() -> None:
    """120 s of push-to-talk at 16 kHz in 20 ms pieces (6000 appends)."""
    buf = SampleBuffer()
    piece = np.ones(320, np.float32)
    storages = set()
    for _ in range(6000):
        buf.append(piece)
        storages.add(id(buf._data))
    assert len(buf) == 6000 * 320
    assert len(storages) <= 12  # doubling from 16k to 2M: 7 growths, not 6000 copies


def test_a_push_to_talk_buffer_commits_every_sample(engines) -> None:  # type: ignore[no-untyped-def]
    from zenglow.conversation.listener import Listener
    from zenglow.speech.vad import TurnConfig

    listener = Listener(engines.new_vad(), TurnConfig())
    listener.detecting = False
    pcm = (np.sin(np.arange(24000 * 30) / 7) * 8000).astype(np.int16)
    for i in range(0, len(pcm), 480):
        listener.push(pcm[i : i + 480])
    audio = listener.take_all()
    assert 0 <= 16000 * 30 - len(audio) <= 800  # resampled; the filter holds back its delay
    assert listener.buffered_s() == 0
