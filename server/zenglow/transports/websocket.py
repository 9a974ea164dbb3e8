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

from ..conversation import events as ev
from ..conversation.session import Session, SessionError
from .commands import dispatch
from .realtime import client_events as rt
from .realtime.encoder import RealtimeEncoder
from .realtime.extensions import wants_extensions

if TYPE_CHECKING:
    from ..runtime import Runtime

log = logging.getLogger(__name__)

SEND_QUEUE = 256  # encoded events waiting for a slow client; the session waits beyond it
CLOSE_TRY_AGAIN = 1013  # RFC 6455: try again later
SUBPROTOCOL = "realtime"


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
    encoder = RealtimeEncoder(extensions=wants_extensions(ws.query_params))
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
