"""The WebRTC routes: `POST /v1/realtime/calls` takes the client's SDP offer (see `offer.py`)
and answers with the server's; `DELETE /v1/realtime/calls/{id}` hangs up.

The session config is applied as a `session.update` before the call starts, so
`session.created` already carries it.  Each call lives in `Calls` until the client hangs up,
leaves, or its connection fails.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import TYPE_CHECKING, Any

from aiortc.exceptions import InternalError, InvalidAccessError, InvalidStateError
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, Response

from ...conversation.session import SessionError
from ..commands import update_session
from ..realtime.extensions import wants_extensions
from .call import Call
from .offer import OfferError, error_response, ice_configuration, read_offer, session_patch

if TYPE_CHECKING:
    from ...runtime import Runtime

log = logging.getLogger(__name__)

CALLS_PATH = "/v1/realtime/calls"
HANGUP_TIMEOUT_S = 15.0


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


def refusal(runtime: Runtime, calls: Calls) -> JSONResponse | None:
    if not runtime.ready:
        return error_response(503, "server_not_ready", "server is still loading its models")
    max_calls = runtime.settings.webrtc.max_calls
    max_sessions = runtime.settings.server.max_sessions
    if len(calls) >= max_calls or len(runtime.sessions) >= max_sessions:
        runtime.engines.metrics.sessions_refused_total.inc()
        return error_response(
            429,
            "session_limit_reached",
            f"server busy: {len(calls)}/{max_calls} calls, {len(runtime.sessions)}/"
            f"{max_sessions} sessions; try again later",
        )
    return None


async def create_call(request: Request, runtime: Runtime, calls: Calls) -> Response:
    refused = refusal(runtime, calls)
    if refused is not None:
        return refused
    max_bytes = runtime.settings.server.max_message_bytes
    try:
        offer = await read_offer(request, max_bytes)
        patch = session_patch(offer.session, max_bytes)
    except OfferError as exc:
        return exc.response()
    call = Call(
        runtime.engines,
        ice_configuration(runtime.settings.webrtc),
        persona=offer.persona,
        max_message_bytes=max_bytes,
        extensions=wants_extensions(request.query_params),
    )
    calls.live[call.id] = call  # counted from now on, so concurrent offers see the cap
    runtime.sessions.add(call.session)
    try:
        if patch is not None:
            await update_session(patch, call.session)
        answer = await call.answer(offer.sdp)
    except (OfferError, SessionError, ValueError, InternalError, InvalidAccessError,
            InvalidStateError) as exc:  # fmt: skip
        _forget(runtime, calls, call)
        await call.close()
        if isinstance(exc, OfferError):
            return exc.response()
        if isinstance(exc, SessionError):
            return error_response(400, "invalid_session", exc.message)
        return error_response(400, "invalid_sdp", f"the offer cannot be answered: {exc}")
    runtime.sessions_total += 1
    runtime.engines.metrics.sessions_total.inc()
    runtime.engines.metrics.sessions.set(len(runtime.sessions))
    call.start(lambda c: _forget(runtime, calls, c))
    location = f"{CALLS_PATH}/{call.id}"
    return Response(
        answer, status_code=201, media_type="application/sdp", headers={"Location": location}
    )


def _forget(runtime: Runtime, calls: Calls, call: Call) -> None:
    calls.live.pop(call.id, None)
    runtime.sessions.discard(call.session)
    runtime.engines.metrics.sessions.set(len(runtime.sessions))


async def hang_up(call_id: str, calls: Calls) -> Response:
    call = calls.live.get(call_id)
    if call is None:
        return error_response(404, "call_not_found", f"no live call with id {call_id!r}")
    call.end("the client hung up")
    if call.task is not None:
        await asyncio.wait([call.task], timeout=HANGUP_TIMEOUT_S)
    return JSONResponse({"id": call_id, "status": "closed"})


def add_webrtc_routes(app: FastAPI, runtime: Runtime) -> Calls:
    """Register the call routes; calls still live at shutdown are hung up."""
    calls = Calls()
    app.state.webrtc_calls = calls
    inner = app.router.lifespan_context

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[Any]:
        async with inner(app) as state:
            try:
                yield state
            finally:
                await calls.close_all()

    app.router.lifespan_context = lifespan

    @app.post(CALLS_PATH, status_code=201, summary="Start a WebRTC call: SDP offer in, answer out")
    async def post_call(request: Request) -> Response:
        return await create_call(request, runtime, calls)

    @app.delete(CALLS_PATH + "/{call_id}", summary="Hang up a WebRTC call")
    async def delete_call(call_id: str) -> Response:
        return await hang_up(call_id, calls)

    @app.post(CALLS_PATH + "/{call_id}/hangup", summary="Hang up (OpenAI's spelling)")
    async def post_hangup(call_id: str) -> Response:
        return await hang_up(call_id, calls)

    return calls
