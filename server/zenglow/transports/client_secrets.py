"""`POST /v1/realtime/client_secrets`: an API key buys a short-lived secret that opens one
Realtime session (WebSocket or WebRTC call), as OpenAI's endpoint does, so that a page
never sends its key to the Realtime routes.

Body (all optional): `{"expires_after": {"anchor": "created_at", "seconds": N},
"session": {...a session config, applied when the secret is used...}}`.
Answer: `{"value": "ek_...", "expires_at": UNIX_SECONDS, "session": {...}}`.
"""

from __future__ import annotations

import json
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse

from .commands import parse_session
from .door.keys import AuthError, Principal
from .errors import error_response
from .realtime import client_events as rt

router = APIRouter(tags=["realtime"])


class _Bad(Exception):
    def __init__(self, message: str, param: str | None = None) -> None:
        super().__init__(message)
        self.message, self.param = message, param


def _ttl(body: dict[str, Any], default: int) -> int:
    after = body.get("expires_after")
    if after is None:
        return default
    if not isinstance(after, dict):
        raise _Bad("expires_after must be an object", "expires_after")
    if after.get("anchor", "created_at") != "created_at":
        raise _Bad("expires_after.anchor must be 'created_at'", "expires_after.anchor")
    seconds = after.get("seconds", default)
    if not isinstance(seconds, int) or isinstance(seconds, bool) or not 10 <= seconds <= 7200:
        raise _Bad("expires_after.seconds must be a whole number from 10 to 7200", "seconds")
    return seconds


@router.post(
    "/v1/realtime/client_secrets",
    summary="An ephemeral client secret for one Realtime session",
    status_code=200,
)
async def create_client_secret(request: Request) -> JSONResponse:
    runtime = request.app.state.runtime
    principal: Principal = request.state.principal
    if principal.kind == "client_secret":
        return error_response(403, "invalid_api_key", "a client secret cannot make another")
    raw = await request.body()
    try:
        body = json.loads(raw) if raw.strip() else {}
        if not isinstance(body, dict):
            raise _Bad("the body must be a JSON object")
        ttl = _ttl(body, runtime.settings.auth.client_secret_ttl_s)
        session = body.get("session")
        if session is not None:
            if not isinstance(session, dict):
                raise _Bad("session must be an object", "session")
            parse_session(session, runtime.settings.server.max_message_bytes)
    except rt.ProtocolError as exc:  # before ValueError, which it is too
        where = f" ({exc.param})" if exc.param else ""
        return error_response(400, "invalid_session", f"session{where}: {exc.message}")
    except _Bad as exc:
        return error_response(400, "invalid_value", exc.message)
    except ValueError as exc:  # JSON
        return error_response(400, "invalid_json", f"the body is not valid JSON: {exc}")
    try:
        secret = runtime.client_secrets.issue(principal.owner or "server", ttl, session)
    except AuthError as exc:
        return error_response(exc.status, exc.code, exc.message)
    model = (session or {}).get("model") or runtime.settings.default_persona
    described = {"type": "realtime", "object": "realtime.session", **(session or {})}
    described["model"] = model
    return JSONResponse(
        {"value": secret.value, "expires_at": int(secret.expires_at), "session": described},
        headers={"Cache-Control": "no-store"},
    )
