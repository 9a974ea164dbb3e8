"""The per-persona HTTP endpoints against a real uvicorn server on loopback."""

from __future__ import annotations

import base64
import dataclasses
import io
import time
from collections.abc import Iterator

import httpx
import numpy as np
import pytest
import soundfile as sf

from zenglow.app import create_app
from zenglow.engines.base import VISEMES
from zenglow.engines.loader import Engines
from zenglow.settings import ServerSettings
from zenglow.speech.audio import read_audio, resample

from .conftest import engines_with
from .fakes import ScriptedChat
from .server import LoopbackServer
from .speech import clip, wer

TWO_SENTENCES = "The weather is lovely today. Shall we go for a walk by the river?"
SMALL_LIMIT = 64 * 1024
TOKENS = ["Once", " upon", " a", " time", ",", " a", " fox", " slept", "."]


def url(srv: LoopbackServer, path: str) -> str:
    return f"http://127.0.0.1:{srv.port}{path}"


def wav_of(data: bytes) -> tuple[np.ndarray, int]:
    info = sf.info(io.BytesIO(data))
    assert (info.format, info.subtype, info.channels) == ("WAV", "PCM_16", 1)
    pcm, rate = sf.read(io.BytesIO(data), dtype="int16")
    return pcm, rate


def heard(engines: Engines, pcm: np.ndarray, rate: int) -> str:
    audio = resample(pcm.astype(np.float32) / 32768.0, rate, 16000)
    return engines.stt.transcribe_sync(audio, words=False).text


@dataclasses.dataclass
class Scripted:
    server: LoopbackServer
    jarvis: ScriptedChat
    leonardo: ScriptedChat


@pytest.fixture(scope="module")
def scripted(engines: Engines) -> Iterator[Scripted]:
    """The real STT and TTS, scripted chat models, and a 64 KiB body limit."""
    jarvis = ScriptedChat(TOKENS, delay_s=0.02)
    leonardo = ScriptedChat(["Let", " me", " think", "."])
    limited = engines_with(engines, server=ServerSettings(max_upload_bytes=SMALL_LIMIT))
    custom = dataclasses.replace(limited, chats={"jarvis": jarvis, "leonardo": leonardo})
    with LoopbackServer(create_app(custom.settings, custom)) as srv:
        yield Scripted(srv, jarvis, leonardo)


# --- speak ----------------------------------------------------------------------------


def test_speak_answers_a_wav_in_the_persona_voice(server, engines):
    r = httpx.post(url(server, "/jarvis/speak"), json={"text": TWO_SENTENCES}, timeout=60)
    assert r.status_code == 200, r.text
    assert r.headers["content-type"] == "audio/wav"
    pcm, rate = wav_of(r.content)
    assert rate == engines.tts.sample_rate_for(None) == int(r.headers["x-sample-rate"])
    assert len(pcm) / rate > 2.0
    assert wer(TWO_SENTENCES, heard(engines, pcm, rate)) < 0.25


def test_speak_json_has_cues_timed_over_the_whole_audio(server):
    body = {"text": TWO_SENTENCES}
    r = httpx.post(url(server, "/leonardo/speak?visemes=true"), json=body, timeout=60)
    assert r.status_code == 200, r.text
    doc = r.json()
    pcm, rate = wav_of(base64.b64decode(doc["audio_wav_base64"]))
    assert rate == doc["sample_rate"]
    assert doc["duration_ms"] == pytest.approx(1000 * len(pcm) / rate, abs=0.1)
    cues = doc["cues"]
    assert {c["viseme"] for c in cues} <= set(VISEMES) and len(cues) > 10
    starts = [c["start_ms"] for c in cues]
    assert starts == sorted(starts) and starts[0] == 0
    assert all(c["end_ms"] >= c["start_ms"] for c in cues)
    # Both sentences are covered: the cues run to the end of the audio, not of the first one.
    assert abs(cues[-1]["end_ms"] - doc["duration_ms"]) < 50

    by_accept = httpx.post(
        url(server, "/leonardo/speak"),
        json=body,
        headers={"Accept": "application/json"},
        timeout=60,
    )
    assert by_accept.status_code == 200 and by_accept.json()["sample_rate"] == rate


def test_speak_speed_changes_the_length(server):
    def seconds(speed: float) -> float:
        body = {"text": TWO_SENTENCES, "speed": speed}
        r = httpx.post(url(server, "/jarvis/speak?visemes=true"), json=body, timeout=60)
        assert r.status_code == 200, r.text
        return r.json()["duration_ms"] / 1000

    assert seconds(2.0) < 0.75 * seconds(1.0)


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"text": ""}, "text"),
        ({"text": "   \n "}, "text"),
        ({}, "text"),
        ({"text": "Hi.", "speed": 0}, "speed"),
        ({"text": "Hi.", "speed": 9}, "speed"),
    ],
)
def test_speak_rejects_bad_input_with_422(server, body, field):
    r = httpx.post(url(server, "/jarvis/speak"), json=body, timeout=30)
    assert r.status_code == 422
    assert any(err["loc"][-1] == field for err in r.json()["detail"]), r.json()


def test_malformed_json_is_422(server):
    r = httpx.post(
        url(server, "/jarvis/speak"),
        content=b'{"text": "Hi',
        headers={"Content-Type": "application/json"},
        timeout=30,
    )
    assert r.status_code == 422 and r.json()["detail"][0]["type"] == "json_invalid"


def test_unknown_persona_is_404_naming_the_known_ones(server):
    for path in ("/bob/speak", "/bob/think", "/bob/listen"):
        r = httpx.post(url(server, path), json={"text": "Hi.", "prompt": "Hi."}, timeout=30)
        assert r.status_code == 404, path
        detail = r.json()["detail"]
        assert "'bob'" in detail and "jarvis" in detail and "leonardo" in detail
    # Persona names are not case-sensitive.
    ok = httpx.post(url(server, "/Jarvis/speak"), json={"text": "Hi."}, timeout=60)
    assert ok.status_code == 200


# --- think ----------------------------------------------------------------------------


def test_think_streams_the_embedded_model_reply(server):
    body = {
        "prompt": "What colour is the sky?",
        "history": [
            {"role": "user", "content": "Hello."},
            {"role": "assistant", "content": "Hello! How can I help?"},
        ],
        "max_tokens": 24,
    }
    r = httpx.post(url(server, "/jarvis/think"), json=body, timeout=120)
    assert r.status_code == 200, r.text
    assert r.headers["content-type"] == "text/plain; charset=utf-8"
    assert r.text.strip()


def test_think_streams_as_the_model_generates(scripted):
    chunks: list[bytes] = []
    body = {"prompt": "A story, please.", "history": [{"role": "user", "content": "Hi"}]}
    with httpx.stream("POST", url(scripted.server, "/jarvis/think"), json=body) as r:
        assert r.status_code == 200
        assert r.headers.get("transfer-encoding") == "chunked"
        chunks.extend(r.iter_raw())
    assert b"".join(chunks).decode() == "".join(TOKENS)
    assert len(chunks) >= 3  # tokens 20 ms apart arrive as they come, not in one piece
    messages = scripted.jarvis.calls[-1]
    assert [m["role"] for m in messages] == ["system", "user", "user"]
    assert messages[0]["content"].startswith("You are Jarvis")
    assert messages[-1]["content"] == "A story, please."
    assert scripted.jarvis.max_tokens == 80  # the persona's default


def test_think_max_tokens_and_persona_prompt(scripted):
    body = {"prompt": "Go on.", "max_tokens": 2}
    r = httpx.post(url(scripted.server, "/leonardo/think"), json=body, timeout=30)
    assert r.status_code == 200 and r.text == "Let me"
    assert scripted.leonardo.calls[-1][0]["content"].startswith("You are Leonardo")


def test_think_client_leaving_stops_the_model(scripted):
    chat = scripted.jarvis
    chat.tokens = [f" w{i}" for i in range(500)]  # ten seconds of tokens
    try:
        with httpx.stream(
            "POST", url(scripted.server, "/jarvis/think"), json={"prompt": "Go"}
        ) as r:
            next(r.iter_raw())
        deadline = time.monotonic() + 10
        while not chat.closed and time.monotonic() < deadline:
            time.sleep(0.02)
        assert chat.closed and not chat.finished
        assert chat.yielded < 400
    finally:
        chat.tokens = list(TOKENS)


def test_think_backend_failure(scripted):
    chat = scripted.jarvis
    try:
        chat.fail_after = 0
        r = httpx.post(url(scripted.server, "/jarvis/think"), json={"prompt": "Hi"}, timeout=30)
        assert r.status_code == 503
        assert "jarvis cannot answer" in r.json()["detail"] and "died" in r.json()["detail"]

        chat.fail_after = 3  # after the answer has started: the stream is cut short
        got = b""
        with pytest.raises(httpx.RemoteProtocolError):
            with httpx.stream(
                "POST", url(scripted.server, "/jarvis/think"), json={"prompt": "Hi"}
            ) as r:
                assert r.status_code == 200
                for piece in r.iter_raw():
                    got += piece
        assert got.decode() == "".join(TOKENS[:3])
    finally:
        chat.fail_after = None


@pytest.mark.parametrize(
    "body", [{"prompt": ""}, {"prompt": " "}, {"prompt": "x", "max_tokens": 0}]
)
def test_think_rejects_bad_input(scripted, body):
    r = httpx.post(url(scripted.server, "/jarvis/think"), json=body, timeout=30)
    assert r.status_code == 422


# --- listen ---------------------------------------------------------------------------


def test_listen_transcribes_an_upload(server):
    c = clip("a04")
    with open(c.path, "rb") as f:
        files = {"file": (c.path.name, f, "audio/wav")}
        r = httpx.post(url(server, "/jarvis/listen"), files=files, timeout=120)
    assert r.status_code == 200, r.text
    doc = r.json()
    assert wer(c.transcript, doc["text"]) < 0.25
    assert doc["language"] == "en"
    assert doc["duration"] == pytest.approx(c.duration, abs=0.05)
    segments = doc["segments"]
    assert segments and all(0 <= s["start"] <= s["end"] for s in segments)
    assert segments[0]["start"] < 1.0 and c.duration - 1.5 < segments[-1]["end"] <= c.duration + 0.1
    assert " ".join(s["text"] for s in doc["segments"]) == doc["text"]


def test_listen_decodes_other_formats(server):
    c = clip("a09")
    ogg = io.BytesIO()
    sf.write(ogg, read_audio(c.path, 44100), 44100, format="OGG", subtype="VORBIS")
    files = {"file": ("clip.ogg", ogg.getvalue(), "audio/ogg")}
    r = httpx.post(url(server, "/leonardo/listen"), files=files, timeout=120)
    assert r.status_code == 200, r.text
    assert wer(c.transcript, r.json()["text"]) < 0.3


def test_listen_bad_uploads(server):
    garbage = {"file": ("notes.wav", b"this is not audio at all" * 20, "audio/wav")}
    r = httpx.post(url(server, "/jarvis/listen"), files=garbage, timeout=30)
    assert r.status_code == 415 and "notes.wav" in r.json()["detail"]

    empty = {"file": ("empty.wav", b"", "audio/wav")}
    r = httpx.post(url(server, "/jarvis/listen"), files=empty, timeout=30)
    assert r.status_code == 400 and "empty" in r.json()["detail"]

    wrong_field = {"audio": ("a.wav", b"RIFF", "audio/wav")}
    r = httpx.post(url(server, "/jarvis/listen"), files=wrong_field, timeout=30)
    assert r.status_code == 422
    assert r.json()["detail"][0]["loc"] == ["body", "file"]

    r = httpx.post(url(server, "/jarvis/listen"), json={"file": "x"}, timeout=30)
    assert r.status_code == 422


def test_oversized_bodies_are_413(scripted):
    big = b"\0" * (SMALL_LIMIT + 1)
    listen = url(scripted.server, "/jarvis/listen")
    r = httpx.post(listen, files={"file": ("big.wav", big, "audio/wav")}, timeout=30)
    assert r.status_code == 413 and str(SMALL_LIMIT) in r.json()["detail"]

    def chunks() -> Iterator[bytes]:  # no Content-Length: counted while reading
        for _ in range(SMALL_LIMIT // 4096 + 2):
            yield b"\0" * 4096

    boundary = "zenglowboundary"
    head = f'--{boundary}\r\nContent-Disposition: form-data; name="file"; filename="a.wav"\r\n\r\n'

    def multipart() -> Iterator[bytes]:
        yield head.encode()
        yield from chunks()
        yield f"\r\n--{boundary}--\r\n".encode()

    headers = {"Content-Type": f"multipart/form-data; boundary={boundary}"}
    r = httpx.post(listen, content=multipart(), headers=headers, timeout=30)
    assert "content-length" not in r.request.headers
    assert r.status_code == 413, r.text

    r = httpx.post(url(scripted.server, "/jarvis/speak"), json={"text": "a" * SMALL_LIMIT})
    assert r.status_code == 413


# --- OpenAPI --------------------------------------------------------------------------


def test_openapi_documents_the_endpoints(server):
    spec = httpx.get(url(server, "/openapi.json"), timeout=30).json()
    paths = spec["paths"]
    speak = paths["/{persona}/speak"]["post"]
    assert speak["summary"] == "Speak text in the persona's voice"
    assert set(speak["responses"]["200"]["content"]) == {"application/json", "audio/wav"}
    assert {"404", "413", "422"} <= set(speak["responses"])
    schemas = spec["components"]["schemas"]
    assert schemas["SpeakRequest"]["properties"]["text"]["examples"]
    assert "text/plain" in paths["/{persona}/think"]["post"]["responses"]["200"]["content"]
    assert "503" in paths["/{persona}/think"]["post"]["responses"]
    listen = paths["/{persona}/listen"]["post"]
    assert "multipart/form-data" in listen["requestBody"]["content"]
    assert {"400", "415"} <= set(listen["responses"])
    assert set(schemas["ListenResult"]["properties"]) == {
        "text",
        "language",
        "duration",
        "segments",
    }
