"""HTTP error answers, shaped as OpenAI's API shapes them."""

from __future__ import annotations

from typing import Any

from fastapi.responses import JSONResponse


def error_body(status: int, code: str, message: str, param: str | None = None) -> dict[str, Any]:
    kind = "invalid_request_error" if status < 500 and status != 429 else "server_error"
    return {"error": {"type": kind, "code": code, "message": message, "param": param}}


def error_response(
    status: int, code: str, message: str, headers: dict[str, str] | None = None
) -> JSONResponse:
    return JSONResponse(error_body(status, code, message), status_code=status, headers=headers)
