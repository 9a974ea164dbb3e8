"""`DoorMiddleware`: origins, authentication, body size and REST concurrency, for every
HTTP request and WebSocket handshake, before any route sees it.

Routes are closed unless listed in `PUBLIC` (liveness, readiness and the static pages,
which hold no data).  The caller's `Principal` goes into `scope["state"]["principal"]`.
"""

from __future__ import annotations

import json
import logging
from typing import TYPE_CHECKING, Any

from starlette.datastructures import Headers
from starlette.exceptions import HTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from ..errors import error_body
from .keys import SECRET_PREFIX, AuthError, Principal

if TYPE_CHECKING:
    from ...runtime import Runtime

log = logging.getLogger(__name__)

PUBLIC = frozenset({"/health", "/ready", "/", "/kiosk"})
PUBLIC_PREFIXES = ("/web/",)  # the pages' scripts, styles and /web/config.json
REALTIME = frozenset({"/v1/realtime", "/v1/realtime/calls"})  # where client secrets open
METRICS = "/metrics"
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
KEY_SUBPROTOCOL = "openai-insecure-api-key."


def is_public(path: str) -> bool:
    return path in PUBLIC or path.startswith(PUBLIC_PREFIXES)


def bearer(headers: Headers) -> str | None:
    value = headers.get("authorization", "")
    scheme, _, token = value.partition(" ")
    return token.strip() or None if scheme.lower() == "bearer" else None


def offered_key(scope: Scope) -> str | None:
    """The browser convention: the key as a WebSocket subprotocol."""
    for proto in scope.get("subprotocols") or []:
        if proto.startswith(KEY_SUBPROTOCOL):
            return proto[len(KEY_SUBPROTOCOL) :] or None
    return None


class BodyTooLarge(HTTPException):
    """Raised from `receive` past the limit; an HTTPException, so that routes whose body the
    framework parses answer 413 as well."""

    def __init__(self, message: str) -> None:
        super().__init__(413, message)
        self.message = message


class DoorMiddleware:
    def __init__(self, app: ASGIApp, runtime: Runtime) -> None:
        self.app = app
        self.runtime = runtime

    async def _deny(self, scope: Scope, send: Send, status: int, code: str, message: str) -> None:
        self.runtime.engines.metrics.refusals_total.labels(scope["type"], code).inc()
        await _deny(scope, send, status, code, message)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] not in ("http", "websocket"):
            await self.app(scope, receive, send)
            return
        headers = Headers(scope=scope)
        try:
            principal = self._admit(scope, headers)
        except AuthError as exc:
            await self._deny(scope, send, exc.status, exc.code, exc.message)
            return
        scope.setdefault("state", {})["principal"] = principal
        if scope["type"] == "websocket" or is_public(scope["path"]):
            await self.app(scope, receive, send)
            return
        await self._http(scope, receive, send, headers, principal)

    def _admit(self, scope: Scope, headers: Headers) -> Principal:
        rt, path = self.runtime, scope["path"]
        origin, host = headers.get("origin"), headers.get("host")
        unsafe = scope["type"] == "websocket" or scope.get("method") not in SAFE_METHODS
        if unsafe and not rt.origins.allows(origin, host):
            raise AuthError(
                "origin_not_allowed",
                f"origin {origin!r} may not use this server: add it to server.allowed_origins",
                403,
            )
        address = (scope.get("client") or ("unknown",))[0]
        if not rt.keys.enabled:
            if not is_public(path) and not rt.origins.host_allowed(host):
                raise AuthError(
                    "host_not_allowed",
                    f"this server does not answer to the name {host!r}: use its address, or "
                    "add the origin to server.allowed_origins",
                    403,
                )
            return Principal("anonymous", "server", f"addr:{address}")
        if is_public(path):
            return Principal("anonymous", "", f"addr:{address}")
        token = bearer(headers)
        if token is None and scope["type"] == "websocket":
            token = offered_key(scope)
        if token is None:
            raise AuthError(
                "missing_api_key",
                "this server needs an API key: send 'Authorization: Bearer KEY'"
                + (" or the subprotocol openai-insecure-api-key.KEY" if path in REALTIME else ""),
            )
        owner = rt.keys.identify(token)
        if owner is not None:
            return Principal("key", owner, owner)
        if token.startswith(SECRET_PREFIX):
            if path not in REALTIME:
                raise AuthError(
                    "invalid_api_key", "a client secret opens a Realtime session only", 403
                )
            secret = rt.client_secrets.check(token)
            return Principal("client_secret", secret.owner, secret.owner, secret)
        if path == METRICS and rt.keys.is_metrics_key(token):
            return Principal("metrics", "", "metrics")
        raise AuthError("invalid_api_key", "the API key is not valid for this server")

    async def _http(
        self, scope: Scope, receive: Receive, send: Send, headers: Headers, who: Principal
    ) -> None:
        rt = self.runtime
        s = rt.settings.server
        limit = s.max_message_bytes if scope["path"] in REALTIME else s.max_upload_bytes
        declared = headers.get("content-length", "")
        too_large = f"request body too large: the limit here is {limit} bytes"
        if declared.isdigit() and int(declared) > limit:
            await self._deny(scope, send, 413, "request_too_large", too_large)
            return
        if not rt.rest_in_flight.acquire(who.client):
            await self._deny(
                scope,
                send,
                429,
                "rate_limit_exceeded",
                f"this client has {rt.rest_in_flight.cap} requests in progress "
                "(limits.rest_in_flight); wait for one to finish",
            )
            return
        received = 0
        started = False

        async def counted() -> Message:
            nonlocal received
            message = await receive()
            received += len(message.get("body", b""))
            if received > limit:
                raise BodyTooLarge(too_large)
            return message

        async def watched(message: Message) -> None:
            nonlocal started
            started = started or message["type"] == "http.response.start"
            await send(message)

        try:
            await self.app(scope, counted, watched)
        except BodyTooLarge:
            if not started:
                await self._deny(scope, send, 413, "request_too_large", too_large)
        finally:
            rt.rest_in_flight.release(who.client)


async def _deny(scope: Scope, send: Send, status: int, code: str, message: str) -> None:
    """An error in the shape of the API the path belongs to: OpenAI's under /v1 and on the
    Realtime socket, FastAPI's `{"detail": ...}` on the persona routes and the rest."""
    openai = scope["type"] == "websocket" or scope["path"].startswith("/v1/")
    shaped = error_body(status, code, message) if openai else {"detail": message, "code": code}
    body = json.dumps(shaped).encode()
    head: list[tuple[bytes, bytes]] = [(b"content-type", b"application/json")]
    head.append((b"content-length", str(len(body)).encode()))
    if status == 401:
        head.append((b"www-authenticate", b'Bearer realm="zenglow"'))
    if scope["type"] == "http":
        await send({"type": "http.response.start", "status": status, "headers": head})
        await send({"type": "http.response.body", "body": body})
        return
    log.info("refused a Realtime handshake from %s: %s", _client(scope), code)
    if "websocket.http.response" in scope.get("extensions", {}):
        await send({"type": "websocket.http.response.start", "status": status, "headers": head})
        await send({"type": "websocket.http.response.body", "body": body})
    else:
        await send({"type": "websocket.close", "code": 1008, "reason": message[:120]})


def _client(scope: Scope) -> Any:
    return (scope.get("client") or ("unknown",))[0]
