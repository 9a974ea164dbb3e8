"""Who may use the server, and how much one client may ask of it."""

from __future__ import annotations

from pathlib import Path

from pydantic import Field, SecretStr, field_validator

from .personas import Section

MIN_KEY_CHARS = 16


class AuthSettings(Section):
    """API keys.  With any key configured, every route but `/health` and `/ready` (and the
    static pages, which hold no data) needs one; see the README's Security section."""

    api_keys: list[SecretStr] = Field(
        default_factory=list, description="accepted keys (env: a JSON list)"
    )
    api_keys_file: Path | None = Field(
        None, description="a file of further keys, one a line ('#' starts a comment)"
    )
    metrics_key: SecretStr | None = Field(
        None, description="a key that may read /metrics only (API keys may read it too)"
    )
    allow_anonymous: bool = Field(
        False, description="serve a non-loopback address with no key: anyone who reaches it"
    )
    client_secret_ttl_s: int = Field(
        600, ge=10, le=7200, description="default lifetime of an ephemeral client secret"
    )

    @field_validator("api_keys")
    @classmethod
    def _long_enough(cls, keys: list[SecretStr]) -> list[SecretStr]:
        for key in keys:
            check_key(key.get_secret_value())
        return keys

    @field_validator("metrics_key")
    @classmethod
    def _metrics_key(cls, key: SecretStr | None) -> SecretStr | None:
        if key is None or not key.get_secret_value().strip():
            return None  # an empty variable means none
        check_key(key.get_secret_value())
        return key


def check_key(key: str) -> str:
    key = key.strip()
    if len(key) < MIN_KEY_CHARS or any(c.isspace() for c in key):
        raise ValueError(
            f"an API key needs at least {MIN_KEY_CHARS} characters and no spaces "
            "(e.g. `python -c 'import secrets; print(secrets.token_urlsafe(32))'`)"
        )
    return key


class LimitSettings(Section):
    """Per-client limits: per API key when keys are on, else per client address."""

    sessions_per_client: int = Field(4, ge=1, description="live sessions and calls per client")
    events_per_s: float = Field(200.0, gt=0, description="Realtime client events per second")
    audio_speedup: float = Field(
        4.0, ge=1.0, description="audio may be appended at most this many times real time"
    )
    audio_burst_s: float = Field(10.0, gt=0, description="audio seconds appended at once")
    commits_per_s: float = Field(4.0, gt=0, description="audio commits and responses a second")
    rest_in_flight: int = Field(4, ge=1, description="REST requests in progress per client")
    client_secrets: int = Field(32, ge=1, description="unused client secrets per key")
    max_items: int = Field(2000, ge=10, description="conversation items per session")
    max_item_chars: int = Field(
        2_000_000, ge=10_000, description="characters of text in one session's items"
    )
