"""The Realtime protocol over a WebSocket at `/v1/realtime`: wire <-> Session, nothing else.

Three loops per connection in one TaskGroup: receive (parse, dispatch; never waits on a
model), send (a bounded queue of encoded events), and the session itself.  Bad input
becomes an `error` event and the connection goes on.
"""

from __future__ import annotations

import asyncio
import json
import logging
from typing import TYPE_CHECKING, Any

from starlette.websockets import WebSocket, WebSocketDisconnect

from .. import events as ev
from ..session import Session, SessionError
from . import realtime as rt
from .realtime_out import RealtimeEncoder, wire_item

if TYPE_CHECKING:
    from ..app import Runtime

log = logging.getLogger(__name__)

SEND_QUEUE = 256  # encoded events waiting for a slow client; the session waits beyond it
CLOSE_TRY_AGAIN = 1013  # RFC 6455: try again later
SUBPROTOCOL = "realtime"


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
        )
    if patch.transcription is not None:
        c["transcription"] = patch.transcription is not rt.OFF
    if patch.max_output_tokens is not None:
        c["max_output_tokens"] = (
            None if patch.max_output_tokens == "inf" else patch.max_output_tokens
        )
    if patch.persona is not None:
        c["persona"] = patch.persona
    return c


async def dispatch(event: rt.ClientEvent, session: Session, send: Any) -> None:
    """Carry out one client event.  Only quick work here: models run in session tasks."""
    match event:
        case rt.AudioAppend():
            session.append_audio(event.pcm)
        case rt.SessionUpdate():
            if event.config.ignored:
                log.debug("session.update: ignored %s", ", ".join(event.config.ignored))
            await session.update(**session_changes(event.config, session))
        case rt.AudioCommit():
            await session.commit()
        case rt.AudioClear():
            await session.clear_input()
        case rt.OutputAudioClear():
            await session.stop_audio()
        case rt.ItemCreate():
            await session.add_item(event.role, event.text, event.item_id)
        case rt.ItemTruncate():
            await session.truncate(event.item_id, event.audio_end_ms)
        case rt.ItemDelete():
            await session.delete_item(event.item_id)
        case rt.ItemRetrieve():
            item = session.items[session.find(event.item_id)]
            await send([session_events(send).item_retrieved(wire_item(item))])
        case rt.ResponseCreate():
            modalities = tuple(event.output_modalities) if event.output_modalities else None
            await session.create_response(instructions=event.instructions, modalities=modalities)
        case rt.ResponseCancel():
            await session.cancel_response()


def session_events(send: Any) -> Any:
    return send.encoder.out


class _Outbox:
    """Bounded queue of encoded events; `put` waits when the client reads slowly."""

    def __init__(self, encoder: RealtimeEncoder) -> None:
        self.encoder = encoder
        self.queue: asyncio.Queue[dict[str, Any]] = asyncio.Queue(SEND_QUEUE)

    async def __call__(self, wire: list[dict[str, Any]]) -> None:
        for msg in wire:
            await self.queue.put(msg)

    async def emit(self, event: ev.SessionEvent) -> None:
        await self(self.encoder.encode(event))


async def serve_realtime(ws: WebSocket, runtime: Runtime) -> None:
    offered = ws.scope.get("subprotocols") or []
    subprotocol = SUBPROTOCOL if SUBPROTOCOL in offered else None
    await ws.accept(subprotocol=subprotocol)
    encoder = RealtimeEncoder()
    limit = runtime.settings.server.max_sessions
    if len(runtime.sessions) >= limit or not runtime.ready:
        why = "server busy" if runtime.ready else "server is still loading its models"
        reason = f"{why}: {len(runtime.sessions)}/{limit} sessions; try again later"
        code = "session_limit_reached" if runtime.ready else "server_not_ready"
        runtime.engines.metrics.sessions_refused_total.inc()
        await ws.send_text(json.dumps(encoder.out.error(code, reason, kind="server_error")))
        await ws.close(CLOSE_TRY_AGAIN, reason[:120])
        return
    outbox = _Outbox(encoder)
    model = ws.query_params.get("model")
    session = Session(runtime.engines, outbox.emit, persona=model)
    runtime.sessions.add(session)
    runtime.sessions_total += 1
    runtime.engines.metrics.sessions_total.inc()
    runtime.engines.metrics.sessions.set(len(runtime.sessions))
    max_bytes = runtime.settings.server.max_message_bytes
    try:
        async with asyncio.TaskGroup() as tg:
            tg.create_task(session.run(), name="session")
            tg.create_task(_send_loop(ws, outbox), name="send")
            tg.create_task(_receive_loop(ws, session, outbox, max_bytes), name="receive")
    except* WebSocketDisconnect:
        pass
    finally:
        runtime.sessions.discard(session)
        runtime.engines.metrics.sessions.set(len(runtime.sessions))
        await session.close()


class _Closed(Exception):
    pass


async def _receive_loop(ws: WebSocket, session: Session, outbox: _Outbox, max_bytes: int) -> None:
    out = outbox.encoder.out
    while True:
        message = await ws.receive()
        if message["type"] == "websocket.disconnect":
            raise WebSocketDisconnect(message.get("code", 1000))
        raw = message.get("text")
        if raw is None:
            raw = message.get("bytes") or b""
        try:
            event = rt.parse_client_event(raw, max_bytes=max_bytes)
        except rt.ProtocolError as exc:
            await outbox([out.protocol_error(exc)])
            continue
        if isinstance(event, rt.AudioAppend):
            session.append_audio(event.pcm)
            await asyncio.sleep(0)  # a burst of appends must not starve the listen loop
            continue
        try:
            await dispatch(event, session, outbox)
        except SessionError as exc:
            await outbox(
                [out.error(exc.code, exc.message, event_id=event.event_id, param=exc.param)]
            )


async def _send_loop(ws: WebSocket, outbox: _Outbox) -> None:
    while True:
        msg = await outbox.queue.get()
        await ws.send_text(json.dumps(msg, separators=(",", ":")))
