"""An executor that knows how long its current jobs have been running, so readiness can
tell a worker that is busy from one that is stuck."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any


class WatchedExecutor(ThreadPoolExecutor):
    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._running: dict[int, float] = {}
        self._watch_lock = threading.Lock()
        self._next = 0

    def submit(self, fn: Callable[..., Any], /, *args: Any, **kwargs: Any) -> Future[Any]:
        with self._watch_lock:
            self._next += 1
            token = self._next

        def timed() -> Any:
            with self._watch_lock:
                self._running[token] = time.monotonic()
            try:
                return fn(*args, **kwargs)
            finally:
                with self._watch_lock:
                    self._running.pop(token, None)

        return super().submit(timed)

    def busy_for(self) -> float:
        """Seconds the longest-running current job has run (0 when idle)."""
        with self._watch_lock:
            started = min(self._running.values(), default=None)
        return 0.0 if started is None else time.monotonic() - started
