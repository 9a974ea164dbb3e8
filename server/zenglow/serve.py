"""`zenglow serve`: uvicorn with safe defaults and a graceful drain.

A server that listens on a non-loopback address with no API key refuses to start, unless
`auth.allow_anonymous` says so on purpose.  On SIGTERM (or Ctrl-C) it stops accepting
connections, tells every session why, lets replies in progress finish for up to
`server.drain_s`, closes the sockets (1001) and hangs up the calls, then exits 0.
"""

from __future__ import annotations

import ipaddress
import logging
import signal
import socket
import sys

import uvicorn

from .app import create_app
from .ops import redact
from .settings import Settings, SettingsError
from .storage.conversations import check_store
from .transports.door.keys import KeyRing

log = logging.getLogger(__name__)


def is_loopback_host(host: str) -> bool:
    """True for an address or name that only this machine can reach ("" is every address)."""
    if not host:
        return False
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        pass
    try:
        found = {a[4][0] for a in socket.getaddrinfo(host, None)}
    except OSError:
        return False
    return bool(found) and all(ipaddress.ip_address(a).is_loopback for a in found)


def check_exposure(settings: Settings, has_keys: bool) -> None:
    """Refuse an open server on the network; warn loudly when it is open on purpose."""
    host = settings.server.host
    if has_keys or is_loopback_host(host):
        return
    if not settings.auth.allow_anonymous:
        raise SettingsError(
            f"refusing to serve {host} with no API key: anyone who can reach it could use it. "
            "Set auth.api_keys (ZENGLOW_AUTH__API_KEYS='[\"...\"]'), bind 127.0.0.1, or set "
            "auth.allow_anonymous = true on purpose"
        )
    log.warning(
        "!!! serving %s with NO API KEY (auth.allow_anonymous = true): anyone who can reach "
        "this address can use every endpoint and every conversation !!!",
        host,
    )


class DrainingServer(uvicorn.Server):
    """uvicorn's server, draining the sessions before it closes their connections."""

    async def shutdown(self, sockets: list[socket.socket] | None = None) -> None:
        for server in self.servers:  # stop accepting before the sessions are told
            server.close()
        runtime = self.config.app.state.runtime  # type: ignore[attr-defined]
        await runtime.drain(runtime.settings.server.drain_s)
        await super().shutdown(sockets)


def serve(settings: Settings, log_level: str = "info") -> None:
    logging.getLogger("zenglow").setLevel(log_level.upper())
    redact.install()
    try:
        has_keys = KeyRing.from_settings(settings.auth).enabled
    except ValueError as exc:  # an unreadable or bad key file
        raise SettingsError(str(exc)) from None
    check_exposure(settings, has_keys)
    check_store(settings.storage)  # a damaged conversation database: one line, no start
    app = create_app(settings)
    srv = settings.server
    config = uvicorn.Config(
        app,
        host=srv.host,
        port=srv.port,
        ssl_certfile=str(srv.certfile) if srv.certfile else None,
        ssl_keyfile=str(srv.keyfile) if srv.keyfile else None,
        log_level=log_level,
        ws_max_size=srv.max_message_bytes * 2,
        # after the drain: what is left of the connections' own tasks
        timeout_graceful_shutdown=5,
    )
    for name in ("uvicorn", "uvicorn.error", "uvicorn.access"):
        redact.install(logging.getLogger(name))
    # uvicorn hands a caught SIGTERM back to the process once it has stopped; after a clean
    # drain that is a normal end, so it exits 0 (what service managers and Docker expect).
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    DrainingServer(config).run()
