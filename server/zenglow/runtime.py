"""What every route shares: the settings, the engines, readiness and the live sessions.

It lives below the transports (they are handed one) and above the engines; `app.py`
builds it and registers the routes over it.
"""

from __future__ import annotations

from .engines.loader import Engines
from .settings import Settings


class Runtime:
    """What the routes share: the engines, readiness, and the live sessions."""

    def __init__(self, settings: Settings, engines: Engines) -> None:
        self.settings = settings
        self.engines = engines
        self.ready = False
        self.sessions: set[object] = set()
        self.sessions_total = 0
