"""The Realtime protocol over WebRTC: `POST /v1/realtime/calls` takes the client's SDP offer
and answers with the server's; `DELETE /v1/realtime/calls/{id}` hangs up.

The offer comes as `application/sdp`, as JSON `{"sdp": ..., "session": {...}}`, or as a
multipart form with an `sdp` part and a `session` JSON part (OpenAI's WebRTC flow).  The
session config is applied as a `session.update` before the call starts, so `session.created`
already carries it.  Each call lives in `Calls` until the client hangs up, leaves, or its
connection fails.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from aiortc import RTCConfiguration, RTCIceServer
from aiortc.exceptions import InternalError, InvalidAccessError, InvalidStateError
from aiortc.sdp import SessionDescription
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, Response
from starlette.datastructures import UploadFile

from ..session import SessionError
from ..settings import WebRtcSettings
from . import realtime as rt
from .webrtc_call import Call
from .websocket import session_changes

if TYPE_CHECKING:
    from ..app import Runtime

log = logging.getLogger(__name__)

CALLS_PATH = "/v1/realtime/calls"
HANGUP_TIMEOUT_S = 15.0


class OfferError(Exception):
    """An offer that cannot be answered: becomes an HTTP error with a JSON body."""

    def __init__(self, code: str, message: str, status: int = 400) -> None:
        super().__init__(message)
        self.code, self.message, self.status = code, message, status

    def response(self) -> JSONResponse:
        return error_response(self.status, self.code, self.message)


def error_response(status: int, code: str, message: str) -> JSONResponse:
    kind = "invalid_request_error" if status < 500 and status != 429 else "server_error"
    body = {"error": {"type": kind, "code": code, "message": message, "param": None}}
    return JSONResponse(body, status_code=status)


@dataclass(frozen=True, slots=True)
class Offer:
    sdp: str
    persona: str | None = None
    session: dict[str, Any] | None = None


# --- reading an offer (pure but for the request body) --------------------------------------


def check_sdp(sdp: str) -> None:
    """Raise OfferError unless `sdp` is an SDP offer with an audio section."""
    if not sdp.strip():
        raise OfferError("missing_offer", "the request holds no SDP offer")
    if not sdp.lstrip().startswith("v=0"):
        raise OfferError("invalid_sdp", "the offer is not SDP: it must start with 'v=0'")
    try:
        parsed = SessionDescription.parse(sdp)
    except (ValueError, AssertionError, IndexError, KeyError) as exc:
        raise OfferError("invalid_sdp", f"the SDP offer cannot be parsed: {exc!r}") from None
    if not any(m.kind == "audio" for m in parsed.media):
        raise OfferError(
            "no_audio_in_offer",
            "the offer has no audio section: add an audio transceiver (sendrecv) before "
            "creating the offer",
        )


def session_json(value: Any, where: str, code: str = "invalid_session") -> dict[str, Any] | None:
    if value is None or value == "":
        return None
    if isinstance(value, str | bytes):
        try:
            value = json.loads(value)
        except ValueError:
            raise OfferError(code, f"{where} is not valid JSON") from None
    if not isinstance(value, dict):
        raise OfferError(code, f"{where} must be a JSON object")
    return value


def offer_from_parts(
    sdp: Any, session: Any, query_model: str | None, where: str = "'session'"
) -> Offer:
    if isinstance(sdp, bytes):
        sdp = sdp.decode("utf-8", "replace")
    if sdp is None:
        raise OfferError("missing_offer", "the request holds no SDP offer ('sdp' is missing)")
    if not isinstance(sdp, str):
        raise OfferError("invalid_sdp", "'sdp' must be a string")
    check_sdp(sdp)
    config = session_json(session, where)
    model = query_model or (config or {}).get("model")
    return Offer(sdp, model if isinstance(model, str) else None, config)


def session_patch(config: dict[str, Any] | None, max_bytes: int) -> rt.SessionConfigPatch | None:
    """Validate a session config the way `session.update` does."""
    if config is None:
        return None
    raw = json.dumps({"type": "session.update", "session": config})
    try:
        event = rt.parse_client_event(raw, max_bytes=max_bytes)
    except rt.ProtocolError as exc:
        where = f" ({exc.param})" if exc.param else ""
        raise OfferError("invalid_session", f"session{where}: {exc.message}") from None
    assert isinstance(event, rt.SessionUpdate)
    return event.config


async def read_offer(request: Request, max_bytes: int) -> Offer:
    kind = request.headers.get("content-type", "").split(";")[0].strip().lower()
    model = request.query_params.get("model")
    if kind == "multipart/form-data":
        try:
            form = await request.form(max_part_size=max_bytes)
        except ValueError as exc:  # malformed multipart body
            raise OfferError("invalid_form", f"cannot read the form: {exc}") from None
        parts = {}
        for key in ("sdp", "session"):
            value = form.get(key)
            parts[key] = await value.read() if isinstance(value, UploadFile) else value
        return offer_from_parts(parts["sdp"], parts["session"], model, "the 'session' part")
    body = await request.body()
    if len(body) > max_bytes:
        raise OfferError("offer_too_large", f"the offer exceeds {max_bytes} bytes", 413)
    if kind == "application/json":
        data = session_json(body, "the JSON body", "invalid_json") or {}
        return offer_from_parts(data.get("sdp"), data.get("session"), model)
    if kind in ("", "application/sdp", "text/plain"):
        return offer_from_parts(body, None, model)
    raise OfferError(
        "unsupported_media_type",
        f"unsupported content type {kind!r}: send application/sdp, application/json or "
        "multipart/form-data",
        415,
    )


def ice_configuration(s: WebRtcSettings) -> RTCConfiguration:
    """Host candidates only unless STUN or TURN servers are configured (never a default)."""
    servers = []
    if s.stun_urls:
        servers.append(RTCIceServer(urls=list(s.stun_urls)))
    if s.turn_urls:
        servers.append(
            RTCIceServer(
                urls=list(s.turn_urls), username=s.turn_username, credential=s.turn_credential
            )
        )
    return RTCConfiguration(iceServers=servers)


# --- the calls --------------------------------------------------------------------------


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
    )
    calls.live[call.id] = call  # counted from now on, so concurrent offers see the cap
    runtime.sessions.add(call.session)
    try:
        if patch is not None:
            await call.session.update(**session_changes(patch, call.session))
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
