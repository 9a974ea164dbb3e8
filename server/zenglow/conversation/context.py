"""What the halves of a session share: its engines, config, items, tasks and state.

`SessionContext` knows nothing of listening or replying, so both halves take one without
importing each other or the Session: `Listening` drives `Replies`, and `Replies` reads what
it needs of the user's side from `UserTurns`.
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import time
import uuid
from collections.abc import Awaitable, Callable, Coroutine
from typing import Any

from ..engines.loader import Engines
from .events import ErrorRaised, Item, ItemAdded, SessionConfig, SessionEvent, State, StateChanged

log = logging.getLogger(__name__)


class SessionError(Exception):
    """A client command that cannot be carried out; becomes an `error` event."""

    def __init__(self, code: str, message: str, param: str | None = None) -> None:
        super().__init__(message)
        self.code, self.message, self.param = code, message, param


def new_id(prefix: str) -> str:
    return f"{prefix}_{uuid.uuid4().hex[:20]}"


@dataclasses.dataclass(eq=False)
class UserTurns:
    """The user's side, as the replying half sees it: kept by `Listening`."""

    utterance: object | None = None  # the utterance being heard, if the user is speaking
    pending: set[asyncio.Task[None]] = dataclasses.field(default_factory=set)  # transcripts
    # wall times of the last turn: its pause began, its end was confirmed, it was transcribed
    times: tuple[float | None, float | None, float | None] = (None, None, None)

    @property
    def speaking(self) -> bool:
        return self.utterance is not None

    async def settled(self) -> None:
        """Wait until every committed user turn has its transcript."""
        while self.pending:
            await asyncio.wait(list(self.pending))


class SessionContext:
    def __init__(
        self,
        engines: Engines,
        emit: Callable[[SessionEvent], Awaitable[None]],
        config: SessionConfig,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.engines = engines
        self.emit = emit
        self.config = config
        self.clock = clock
        self.items: list[Item] = []
        self.user = UserTurns()
        self.tasks: set[asyncio.Task[None]] = set()
        self._state: State | None = None

    new_id = staticmethod(new_id)

    # --- tasks and state ---------------------------------------------------------------

    def spawn(self, coro: Coroutine[Any, Any, None], name: str) -> asyncio.Task[None]:
        task = asyncio.ensure_future(coro)
        task.set_name(name)
        self.tasks.add(task)
        task.add_done_callback(self._task_done)
        return task

    def _task_done(self, task: asyncio.Task[None]) -> None:
        self.tasks.discard(task)
        if not task.cancelled() and task.exception() is not None:
            log.error(
                "session %s: %s failed", self.config.id, task.get_name(), exc_info=task.exception()
            )

    async def set_state(self, state: State) -> None:
        if state != self._state:
            self._state = state
            await self.emit(StateChanged(state))

    async def error(
        self,
        code: str,
        message: str,
        event_id: str | None = None,
        param: str | None = None,
        kind: str = "invalid_request_error",
    ) -> None:
        await self.emit(ErrorRaised(code, message, event_id, param, kind))

    # --- items -------------------------------------------------------------------------

    def find(self, item_id: str) -> int:
        for i, item in enumerate(self.items):
            if item.id == item_id:
                return i
        raise SessionError("item_not_found", f"no item with id {item_id!r}", "item_id")

    def set_item_text(self, item_id: str, text: str, status: str = "completed") -> None:
        for i, item in enumerate(self.items):
            if item.id == item_id:
                self.items[i] = dataclasses.replace(item, text=text, status=status)  # type: ignore[arg-type]

    async def append_item(self, item: Item) -> None:
        previous = self.items[-1].id if self.items else None
        self.items.append(item)
        await self.emit(ItemAdded(item, previous))
