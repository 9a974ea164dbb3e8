"""Reading a WebRTC offer (pure but for the request body): SDP, the session config, ICE.

The offer comes as `application/sdp`, as JSON `{"sdp": ..., "session": {...}}`, or as a
multipart form with an `sdp` part and a `session` JSON part (OpenAI's WebRTC flow).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from aiortc import RTCConfiguration, RTCIceServer
from aiortc.codecs import CODECS
from aiortc.sdp import SessionDescription
from fastapi import Request
from fastapi.responses import JSONResponse
from starlette.datastructures import UploadFile

from ...settings import WebRtcSettings
from ..commands import parse_session
from ..errors import error_response
from ..realtime import client_events as rt


class OfferError(Exception):
    """An offer that cannot be answered: becomes an HTTP error with a JSON body."""

    def __init__(self, code: str, message: str, status: int = 400) -> None:
        super().__init__(message)
        self.code, self.message, self.status = code, message, status

    def response(self) -> JSONResponse:
        return error_response(self.status, self.code, self.message)


AUDIO_CODECS = frozenset(c.mimeType.lower() for c in CODECS["audio"])


@dataclass(frozen=True, slots=True)
class Offer:
    sdp: str
    persona: str | None = None
    session: dict[str, Any] | None = None


def check_sdp(sdp: str) -> None:
    """Raise OfferError unless `sdp` is an SDP offer with an audio section."""
    if not sdp.strip():
        raise OfferError("missing_offer", "the request holds no SDP offer")
    if not sdp.lstrip().startswith("v=0"):
        raise OfferError("invalid_sdp", "the offer is not SDP: it must start with 'v=0'")
    try:
        parsed = SessionDescription.parse(sdp)
    except Exception as exc:  # aiortc's parser fails in many ways on malformed text
        raise OfferError("invalid_sdp", f"the SDP offer cannot be parsed: {exc!r}") from None
    audio = [m for m in parsed.media if m.kind == "audio"]
    if not audio:
        raise OfferError(
            "no_audio_in_offer",
            "the offer has no audio section: add an audio transceiver (sendrecv) before "
            "creating the offer",
        )
    offered = {c.mimeType.lower() for m in audio for c in m.rtp.codecs}
    if not offered & AUDIO_CODECS:
        raise OfferError(
            "no_common_codec",
            f"the offer's audio has no codec this server speaks (offered: "
            f"{', '.join(sorted(offered)) or 'none'}; known: {', '.join(sorted(AUDIO_CODECS))})",
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
    model = query_model
    if model is None and config is not None and isinstance(config.get("model"), str):
        # it names the persona: taken here, so not reported as a field left unhonoured
        model, config = config["model"], {k: v for k, v in config.items() if k != "model"}
    return Offer(sdp, model, config)


def session_patch(config: dict[str, Any] | None, max_bytes: int) -> rt.SessionConfigPatch | None:
    """Validate a session config the way `session.update` does."""
    if config is None:
        return None
    try:
        return parse_session(config, max_bytes)
    except rt.ProtocolError as exc:
        where = f" ({exc.param})" if exc.param else ""
        raise OfferError("invalid_session", f"session{where}: {exc.message}") from None


async def read_offer(request: Request, max_bytes: int) -> Offer:
    kind = request.headers.get("content-type", "").split(";")[0].strip().lower()
    model = request.query_params.get("model")
    if kind == "multipart/form-data":
        try:
            form = await request.form(max_files=2, max_fields=8, max_part_size=max_bytes)
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
