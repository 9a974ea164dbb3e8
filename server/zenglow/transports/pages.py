"""What the browser pages are told: the page config and the CORS rules.

`/web/config.json` is the optional file beside the pages (persona, avatar, idle time...)
overlaid with what the server knows: whether it needs a key, which origins a page may
point `?server=` at, so that a crafted link cannot send a kiosk's microphone elsewhere, and
which files it takes as documents.
"""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import TYPE_CHECKING, Any

from fastapi import FastAPI
from fastapi.responses import JSONResponse

from ..knowledge import SUFFIXES

if TYPE_CHECKING:
    from ..runtime import Runtime

log = logging.getLogger(__name__)

# Any page served from this machine: localhost, 127.x.y.z or [::1], on any port.
LOOPBACK_ORIGIN = r"https?://(localhost|127\.\d{1,3}\.\d{1,3}\.\d{1,3}|\[::1\])(:\d{1,5})?"


def cors_options(allowed: list[str]) -> dict[str, Any]:
    """CORSMiddleware's options: headers only for allowed origins (a same-origin page
    needs none)."""
    return {
        "allow_origins": ["*"] if "*" in allowed else [a.rstrip("/") for a in allowed],
        "allow_origin_regex": LOOPBACK_ORIGIN,
        "allow_methods": ["GET", "POST", "DELETE"],
        "allow_headers": ["Authorization", "Content-Type"],
        "expose_headers": ["Location"],
        "max_age": 600,
    }


def add_page_config(app: FastAPI, runtime: Runtime, file: Path) -> None:
    @app.get("/web/config.json", include_in_schema=False)
    def page_config() -> JSONResponse:  # reads a file: FastAPI runs it in a thread
        page: dict[str, Any] = {}
        if file.is_file():
            try:
                page = json.loads(file.read_text())
            except (OSError, ValueError) as exc:
                log.warning("ignoring %s: %s", file, exc)
        allowed = runtime.settings.server.allowed_origins
        page |= {"auth": runtime.keys.enabled, "allowed_origins": list(allowed)}
        page["documents"] = sorted(SUFFIXES)  # the file types Leonardo's documents may be
        page.setdefault("conversation_idle", runtime.settings.storage.kiosk_idle_s)
        return JSONResponse(page, headers={"Cache-Control": "no-store"})
