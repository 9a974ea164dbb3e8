"""create_app(settings) -> FastAPI.  The lifespan loads every engine once, before serving."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

from fastapi import FastAPI, WebSocket
from fastapi.middleware.cors import CORSMiddleware
from fastapi.responses import FileResponse, JSONResponse, Response
from fastapi.staticfiles import StaticFiles

from . import __version__
from .engines.loader import Engines, build_engines
from .runtime import Runtime
from .settings import Settings
from .transports.client_secrets import router as client_secrets_router
from .transports.door.middleware import DoorMiddleware
from .transports.pages import add_page_config, cors_options

log = logging.getLogger(__name__)


def create_app(settings: Settings, engines: Engines | None = None) -> FastAPI:
    """An app over `engines`, or over engines of its own that it closes when it stops."""
    owned = engines is None
    runtime = Runtime(settings, engines or build_engines(settings))

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        await runtime.conversations.start()
        await runtime.engines.warm_up()
        runtime.ready = True
        log.info(
            "engines ready: %s", {k: round(v, 2) for k, v in runtime.engines.load_seconds.items()}
        )
        try:
            yield
        finally:
            if not runtime.draining:  # stopped without a drain: hang up what is left
                await runtime.drain(0.0)
            runtime.ready = False
            await runtime.conversations.stop()
            if owned:  # stop the endpoints' health probes and close their connections
                await runtime.engines.aclose()

    app = FastAPI(title="ZenGlow", version=__version__, lifespan=lifespan)
    app.state.runtime = runtime
    # The door checks every request before any route; CORS answers preflights outside it.
    app.add_middleware(DoorMiddleware, runtime=runtime)
    app.add_middleware(CORSMiddleware, **cors_options(settings.server.allowed_origins))

    @app.get("/health", summary="Liveness")
    async def health() -> dict[str, str]:
        return {"status": "ok", "version": __version__}

    @app.get("/ready", summary="Readiness: whether a turn can be served now, and if not, why")
    async def ready() -> JSONResponse:
        ok, body = runtime.readiness()
        return JSONResponse(body, status_code=200 if ok else 503)

    @app.get("/v1/personas", summary="The personas, their roles, avatars, and the voices")
    async def personas() -> dict[str, object]:
        s = runtime.settings
        return {
            "default": s.default_persona,
            "personas": [
                {
                    "name": name,
                    "display_name": p.display_name,
                    "role": p.role,
                    "avatar": p.avatar.model_dump(),
                }
                for name, p in s.personas.items()
            ],
            "voices": ["default", *s.voices],
        }

    @app.get("/metrics", summary="Prometheus metrics", include_in_schema=False)
    async def metrics() -> Response:
        body, content_type = runtime.engines.metrics.render()
        return Response(body, media_type=content_type)

    @app.websocket("/v1/realtime")
    async def realtime(ws: WebSocket) -> None:
        from .transports.websocket import serve_realtime

        await serve_realtime(ws, runtime)

    # Other transports and pages register here, one line each.
    from .transports.webrtc.routes import add_webrtc_routes

    add_webrtc_routes(app, runtime)  # POST /v1/realtime/calls, DELETE /v1/realtime/calls/{id}
    web = Path(__file__).resolve().parents[2] / "web"  # the browser pages: /, /kiosk, /web/*
    add_page_config(app, runtime, web / "config.json")  # before the static files it overlays
    app.mount("/web", StaticFiles(directory=web, check_dir=False), name="web")
    app.add_api_route("/", lambda: FileResponse(web / "index.html"), include_in_schema=False)
    app.add_api_route("/kiosk", lambda: FileResponse(web / "kiosk.html"), include_in_schema=False)
    from .transports.rest import router as rest_router

    app.include_router(rest_router)  # /{persona}/speak, /think, /listen
    app.include_router(client_secrets_router)  # POST /v1/realtime/client_secrets
    from .transports.documents import router as documents_router

    app.include_router(documents_router)  # /v1/documents: Leonardo's documents
    from .transports.conversations import add_conversation_routes

    add_conversation_routes(app, runtime)  # /v1/conversations, /v1/conversations/{id}

    return app
