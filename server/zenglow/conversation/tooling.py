"""Function calling within a reply: the tool rounds a Turn runs before it speaks.

Each round asks the chat model which tools to call (`engines/tool_calls.plan`).  Calls to a
client's functions are announced as `function_call` items and end the response: the client
runs them and answers with `function_call_output` items and a new `response.create`.  Calls
to server tools (built-in, MCP) run here, bounded by the tool budgets, while the state is
`working`; one slower than `tools.filler_after_ms` gets a short spoken filler line, a failed
one a spoken apology, and the model is told every result before it answers.
"""

from __future__ import annotations

import asyncio
import logging
import random
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

from ..engines.base import ChatMessage, EngineError
from ..engines.tool_calls import can_call_tools, plan
from ..tools.specs import Exchange, ToolCall, ToolSpec, forced
from .context import SessionContext, SessionError
from .events import FunctionCallAdded, FunctionCallDone, Item, MessageStarted, ToolRan

log = logging.getLogger(__name__)

Message = dict[str, Any]
Say = Callable[[str], Awaitable[None]]


class Turn(Protocol):
    """What the rounds read and set of the Turn they run in."""

    response_id: str
    item_id: str
    persona: str
    messages: Sequence[ChatMessage]
    chat: Any
    max_tokens: int | None
    working: bool

    @property
    def audio(self) -> bool: ...


# --- the conversation's function items as chat messages -----------------------------------


def chat_messages(items: Sequence[Item]) -> list[Message]:
    """Items as chat messages in OpenAI's shape: function calls as an assistant turn's
    `tool_calls`, their outputs as `tool` turns."""
    out: list[Message] = []
    for item in items:
        if item.kind == "function_call":
            call = _tool_call(item.call_id or "", item.name or "", item.text)
            if out and out[-1].get("tool_calls") and not out[-1]["content"]:
                out[-1]["tool_calls"].append(call)
            else:
                out.append({"role": "assistant", "content": "", "tool_calls": [call]})
        elif item.kind == "function_call_output":
            out.append({"role": "tool", "tool_call_id": item.call_id, "content": item.text})
        elif item.text.strip():
            out.append({"role": item.role, "content": item.text})
    return out


def _tool_call(call_id: str, name: str, arguments: str) -> Message:
    return {"id": call_id, "type": "function", "function": {"name": name, "arguments": arguments}}


def plain(messages: Sequence[Message]) -> list[ChatMessage]:
    """Messages any chat model reads: each function result as a system line that names it
    (calls without text are left out)."""
    names: dict[str, str] = {}
    out: list[ChatMessage] = []
    for m in messages:
        for call in m.get("tool_calls") or ():
            names[call["id"]] = call["function"]["name"]
        if m["role"] == "tool":
            name = names.get(m.get("tool_call_id") or "", "the function")
            text = f"The function {name} returned: {m['content']}"
            out.append({"role": "system", "content": text})
        elif m.get("content"):
            out.append({"role": m["role"], "content": m["content"]})
    return out


def function_item(
    ctx: SessionContext, kind: str, call_id: str, text: str, name: str | None, item_id: str | None
) -> Item:
    """A client's `function_call` or `function_call_output` item, checked."""
    calls = {i.call_id: i for i in ctx.items if i.kind == "function_call"}
    if kind == "function_call_output":
        call = calls.get(call_id)
        if call is None:
            raise SessionError(
                "invalid_value",
                f"no function call with call_id {call_id!r} in this conversation",
                "item.call_id",
            )
        if any(i.kind == "function_call_output" and i.call_id == call_id for i in ctx.items):
            raise SessionError(
                "invalid_value", f"call {call_id!r} already has its output", "item.call_id"
            )
        return Item(
            item_id or ctx.new_id("item"), "user", text, kind, call_id=call_id, name=call.name
        )  # type: ignore[arg-type]
    if call_id in calls:
        raise SessionError("invalid_value", f"call_id {call_id!r} is already used", "item.call_id")
    return Item(item_id or ctx.new_id("item"), "assistant", text, kind, call_id=call_id, name=name)  # type: ignore[arg-type]


# --- a reply's tool rounds ------------------------------------------------------------------


@dataclass(eq=False)
class ToolRounds:
    ctx: SessionContext
    client_tools: tuple[ToolSpec, ...]
    choice: str
    offered: list[ToolSpec] = field(default_factory=list)
    calls: list[Item] = field(default_factory=list)  # client calls announced, in order
    message_open: bool = False

    @property
    def lazy(self) -> bool:
        """The response was announced without its message item: it opens when text comes."""
        return bool(self.offered)

    def prepare(self, turn: Turn) -> bool:
        """Work out the tools the turn's persona is offered; whether any round will run.
        A reply the documents decide (grounded, or a canned "not found") calls none."""
        persona = turn.persona
        if getattr(turn, "lead", None) is not None or not can_call_tools(turn.chat):
            self.offered = []
            return False
        server = self.ctx.engines.tools
        names = {t.name for t in self.client_tools}
        offered = list(self.client_tools)
        if server is not None:
            persona_tools = self.ctx.engines.settings.persona(persona).tools
            offered += [t for t in server.for_persona(persona_tools) if t.name not in names]
        self.offered = offered if self.choice != "none" else []
        return bool(self.offered)

    async def run(self, turn: Turn, say: Say) -> str | None:
        """Run the rounds; returns the reply's text when the model gave it with its choice,
        "" when the response ends with the client's calls, None when the reply is to be
        generated.  `turn.messages` then hold every result."""
        name = forced(self.choice)
        if name and name not in {t.name for t in self.offered}:
            raise EngineError(f"tool_choice names {name!r}, which is not a tool of this session")
        messages: list[Message] = list(turn.messages)  # type: ignore[arg-type]
        rounds = self.ctx.engines.settings.tools.max_rounds
        choice = self.choice
        for _ in range(rounds):
            found = await plan(
                turn.chat, messages, self.offered, choice, max_tokens=turn.max_tokens
            )
            if not found.calls:
                turn.messages = messages  # type: ignore[assignment]
                return found.text or None  # (said nothing: the reply is generated)
            client = {t.name for t in self.client_tools}
            mine = [c for c in found.calls if c.name in client]
            theirs = [c for c in found.calls if c.name not in client]
            if found.text:  # said before the calls: the message item comes first
                await say(found.text)
                if self.lazy and not self.message_open:
                    await self.open_message(turn)
            exchanges = await self._run_server(turn, theirs, say) if theirs else []
            if mine:
                await self._announce(turn, mine)
                return ""
            messages += _exchange_messages(exchanges)
            choice = "auto"  # a forced call is made once; then the model answers
        turn.messages = messages  # type: ignore[assignment]
        return None

    async def _announce(self, turn: Turn, calls: Sequence[ToolCall]) -> None:
        for call in calls:
            ctx = self.ctx
            previous = ctx.items[-1].id if ctx.items else None
            index = len(self.calls) + (1 if self.message_open else 0)
            item = Item(
                ctx.new_id("item"), "assistant", "", "function_call", "in_progress",
                turn.persona, call_id=call.call_id, name=call.name,
            )  # fmt: skip
            await ctx.emit(FunctionCallAdded(turn.response_id, item, previous, index))
            item = Item(
                item.id, "assistant", call.arguments, "function_call", "completed",
                turn.persona, call_id=call.call_id, name=call.name,
            )  # fmt: skip
            ctx.items.append(item)
            self.calls.append(item)
            await ctx.emit(FunctionCallDone(turn.response_id, item, index))

    async def _run_server(self, turn: Turn, calls: Sequence[ToolCall], say: Say) -> list[Exchange]:
        ctx, server = self.ctx, self.ctx.engines.tools
        assert server is not None
        specs = {t.name: t for t in self.offered}
        settings = ctx.engines.settings.tools
        turn.working = True
        await ctx.set_state("working")
        for c in calls:
            await ctx.emit(ToolRan(turn.response_id, c.call_id, c.name, "running"))
        runs = asyncio.ensure_future(
            asyncio.gather(*(server.run(c, specs.get(c.name)) for c in calls))
        )
        try:
            done, _ = await asyncio.wait([runs], timeout=settings.filler_after_ms / 1000)
            if not done and settings.filler_lines:
                await say(random.choice(settings.filler_lines))
            exchanges: list[Exchange] = await runs
        finally:
            runs.cancel()
            turn.working = False
        for e in exchanges:
            status = "completed" if e.ok else "failed"
            await ctx.emit(ToolRan(turn.response_id, e.call.call_id, e.call.name, status, e.output))
        await ctx.set_state("thinking")
        failed = [e.call.name.replace("_", " ") for e in exchanges if not e.ok]
        if failed:
            await say(f"Sorry, {' and '.join(failed)} did not work just now.")
        return exchanges

    async def open_message(self, turn: Turn) -> None:
        """The reply's message item starts (after any calls)."""
        ctx = self.ctx
        previous = ctx.items[-1].id if ctx.items else None
        kind = "audio" if turn.audio else "text"
        ctx.items.append(
            Item(turn.item_id, "assistant", "", kind, "in_progress", persona=turn.persona)
        )
        self.message_open = True
        await ctx.emit(MessageStarted(turn.response_id, turn.item_id, previous, len(self.calls)))


def _exchange_messages(exchanges: Sequence[Exchange]) -> list[Message]:
    if not exchanges:
        return []
    calls = [_tool_call(e.call.call_id, e.call.name, e.call.arguments) for e in exchanges]
    results = [
        {"role": "tool", "tool_call_id": e.call.call_id, "content": e.output} for e in exchanges
    ]
    return [{"role": "assistant", "content": "", "tool_calls": calls}, *results]


def may_call(ctx: SessionContext) -> bool:
    """Whether a reply of this session may call tools (then it is never prepared early:
    a tool must not run for a turn the user is not done with)."""
    config, server = ctx.config, ctx.engines.tools
    if config.tool_choice == "none":
        return False
    personas = ctx.engines.settings.personas.values()
    return bool(config.tools) or (server is not None and any(p.tools for p in personas))
