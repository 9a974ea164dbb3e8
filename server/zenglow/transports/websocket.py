"""The Realtime protocol over a WebSocket at `/v1/realtime`: wire <-> Session, nothing else.

Three loops per connection in one TaskGroup: receive (parse, meter, dispatch; never waits
on a model), send (a bounded queue of encoded events), and the session itself.  Bad input
becomes an `error` event and the connection goes on.  The door (`door/middleware.py`) has
checked the caller before the handshake; here the session takes its slot, and gives it
back however it ends.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from dataclasses import dataclass
from typing import Any

from starlette.websockets import WebSocket, WebSocketDisconnect

from ..conversation import events as ev
from ..conversation.session import Session, SessionError
from ..runtime import Refusal, Runtime
from ..storage import ConversationNotFound, StorageError
from .commands import handle_message, parse_session, update_session
from .door.keys import AuthError, Principal
from .door.limits import EventGate
from .realtime import client_events as rt
from .realtime.encoder import RealtimeEncoder
from .realtime.extensions import wants_extensions

log = logging.getLogger(__name__)

SEND_QUEUE = 256  # encoded events waiting for a slow client; the session waits beyond it
CLOSE_GOING_AWAY = 1001  # RFC 6455: the server is going down
SUBPROTOCOL = "realtime"


@dataclass(frozen=True, slots=True)
class _Close:
    code: int
    reason: str


class _Closed(Exception):
    pass


class _Outbox:
    """Bounded queue of encoded events; `put` waits when the client reads slowly."""

    def __init__(self, encoder: RealtimeEncoder) -> None:
        self.encoder = encoder
        self.queue: asyncio.Queue[dict[str, Any] | _Close] = asyncio.Queue(SEND_QUEUE)

    async def __call__(self, wire: list[dict[str, Any]]) -> None:
        for msg in wire:
            await self.queue.put(msg)

    async def emit(self, event: ev.SessionEvent) -> None:
        await self(self.encoder.encode(event))

    async def close(self, code: int, reason: str) -> None:
        """Close after everything queued before has gone out."""
        await self.queue.put(_Close(code, reason))


class _Socket:
    """A live WebSocket session, as the runtime's drain sees it."""

    def __init__(self, session: Session, outbox: _Outbox) -> None:
        self.session, self.outbox = session, outbox

    async def shut_down(self, reason: str, grace_s: float) -> None:
        out = self.outbox.encoder.out
        await self.outbox([out.error("server_shutting_down", reason, kind="server_error")])
        await self.session.wait_idle(grace_s)
        await self.outbox.close(CLOSE_GOING_AWAY, "server shutting down")


async def serve_realtime(ws: WebSocket, runtime: Runtime) -> None:
    principal: Principal = ws.scope["state"]["principal"]
    offered = ws.scope.get("subprotocols") or []
    subprotocol = SUBPROTOCOL if SUBPROTOCOL in offered else None
    await ws.accept(subprotocol=subprotocol)
    encoder = RealtimeEncoder(extensions=wants_extensions(ws.query_params))
    slot = runtime.admit(principal.client)
    if isinstance(slot, Refusal):
        refusal = encoder.out.error(slot.code, slot.message, kind="server_error")
        await ws.send_text(json.dumps(refusal))
        await ws.close(slot.close_code, slot.message[:120])
        return
    started = time.monotonic()
    outbox = _Outbox(encoder)
    s = runtime.settings
    address = ws.client.host if ws.client else "unknown"
    try:
        wanted = ws.query_params.get("conversation")
        conversation = await runtime.conversations.open_log(principal.owner, wanted)
        preset = _redeem(runtime, principal)
        model = ws.query_params.get("model") or (preset or {}).get("model")
        persona = model if isinstance(model, str) else None
        emit = conversation.wrap(outbox.emit) if conversation else outbox.emit
        session = Session(runtime.engines, emit, persona=persona)
        if conversation:
            conversation.attach(session.items)
        if preset:
            patch = parse_session(preset, s.server.max_message_bytes)
            await update_session(patch, session, announce=False)
    except (AuthError, rt.ProtocolError, SessionError, ConversationNotFound, StorageError) as exc:
        slot.release()
        await ws.send_text(json.dumps(encoder.out.error(exc.code, exc.message)))
        await ws.close(1008, exc.message[:120])
        return
    slot.connection = _Socket(session, outbox)
    log.info(
        "session %s opened: websocket from %s, %s, persona %s",
        session.config.id,
        address,
        principal.owner or "anonymous",
        session.config.model,
    )
    gate = EventGate(s.limits)
    try:
        async with asyncio.TaskGroup() as tg:
            tg.create_task(session.run(), name="session")
            tg.create_task(_send_loop(ws, outbox), name="send")
            tg.create_task(_receive_loop(ws, session, outbox, runtime, gate), name="receive")
    except* (WebSocketDisconnect, _Closed):
        pass
    finally:
        slot.release()
        await session.close()
        if conversation:
            await conversation.flush()
        log.info(
            "session %s closed after %.1f s (%d events refused by limits)",
            session.config.id,
            time.monotonic() - started,
            gate.refused,
        )


def _redeem(runtime: Runtime, principal: Principal) -> dict[str, Any] | None:
    """Use up the client secret the session opens with; its session config, if any."""
    if principal.secret is None:
        return None
    return runtime.client_secrets.redeem(principal.secret.value).session


async def _receive_loop(
    ws: WebSocket, session: Session, outbox: _Outbox, runtime: Runtime, gate: EventGate
) -> None:
    server = runtime.settings.server
    while True:
        try:
            async with asyncio.timeout(server.idle_timeout_s):
                message = await ws.receive()
        except TimeoutError:
            out = outbox.encoder.out
            idle = f"no event for {server.idle_timeout_s:g} s: closing the idle session"
            await outbox([out.error("idle_timeout", idle)])
            await outbox.close(1000, "idle")
            await asyncio.Event().wait()  # the send loop closes the socket
        if message["type"] == "websocket.disconnect":
            raise WebSocketDisconnect(message.get("code", 1000))
        raw = message.get("text")
        if raw is None:
            raw = message.get("bytes") or b""
        await handle_message(raw, session, outbox, max_bytes=server.max_message_bytes, gate=gate)


async def _send_loop(ws: WebSocket, outbox: _Outbox) -> None:
    while True:
        msg = await outbox.queue.get()
        if isinstance(msg, _Close):
            await ws.close(msg.code, msg.reason)
            raise _Closed
        await ws.send_text(json.dumps(msg, separators=(",", ":")))
