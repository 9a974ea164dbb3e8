"""`ServerTools`: the tools the server runs itself, which persona may use which, and the
budgets of every run (time, result size).  Built once per process, shared by all sessions.

A tool that fails, times out or is unknown gives an `Exchange` with `ok=False` whose output
says what went wrong: the model is told, and answers the user accordingly.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Sequence

from ..settings.tools import ToolSettings
from .builtin import GET_TIME, SEARCH_DOCUMENTS, Run, Searchable, get_time, search_documents
from .mcp_servers import McpServer
from .specs import Exchange, ToolCall, ToolError, ToolSpec, arguments_problem

log = logging.getLogger(__name__)

BUILT_IN = ("get_time", "search_documents")


class ServerTools:
    def __init__(self, settings: ToolSettings, *, knowledge: Searchable | None = None) -> None:
        self.settings = settings
        self.builtin: dict[str, tuple[ToolSpec, Run]] = {"get_time": (GET_TIME, get_time())}
        if knowledge is not None:
            self.use_knowledge(knowledge)
        self.servers = {n: McpServer(n, s) for n, s in settings.mcp_servers.items()}
        self._tasks: list[asyncio.Task[None]] = []

    def use_knowledge(self, knowledge: Searchable) -> None:
        """Offer `search_documents` over this knowledge base."""
        self.builtin["search_documents"] = (SEARCH_DOCUMENTS, search_documents(knowledge))

    def add(self, spec: ToolSpec, run: Run) -> None:
        """Offer another server-side tool (by name in a persona's `tools`)."""
        self.builtin[spec.name] = (spec, run)

    # --- lifecycle ---------------------------------------------------------------------

    async def start(self, wait_s: float = 5.0) -> None:
        """Connect to the MCP servers (in the background; waits a little for their tools)."""
        if self._tasks or not self.servers:
            return
        for server in self.servers.values():
            task = asyncio.get_running_loop().create_task(server.connection_loop())
            task.set_name(f"mcp {server.name}")
            self._tasks.append(task)
        await asyncio.gather(*(s.wait_listed(wait_s) for s in self.servers.values()))

    async def aclose(self) -> None:
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(BaseException):
                await task
        self._tasks.clear()

    # --- what a persona may use --------------------------------------------------------

    def for_persona(self, names: Sequence[str]) -> list[ToolSpec]:
        """The tools a persona's `tools` list names, as far as they are there now."""
        found: dict[str, ToolSpec] = {}
        for entry in names:
            if entry in self.builtin:
                found.setdefault(entry, self.builtin[entry][0])
            elif entry == "mcp" or entry.startswith("mcp:"):
                wanted = entry.partition(":")[2]
                for server in self.servers.values():
                    if not wanted or wanted == server.name:
                        for spec in server.tools.values():
                            found.setdefault(spec.name, spec)
            else:
                for server in self.servers.values():
                    if entry in server.tools:
                        found.setdefault(entry, server.tools[entry])
        return list(found.values())

    # --- running -----------------------------------------------------------------------

    async def run(self, call: ToolCall, spec: ToolSpec | None) -> Exchange:
        """Run one call within the budgets; never raises (but for cancellation)."""
        s = self.settings
        try:
            if spec is None:
                raise ToolError(f"there is no tool named {call.name!r}")
            problem = arguments_problem(spec, call.arguments)
            if problem:
                raise ToolError(f"{call.name}: {problem}")
            async with asyncio.timeout(s.timeout_s):
                output = await self._run(call, s.timeout_s)
        except TimeoutError:
            log.warning("tool %s took longer than %g s", call.name, s.timeout_s)
            return Exchange(call, f"{call.name} did not answer within {s.timeout_s:g} s", False)
        except ToolError as exc:
            log.warning("tool %s failed: %s", call.name, exc)
            return Exchange(call, f"{call.name} failed: {exc}", False)
        except Exception as exc:
            log.error("tool %s raised", call.name, exc_info=exc)
            return Exchange(call, f"{call.name} failed: {type(exc).__name__}: {exc}"[:300], False)
        if len(output) > s.max_result_chars:
            output = output[: s.max_result_chars] + " [cut: the result was too long]"
        return Exchange(call, output)

    async def _run(self, call: ToolCall, timeout_s: float) -> str:
        args = call.args()
        if call.name in self.builtin:
            return await self.builtin[call.name][1](args)
        for server in self.servers.values():
            if call.name in server.tools:
                return await server.call(call.name, args, timeout_s)
        raise ToolError(f"there is no tool named {call.name!r}")
