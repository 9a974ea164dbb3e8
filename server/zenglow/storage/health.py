"""Whether the server is persisting conversations: one flag for all sessions, with the last
failure, read by `/ready` and kept in the metrics through the hooks it is handed."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable

log = logging.getLogger(__name__)


class StoreHealth:
    def __init__(
        self,
        on_change: Callable[[bool], None] = lambda _ok: None,
        on_write: Callable[[float, bool], None] = lambda _s, _ok: None,
    ) -> None:
        self.persisting = True
        self.error: str | None = None
        self.failed_at: float | None = None
        self._on_change, self._on_write = on_change, on_write

    def wrote(self, seconds: float) -> None:
        self._on_write(seconds, True)
        if not self.persisting:
            self.persisting, self.error = True, None
            self._on_change(True)

    def failed(self, message: str) -> None:
        self._on_write(0.0, False)
        self.error, self.failed_at = message, time.time()
        if self.persisting:
            self.persisting = False
            self._on_change(False)

    def detail(self) -> dict[str, object]:
        body: dict[str, object] = {"persisting": self.persisting}
        if self.error:
            body["error"] = self.error
        return body
