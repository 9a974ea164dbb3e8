"""API keys and ephemeral client secrets (pure but for the key file)."""

from __future__ import annotations

import hashlib
import hmac
import secrets
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from ...settings import AuthSettings
from ...settings.security import check_key

SECRET_PREFIX = "ek_"
Kind = Literal["key", "client_secret", "metrics", "anonymous"]


class AuthError(Exception):
    """A credential that does not open this door; `status` is the HTTP status to answer."""

    def __init__(self, code: str, message: str, status: int = 401) -> None:
        super().__init__(message)
        self.code, self.message, self.status = code, message, status


def key_id(key: str) -> str:
    """A key's public name: conversations and limits are kept under it, never the key."""
    return "key_" + hashlib.sha256(key.encode()).hexdigest()[:16]


@dataclass(frozen=True, slots=True)
class ClientSecret:
    value: str
    owner: str  # the key id that asked for it
    expires_at: float  # unix seconds
    session: dict[str, Any] | None = None  # the session config it opens


@dataclass(frozen=True, slots=True)
class Principal:
    """Who is calling: `owner` is the key id (a client secret's key's), or 'server' with
    auth off; `client` is what per-client limits count against."""

    kind: Kind
    owner: str
    client: str
    secret: ClientSecret | None = None


def read_key_file(path: Path) -> list[str]:
    try:
        lines = path.read_text().splitlines()
    except OSError as exc:
        raise ValueError(f"auth.api_keys_file: cannot read {path}: {exc.strerror}") from None
    keys = []
    for n, line in enumerate(lines, 1):
        line = line.split("#", 1)[0].strip()
        if line:
            try:
                keys.append(check_key(line))
            except ValueError as exc:
                raise ValueError(f"auth.api_keys_file: line {n}: {exc}") from None
    return keys


class KeyRing:
    """The configured keys, compared in constant time."""

    def __init__(self, keys: Iterable[str], metrics_key: str | None = None) -> None:
        self._keys = {hashlib.sha256(k.encode()).digest(): key_id(k) for k in keys}
        self._metrics = hashlib.sha256(metrics_key.encode()).digest() if metrics_key else None

    @classmethod
    def from_settings(cls, auth: AuthSettings) -> KeyRing:
        keys = [k.get_secret_value() for k in auth.api_keys]
        if auth.api_keys_file is not None:
            keys += read_key_file(auth.api_keys_file)
        metrics = auth.metrics_key.get_secret_value() if auth.metrics_key else None
        return cls(keys, metrics)

    @property
    def enabled(self) -> bool:
        return bool(self._keys)

    def identify(self, token: str) -> str | None:
        """The key id of an API key, or None."""
        digest = hashlib.sha256(token.encode()).digest()
        for known, name in self._keys.items():
            if hmac.compare_digest(known, digest):
                return name
        return None

    def is_metrics_key(self, token: str) -> bool:
        digest = hashlib.sha256(token.encode()).digest()
        return self._metrics is not None and hmac.compare_digest(self._metrics, digest)


@dataclass
class ClientSecrets:
    """Unused client secrets, each good for one Realtime session until it expires."""

    per_owner: int
    clock: Callable[[], float] = time.time
    _live: dict[str, ClientSecret] = field(default_factory=dict)

    def issue(self, owner: str, ttl_s: float, session: dict[str, Any] | None) -> ClientSecret:
        self._purge()
        if sum(1 for s in self._live.values() if s.owner == owner) >= self.per_owner:
            raise AuthError(
                "rate_limit_exceeded",
                f"this key holds {self.per_owner} unused client secrets; use or let them expire",
                429,
            )
        value = SECRET_PREFIX + secrets.token_urlsafe(24)
        secret = ClientSecret(value, owner, round(self.clock() + ttl_s), session)
        self._live[value] = secret
        return secret

    def check(self, value: str) -> ClientSecret:
        """The live secret `value` names (not yet used), else AuthError."""
        secret = self._live.get(value)
        if secret is None:
            raise AuthError("invalid_client_secret", "unknown or already used client secret")
        if secret.expires_at <= self.clock():
            del self._live[value]
            raise AuthError("client_secret_expired", "the client secret has expired")
        return secret

    def redeem(self, value: str) -> ClientSecret:
        """Use the secret up: a second session cannot open with it."""
        secret = self.check(value)
        del self._live[value]
        return secret

    def _purge(self) -> None:
        now = self.clock()
        for value in [v for v, s in self._live.items() if s.expires_at <= now]:
            del self._live[value]

    def __len__(self) -> int:
        self._purge()
        return len(self._live)
