"""Client commands -> Session: what every transport does with a parsed Realtime event.

The WebSocket and the WebRTC data channel share it, so both carry out an event the same way.
"""

from __future__ import annotations

import asyncio
import json
import logging
from typing import Any

from ..conversation import events as ev
from ..conversation.session import Session, SessionError
from .door.limits import EventGate, RateLimited
from .realtime import client_events as rt
from .realtime.encoder import wire_item

log = logging.getLogger(__name__)


def session_changes(patch: rt.SessionConfigPatch, session: Session) -> dict[str, Any]:
    """A wire patch -> keyword changes for `Session.update`."""
    c: dict[str, Any] = {}
    if patch.instructions is not None:
        c["instructions"] = patch.instructions or None
    if patch.voice is not None:
        c["voice"] = patch.voice
    if patch.speed is not None:
        c["speed"] = patch.speed
    if patch.output_modalities is not None:
        c["output_modalities"] = tuple(patch.output_modalities)
    if patch.turn_detection is rt.OFF:
        c["turn_detection"] = None
    elif isinstance(patch.turn_detection, rt.TurnDetection):
        td = patch.turn_detection
        c["turn_detection"] = ev.TurnDetection(
            threshold=td.threshold,
            prefix_padding_ms=td.prefix_padding_ms,
            silence_duration_ms=td.silence_duration_ms,
            create_response=td.create_response,
            interrupt_response=td.interrupt_response,
            semantic=td.semantic,
            eagerness=td.eagerness,
        )
    if patch.transcription is not None:
        c["transcription"] = patch.transcription is not rt.OFF
    if patch.max_output_tokens is not None:
        c["max_output_tokens"] = (
            None if patch.max_output_tokens == "inf" else patch.max_output_tokens
        )
    if patch.truncation is not None:
        c["truncation"] = patch.truncation
    if patch.persona is not None:
        c["persona"] = patch.persona
    if patch.tools is not None:
        c["tools"] = patch.tools
    if patch.tool_choice is not None:
        c["tool_choice"] = patch.tool_choice
    return c


async def update_session(
    patch: rt.SessionConfigPatch, session: Session, *, announce: bool = True
) -> None:
    """All of a `session.update`, or a SessionError that says nothing of it was applied."""
    try:
        changes = session_changes(patch, session)
        await session.update(announce=announce, ignored=patch.ignored, **changes)
    except SessionError as exc:
        raise SessionError(exc.code, f"{exc.message}; {rt.REFUSED}", exc.param) from None


async def dispatch(event: rt.ClientEvent, session: Session, send: Any) -> None:
    """Carry out one client event.  Only quick work here: models run in session tasks."""
    match event:
        case rt.AudioAppend():
            session.append_audio(event.pcm)
        case rt.SessionUpdate():
            await update_session(event.config, session)
        case rt.AudioCommit():
            await session.commit()
        case rt.AudioClear():
            await session.clear_input()
        case rt.OutputAudioClear():
            await session.stop_audio()
        case rt.ItemCreate():
            await session.add_item(event.role, event.text, event.item_id)
        case rt.FunctionItemCreate():
            e = event
            await session.add_function_item(e.kind, e.call_id, e.text, e.name, e.item_id)
        case rt.ItemTruncate():
            await session.truncate(event.item_id, event.audio_end_ms)
        case rt.ItemDelete():
            await session.delete_item(event.item_id)
        case rt.ItemRetrieve():
            item = session.items[session.find(event.item_id)]
            await send([session_events(send).item_retrieved(wire_item(item))])
        case rt.ResponseCreate():
            if event.ignored:
                log.info("response.create: accepted, not honoured: %s", ", ".join(event.ignored))
            modalities = tuple(event.output_modalities) if event.output_modalities else None
            await session.create_response(
                instructions=event.instructions,
                modalities=modalities,
                tools=event.tools,
                tool_choice=event.tool_choice,
            )
        case rt.ResponseCancel():
            await session.cancel_response()


def session_events(send: Any) -> Any:
    return send.encoder.out


def _count_refusal(session: Session) -> None:
    session.engines.metrics.refusals_total.labels("events", "rate_limit_exceeded").inc()


async def handle_message(
    raw: str | bytes,
    session: Session,
    send: Any,
    *,
    max_bytes: int,
    gate: EventGate,
) -> None:
    """One client message, from any transport: parsed, metered, carried out.  Whatever goes
    wrong becomes an `error` event and the session goes on."""
    out = send.encoder.out
    try:
        gate.arrived()
    except RateLimited as exc:
        _count_refusal(session)
        if exc.report:
            await send([out.error("rate_limit_exceeded", exc.message)])
        return
    try:
        event = rt.parse_client_event(raw, max_bytes=max_bytes)
    except rt.ProtocolError as exc:
        await send([out.protocol_error(exc)])
        return
    audio_s = len(event.pcm) / rt.SAMPLE_RATE if isinstance(event, rt.AudioAppend) else 0.0
    try:
        gate.check(audio_s=audio_s, commit=isinstance(event, rt.AudioCommit | rt.ResponseCreate))
    except RateLimited as exc:
        _count_refusal(session)
        if exc.report:
            await send([out.error("rate_limit_exceeded", exc.message, event_id=event.event_id)])
        return
    if isinstance(event, rt.AudioAppend):
        session.append_audio(event.pcm)
        await asyncio.sleep(0)  # a burst of appends must not starve the listen loop
        return
    try:
        await dispatch(event, session, send)
    except SessionError as exc:
        await send([out.error(exc.code, exc.message, event_id=event.event_id, param=exc.param)])


def parse_session(config: dict[str, Any], max_bytes: int) -> rt.SessionConfigPatch:
    """A session config object (a WebRTC offer's, a client secret's), validated as
    `session.update` validates it; ProtocolError names what is wrong."""
    raw = json.dumps({"type": "session.update", "session": config})
    event = rt.parse_client_event(raw, max_bytes=max_bytes)
    assert isinstance(event, rt.SessionUpdate)
    return event.config
