"""The WebRTC routes: `POST /v1/realtime/calls` takes the client's SDP offer (see `offer.py`)
and answers with the server's; `DELETE /v1/realtime/calls/{id}` hangs up.

The session config is applied as a `session.update` before the call starts, so
`session.created` already carries it.  Each call lives in `Calls` until the client hangs up,
leaves, or its connection fails.
"""

from __future__ import annotations

import asyncio
import logging

from aiortc.exceptions import (
    InternalError,
    InvalidAccessError,
    InvalidStateError,
    OperationError,
)
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, Response

from ...conversation.session import SessionError
from ...runtime import Refusal, Runtime
from ...storage import ConversationNotFound, StorageError
from ..commands import update_session
from ..door.keys import AuthError, Principal
from ..door.middleware import BodyTooLarge
from ..errors import error_response
from ..realtime.extensions import wants_extensions
from .call import Call
from .offer import OfferError, ice_configuration, read_offer, session_patch

log = logging.getLogger(__name__)

CALLS_PATH = "/v1/realtime/calls"
HANGUP_TIMEOUT_S = 15.0
# What aiortc raises for an offer it cannot answer (an unknown codec, a bad fingerprint...).
ANSWER_ERRORS = (ValueError, InternalError, InvalidAccessError, InvalidStateError, OperationError)


class Calls:
    """The live calls, by id."""

    def __init__(self) -> None:
        self.live: dict[str, Call] = {}

    def __len__(self) -> int:
        return len(self.live)

    async def close_all(self) -> None:
        calls = list(self.live.values())
        for call in calls:
            call.end("server shutting down")
        tasks = [c.task for c in calls if c.task is not None]
        if tasks:
            await asyncio.wait(tasks, timeout=HANGUP_TIMEOUT_S)


async def create_call(request: Request, runtime: Runtime, calls: Calls) -> Response:
    principal: Principal = request.state.principal
    slot = runtime.admit(principal.client, "call")  # counted before any await
    if isinstance(slot, Refusal):
        return error_response(slot.status, slot.code, slot.message)
    call: Call | None = None
    answered = False
    try:
        max_bytes = runtime.settings.server.max_message_bytes
        offer = await read_offer(request, max_bytes)
        wanted = request.query_params.get("conversation")
        conversation = await runtime.conversations.open_log(principal.owner, wanted)
        preset = (
            runtime.client_secrets.redeem(principal.secret.value).session
            if (principal.secret is not None)
            else None
        )
        config = {**(preset or {}), **(offer.session or {})} or None
        patch = session_patch(config, max_bytes)
        persona = offer.persona or (preset or {}).get("model")
        call = Call(
            runtime.engines,
            ice_configuration(runtime.settings.webrtc),
            persona=persona if isinstance(persona, str) else None,
            max_message_bytes=max_bytes,
            owner=principal.owner,
            settings=runtime.settings,
            extensions=wants_extensions(request.query_params),
            conversation=conversation,
        )
        calls.live[call.id] = call
        slot.connection = call
        if patch is not None:
            await update_session(patch, call.session, announce=False)
        answer = await call.answer(offer.sdp)
        answered = True
    except Exception as exc:  # whatever failed, the call is forgotten and its slot freed
        if isinstance(exc, OfferError):
            return exc.response()
        if isinstance(exc, AuthError):
            return error_response(exc.status, exc.code, exc.message)
        if isinstance(exc, BodyTooLarge):
            return error_response(413, "request_too_large", exc.message)
        if isinstance(exc, ConversationNotFound):
            return error_response(404, exc.code, exc.message)
        if isinstance(exc, StorageError):
            return error_response(503, exc.code, exc.message)
        if isinstance(exc, SessionError):
            return error_response(400, "invalid_session", exc.message)
        if isinstance(exc, ANSWER_ERRORS):
            return error_response(400, "invalid_sdp", f"the offer cannot be answered: {exc}")
        log.exception("a WebRTC offer failed")
        return error_response(500, "server_error", "the call could not be set up")
    finally:
        if not answered:  # refused, failed or cancelled: nothing of it stays
            slot.release()
            if call is not None:
                calls.live.pop(call.id, None)
                await call.close()

    def ended(c: Call) -> None:
        calls.live.pop(c.id, None)
        slot.release()

    call.start(ended)
    log.info(
        "session %s opened: WebRTC call %s from %s, %s, persona %s",
        call.session.config.id, call.id, _address(request), principal.owner or "anonymous",
        call.session.config.model,
    )  # fmt: skip
    location = f"{CALLS_PATH}/{call.id}"
    return Response(
        answer, status_code=201, media_type="application/sdp", headers={"Location": location}
    )


def _address(request: Request) -> str:
    return request.client.host if request.client else "unknown"


async def hang_up(call_id: str, calls: Calls, request: Request) -> Response:
    call = calls.live.get(call_id)
    principal: Principal = request.state.principal
    if call is None or call.owner != principal.owner:
        return error_response(404, "call_not_found", f"no live call with id {call_id!r}")
    call.end("the client hung up")
    if call.task is not None:
        await asyncio.wait([call.task], timeout=HANGUP_TIMEOUT_S)
    return JSONResponse({"id": call_id, "status": "closed"})


def add_webrtc_routes(app: FastAPI, runtime: Runtime) -> Calls:
    """Register the call routes; calls still live at shutdown are hung up."""
    calls = Calls()
    app.state.webrtc_calls = calls
    runtime.on_stop(calls.close_all)  # after the drain told every call why

    @app.post(CALLS_PATH, status_code=201, summary="Start a WebRTC call: SDP offer in, answer out")
    async def post_call(request: Request) -> Response:
        return await create_call(request, runtime, calls)

    @app.delete(CALLS_PATH + "/{call_id}", summary="Hang up a WebRTC call")
    async def delete_call(call_id: str, request: Request) -> Response:
        return await hang_up(call_id, calls, request)

    @app.post(CALLS_PATH + "/{call_id}/hangup", summary="Hang up (OpenAI's spelling)")
    async def post_hangup(call_id: str, request: Request) -> Response:
        return await hang_up(call_id, calls, request)

    return calls
