"""The built-in server tools: `get_time`, and `search_documents` over the knowledge base."""

from __future__ import annotations

import datetime as dt
from collections.abc import Awaitable, Callable
from typing import Any, Protocol
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from .specs import ToolError, ToolSpec

GET_TIME = ToolSpec(
    "get_time",
    "Tells the current time and date (the local clock, or the clock of a time zone).",
    {
        "type": "object",
        "properties": {
            "timezone": {"type": "string", "description": "an IANA zone like Europe/Paris"}
        },
    },
    where="server",
)
SEARCH_DOCUMENTS = ToolSpec(
    "search_documents",
    "Searches the documents you were given and returns the passages that answer a question, "
    "with their titles.",
    {
        "type": "object",
        "properties": {"query": {"type": "string", "description": "what to look up"}},
        "required": ["query"],
    },
    where="server",
)


class Searchable(Protocol):
    async def search(self, query: str, k: int | None = None) -> list[Any]: ...


Run = Callable[[dict[str, Any]], Awaitable[str]]


def get_time(now: Callable[[], dt.datetime] = lambda: dt.datetime.now().astimezone()) -> Run:
    async def run(args: dict[str, Any]) -> str:
        moment = now()
        zone = args.get("timezone")
        if zone:
            try:
                moment = moment.astimezone(ZoneInfo(str(zone)))
            except (ZoneInfoNotFoundError, ValueError):
                raise ToolError(f"unknown time zone {str(zone)[:60]!r}") from None
        hour = moment.strftime("%I").lstrip("0") or "12"
        clock = f"{hour}:{moment:%M} {moment:%p}"
        return f"It is {clock} on {moment:%A}, {moment.day} {moment:%B %Y} ({moment:%Z})."

    return run


def search_documents(knowledge: Searchable) -> Run:
    async def run(args: dict[str, Any]) -> str:
        query = str(args.get("query") or "").strip()
        if not query:
            raise ToolError("search_documents needs a query")
        passages = await knowledge.search(query)
        if not passages:
            return "Nothing in the documents answers that."
        return "\n\n".join(f"[{p.title}, {p.locator}] {p.text}" for p in passages)

    return run
