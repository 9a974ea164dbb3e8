"""The server's own settings: where it listens, what it accepts, how it drains."""

from __future__ import annotations

from pathlib import Path

from pydantic import Field

from .personas import Section


class ServerSettings(Section):
    host: str = "127.0.0.1"
    port: int = Field(8000, ge=0, le=65535)
    max_sessions: int = Field(8, ge=1, description="concurrent realtime sessions; more are refused")
    max_message_bytes: int = Field(1 << 20, ge=1024, description="largest client message")
    max_upload_bytes: int = Field(
        25 << 20, ge=1024, description="largest REST request body (audio uploads); larger is 413"
    )
    max_audio_s: float = Field(
        600.0, gt=0, description="longest uploaded audio (decoded) that /listen transcribes"
    )
    input_queue_ms: int = Field(
        2000, ge=100, description="mic audio buffered ahead of the VAD; older audio is dropped"
    )
    allowed_origins: list[str] = Field(
        default_factory=list,
        description="browser origins (scheme://host[:port]) allowed besides the server's own "
        "and localhost; '*' allows any",
    )
    idle_timeout_s: float = Field(
        600.0, gt=0, description="a session that sends nothing for this long is closed"
    )
    drain_s: float = Field(
        10.0, ge=0, description="on SIGTERM, how long replies in progress may go on"
    )
    log_content: bool = Field(False, description="log transcripts and replies (never by default)")
    certfile: Path | None = None
    keyfile: Path | None = None


class WebRtcSettings(Section):
    """WebRTC calls (`POST /v1/realtime/calls`).  With no STUN/TURN server, only host
    candidates are offered: loopback and LAN work offline."""

    max_calls: int = Field(8, ge=1, description="concurrent WebRTC calls; more are refused")
    stun_urls: list[str] = Field(default_factory=list, description="e.g. stun:stun.example:3478")
    turn_urls: list[str] = Field(default_factory=list, description="e.g. turn:turn.example:3478")
    turn_username: str | None = None
    turn_credential: str | None = None
