"""Per-persona HTTP endpoints: `/{persona}/speak`, `/{persona}/think`, `/{persona}/listen`.

One request, one answer: speak text in the persona's voice (WAV, or JSON with viseme cues),
stream the persona's reply to a prompt as plain text, or transcribe an uploaded audio file.
Request bodies are capped at `server.max_upload_bytes` by the door (`door/middleware.py`),
by Content-Length before anything is read and by counting while reading; decoded audio at
`server.max_audio_s`.
"""

from __future__ import annotations

import asyncio
import base64
import io
import logging
import tempfile
import wave
from collections.abc import AsyncIterator
from dataclasses import replace
from pathlib import Path
from typing import Annotated, Any, Literal

import numpy as np
from fastapi import APIRouter, Depends, File, HTTPException, Query, Request, UploadFile
from fastapi.responses import JSONResponse, Response, StreamingResponse
from pydantic import BaseModel, Field, field_validator

from ..engines.base import ChatMessage, EngineError
from ..engines.loader import Engines, voice_of
from ..ops.redact import public
from ..speech.audio import AudioError, AudioTooLong, read_audio

log = logging.getLogger(__name__)


class Problem(BaseModel):
    detail: str = Field(examples=["unknown persona 'bob'; configured: jarvis, leonardo"])


def _not_blank(value: str) -> str:
    if not value.strip():
        raise ValueError("must not be empty or only whitespace")
    return value


class SpeakRequest(BaseModel):
    text: str = Field(min_length=1, max_length=5000, examples=["Hello! Nice to meet you."])
    speed: float | None = Field(None, gt=0.25, le=4.0, description=">1 speaks faster")
    _text = field_validator("text")(_not_blank)


class Cue(BaseModel):
    viseme: str = Field(examples=["aa"])
    start_ms: float = Field(description="from the start of the whole audio")
    end_ms: float


class SpeakResult(BaseModel):
    audio_wav_base64: str = Field(description="the same WAV file the audio/wav answer holds")
    sample_rate: int = Field(examples=[22050])
    duration_ms: float = Field(examples=[1480.5])
    cues: list[Cue]


class HistoryMessage(BaseModel):
    role: Literal["user", "assistant"]
    content: str


class ThinkRequest(BaseModel):
    prompt: str = Field(min_length=1, max_length=20000, examples=["Why is the sky blue?"])
    history: list[HistoryMessage] = Field(
        default_factory=list, description="earlier turns, oldest first"
    )
    max_tokens: int | None = Field(None, ge=1, le=8192, description="default: the persona's")
    _prompt = field_validator("prompt")(_not_blank)


class ListenSegment(BaseModel):
    text: str
    start: float
    end: float


class ListenResult(BaseModel):
    text: str = Field(examples=["Turn the lights off in the kitchen."])
    language: str = Field(examples=["en"])
    duration: float = Field(description="seconds of audio", examples=[2.34])
    segments: list[ListenSegment]


def _engines(request: Request) -> Engines:
    return request.app.state.runtime.engines  # type: ignore[no-any-return]


def persona_name(persona: str, request: Request) -> str:
    """The configured persona named in the path (case-insensitive), else 404."""
    known = _engines(request).settings.personas
    name = persona.lower()
    if name not in known:
        raise HTTPException(
            404, f"unknown persona {persona!r}; configured: {', '.join(sorted(known))}"
        )
    return name


Persona = Annotated[str, Depends(persona_name)]
_ERRORS: dict[int | str, dict[str, Any]] = {
    404: {"model": Problem, "description": "unknown persona"},
    413: {"model": Problem, "description": "request body over server.max_upload_bytes"},
}
router = APIRouter(tags=["personas"], responses=_ERRORS)


@router.post(
    "/{persona}/speak",
    summary="Speak text in the persona's voice",
    description=(
        "Answers a PCM16 mono WAV at the voice's own sample rate. With `?visemes=true` or "
        "`Accept: application/json`, answers JSON holding the WAV (base64) and the viseme "
        "cues, timed from the start of the audio."
    ),
    response_model=SpeakResult,
    responses={
        200: {"content": {"audio/wav": {"schema": {"type": "string", "format": "binary"}}}},
        500: {"model": Problem, "description": "the voice could not be loaded or used"},
    },
)
async def speak(
    body: SpeakRequest,
    request: Request,
    persona: Persona,
    visemes: Annotated[bool, Query(description="answer JSON with viseme cues")] = False,
) -> Response:
    engines = _engines(request)
    voice = voice_of(engines.settings.personas[persona])
    if body.speed is not None:
        voice = replace(voice, speed=body.speed)
    parts: list[np.ndarray] = []
    cues: list[Cue] = []
    offset_ms, rate = 0.0, 0
    try:
        async for chunk in engines.tts.synthesize(body.text, voice=voice):
            if rate and chunk.sample_rate != rate:
                raise EngineError(f"voice changed rate mid-speech ({rate} -> {chunk.sample_rate})")
            rate = chunk.sample_rate
            parts.append(chunk.pcm)
            cues.extend(
                Cue(viseme=c.viseme, start_ms=offset_ms + c.start_ms, end_ms=offset_ms + c.end_ms)
                for c in chunk.cues
            )
            offset_ms += chunk.duration_ms
    except EngineError as exc:
        raise HTTPException(
            500, f"cannot speak with {persona}'s voice: {public(str(exc))}"
        ) from None
    if not parts:
        raise HTTPException(400, "nothing to say: the text has no speakable words")
    wav = wav_bytes(np.concatenate(parts), rate)
    if visemes or "application/json" in request.headers.get("accept", ""):
        result = SpeakResult(
            audio_wav_base64=base64.b64encode(wav).decode("ascii"),
            sample_rate=rate,
            duration_ms=round(offset_ms, 1),
            cues=cues,
        )
        return JSONResponse(result.model_dump())
    return Response(wav, media_type="audio/wav", headers={"X-Sample-Rate": str(rate)})


def wav_bytes(pcm: np.ndarray, sample_rate: int) -> bytes:
    """A PCM16 mono WAV file holding `pcm` (int16)."""
    out = io.BytesIO()
    with wave.open(out, "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(sample_rate)
        w.writeframes(pcm.astype("<i2", copy=False).tobytes())
    return out.getvalue()


@router.post(
    "/{persona}/think",
    summary="Stream the persona's reply to a prompt",
    description=(
        "Streams the reply as UTF-8 text while the model generates it, with the persona's "
        "system prompt before `history` and the prompt. A backend that fails before the first "
        "word answers 503; one that fails later cuts the stream short."
    ),
    response_class=StreamingResponse,
    responses={
        200: {"content": {"text/plain": {"example": "The sky looks blue because..."}}},
        503: {"model": Problem, "description": "the chat backend is unreachable or failing"},
    },
)
async def think(body: ThinkRequest, request: Request, persona: Persona) -> StreamingResponse:
    engines = _engines(request)
    history: list[ChatMessage] = [{"role": m.role, "content": m.content} for m in body.history]
    user: ChatMessage = {"role": "user", "content": body.prompt}
    messages = [*engines.system_messages(persona), *history, user]
    max_tokens = body.max_tokens or engines.settings.personas[persona].chat.max_tokens
    deltas = aiter(engines.chat_for(persona).stream(messages, max_tokens=max_tokens))
    try:
        first = await anext(deltas, "")  # backend errors before any text become a clean 503
    except EngineError as exc:
        await _close(deltas)
        raise HTTPException(503, f"{persona} cannot answer: {public(str(exc))}") from None
    return StreamingResponse(_relay(persona, first, deltas), media_type="text/plain; charset=utf-8")


async def _relay(persona: str, first: str, deltas: AsyncIterator[str]) -> AsyncIterator[bytes]:
    """The reply as it is generated; closing this (a client that left) stops the model."""
    try:
        if first:
            yield first.encode()
        async for delta in deltas:
            yield delta.encode()
    except EngineError as exc:
        log.warning("%s's reply stopped early: %s", persona, exc)
        raise  # the response ends without its last chunk: the client sees it was cut
    finally:
        await _close(deltas)


async def _close(deltas: AsyncIterator[str]) -> None:
    if (close := getattr(deltas, "aclose", None)) is not None:
        await close()


@router.post(
    "/{persona}/listen",
    summary="Transcribe an audio file",
    description=(
        "Upload any common audio format (wav, flac, ogg, mp3, m4a, webm) as the multipart "
        "field `file`; answers the transcript with segment timings in seconds."
    ),
    response_model=ListenResult,
    responses={
        400: {"model": Problem, "description": "an empty upload"},
        415: {"model": Problem, "description": "the upload is not audio that can be decoded"},
    },
)
async def listen(
    request: Request,
    persona: Persona,
    file: Annotated[UploadFile, File(description="audio file, any common format")],
) -> ListenResult:
    engines = _engines(request)
    data = await file.read()
    if not data:
        raise HTTPException(400, "the uploaded file is empty")
    name = file.filename or "upload"
    try:
        audio = await asyncio.to_thread(
            decode_upload, data, name, engines.stt.sample_rate, engines.settings.server.max_audio_s
        )
    except AudioTooLong as exc:
        raise HTTPException(413, f"{exc} (server.max_audio_s)") from None
    except AudioError:
        raise HTTPException(
            415, f"cannot decode {name!r} as audio: send wav, flac, ogg, mp3, m4a or webm"
        ) from None
    result = await engines.stt.transcribe(audio, words=True)  # timed segments, not windows
    segments = [ListenSegment(text=s.text, start=s.start, end=s.end) for s in result.segments]
    return ListenResult(
        text=result.text, language=result.language, duration=result.duration, segments=segments
    )


def decode_upload(
    data: bytes, filename: str, sample_rate: int, max_s: float | None = None
) -> np.ndarray:
    """Decode uploaded audio bytes to float32 mono at `sample_rate` (blocking)."""
    suffix = Path(filename).suffix[:10] if Path(filename).suffix.isascii() else ""
    with tempfile.TemporaryDirectory(prefix="zenglow-upload-") as folder:
        path = Path(folder) / f"upload{suffix}"
        path.write_bytes(data)
        return read_audio(path, sample_rate=sample_rate, max_s=max_s)
