"""Credentials never leave in text: `user:pass@` in URLs and bearer tokens are masked in
every log line (`RedactingFilter`) and in what clients are told (`redact`)."""

from __future__ import annotations

import logging
import re

_USERINFO = re.compile(r"(?P<scheme>[a-zA-Z][a-zA-Z0-9+.-]*://)[^/\s@:]*(?::[^/\s@]*)?@")
_BEARER = re.compile(r"(?i)(bearer\s+|openai-insecure-api-key\.)[A-Za-z0-9._~+/=-]+")


def redact(text: str) -> str:
    text = _USERINFO.sub(r"\g<scheme>***@", text)
    return _BEARER.sub(r"\1***", text)


class RedactingFilter(logging.Filter):
    """Masks credentials in a record's final message (arguments included)."""

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        masked = redact(message)
        if masked != message:
            record.msg, record.args = masked, None
        return True


def install(logger: logging.Logger | None = None) -> None:
    """On every handler of the root logger (and `logger`), so nothing logs a credential."""
    target = logger or logging.getLogger()
    for handler in target.handlers:
        if not any(isinstance(f, RedactingFilter) for f in handler.filters):
            handler.addFilter(RedactingFilter())


_URL = re.compile(r"\b[a-zA-Z][a-zA-Z0-9+.-]*://[^\s'\"<>)]*[^\s'\"<>).,;:!?]")
_ENDPOINT_NAME = re.compile(r"\b(ollama|openai)@[A-Za-z0-9.\-\[\]:]+")


def public(text: str) -> str:
    """An engine's message as a client may read it: no URLs, no internal host names (the
    server log keeps them, credentials masked)."""
    text = _URL.sub("<endpoint>", redact(text))
    return _ENDPOINT_NAME.sub(r"\1 endpoint", text)
