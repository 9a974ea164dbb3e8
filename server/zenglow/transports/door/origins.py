"""Which browser origins may talk to the server (pure).

Allowed: the server's own origin (the `Origin` names the host the request was sent to),
any loopback origin, and `server.allowed_origins`.  Requests without an `Origin` header do
not come from a browser page and pass.  With auth off, the `Host` header must also be an
address, a loopback name or a configured origin's host, so that a web page whose domain
re-resolves to this machine (DNS rebinding) cannot use it as its own origin; names of
the local network (one label, `.local`, `.lan`, `.internal`, `.home.arpa`) pass too.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable
from urllib.parse import urlsplit

DEFAULT_PORTS = {"http": 80, "https": 443, "ws": 80, "wss": 443}
LOOPBACK_NAMES = frozenset({"localhost", "localhost.localdomain"})
# Names that only a local network resolves: a public web page cannot borrow them.
LOCAL_SUFFIXES = (".local", ".lan", ".internal", ".home.arpa")


def normalize(origin: str) -> str | None:
    """`scheme://host[:port]` in lower case with the default port left out, or None."""
    try:
        parts = urlsplit(origin.strip())
        port = parts.port
    except ValueError:
        return None
    scheme, host = parts.scheme.lower(), (parts.hostname or "").lower()
    if scheme not in ("http", "https") or not host or parts.path not in ("", "/"):
        return None
    if ":" in host:
        host = f"[{host}]"
    if port is None or port == DEFAULT_PORTS[scheme]:
        return f"{scheme}://{host}"
    return f"{scheme}://{host}:{port}"


def split_host(host: str) -> tuple[str, int | None]:
    """A Host header -> (name, port)."""
    try:
        parts = urlsplit("//" + host.strip())
        return (parts.hostname or "").lower(), parts.port
    except ValueError:
        return "", None


def is_loopback(name: str) -> bool:
    name = name.strip("[]").lower()
    if name in LOOPBACK_NAMES or name.endswith(".localhost"):
        return True
    try:
        return ipaddress.ip_address(name).is_loopback
    except ValueError:
        return False


def is_address(name: str) -> bool:
    try:
        ipaddress.ip_address(name.strip("[]"))
        return True
    except ValueError:
        return False


class OriginPolicy:
    def __init__(self, allowed: Iterable[str] = ()) -> None:
        allowed = list(allowed)
        self.any = "*" in allowed
        self.allowed = {n for a in allowed if a != "*" and (n := normalize(a)) is not None}
        self.hosts = {split_host(urlsplit(a).netloc)[0] for a in self.allowed}

    def allows(self, origin: str | None, host: str | None) -> bool:
        if origin is None:
            return True
        if self.any:
            return True
        norm = normalize(origin)
        if norm is None:  # "null" (a file or a sandboxed frame) or garbage
            return False
        if norm in self.allowed:
            return True
        name, port = split_host(urlsplit(norm).netloc)
        if is_loopback(name):
            return True
        if host:
            scheme = urlsplit(norm).scheme
            hname, hport = split_host(host)
            default = DEFAULT_PORTS[scheme]
            return name == hname and (port or default) == (hport or default)
        return False

    def host_allowed(self, host: str | None) -> bool:
        """For a server with auth off: a Host that names this machine, not a borrowed domain."""
        if self.any or not host:
            return True
        name, _ = split_host(host)
        local = "." not in name or name.endswith(LOCAL_SUFFIXES)
        return is_loopback(name) or is_address(name) or local or name in self.hosts
