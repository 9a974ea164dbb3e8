"""Function calling on every chat backend: `plan()` asks a chat model which tools to call.

- Ollama: the native `tools` of `/api/chat` (models whose template has tools).
- OpenAI-compatible servers: `tools` and `tool_choice` of `/v1/chat/completions`.
- The embedded model: `tools/choosing.py` picks the tool (or none, under `auto`) and
  llama.cpp writes the arguments under a grammar made from the function's JSON Schema, so
  they are always valid for it.

`messages` are chat messages in OpenAI's shape, where an assistant turn may carry
`tool_calls` and a `tool` turn answers one.  Every failure is an `EngineError` that says what
to do; a model that cannot call tools says so.
"""

from __future__ import annotations

import asyncio
import json
import logging
import secrets
from collections.abc import Sequence
from typing import Any

import httpx
import ollama

from ..tools.choosing import choose
from ..tools.specs import Plan, ToolCall, ToolSpec, arguments_problem, forced
from .base import EngineError
from .endpoint import failure_kind
from .llamacpp import LlamaCppChat
from .ollama import OllamaChat
from .openai_compat import OpenAICompatChat, error_text
from .pool import ChatPool, NoEndpointError

log = logging.getLogger(__name__)

Message = dict[str, Any]
_DOWN = ("unreachable", "timeout", "model_missing")  # the fallback persona's model chooses
ARGUMENT_TOKENS = 200  # the most the embedded model may write for one call's arguments
_EXAMPLE = (
    "Function: set_alarm (Sets an alarm clock.)\n"
    'Parameters: {"type": "object", "properties": {"hour": {"type": "integer"}, '
    '"minute": {"type": "integer"}}}\n'
    "User: Please wake me up at 7:30.\n"
    'Arguments: {"hour": 7, "minute": 30}\n'
)


def new_call_id() -> str:
    return f"call_{secrets.token_hex(8)}"


def can_call_tools(chat: Any) -> bool:
    """Whether `plan` can ask this chat model (a pool of endpoints, or one adapter)."""
    return isinstance(chat, ChatPool | LlamaCppChat | OllamaChat | OpenAICompatChat)


async def plan(
    chat: Any,
    messages: Sequence[Message],
    tools: Sequence[ToolSpec],
    choice: str,
    *,
    max_tokens: int | None = None,
) -> Plan:
    """The model's choice: calls (with arguments valid for their schema), or its answer."""
    if not tools or choice == "none":
        return Plan()
    if isinstance(chat, ChatPool):
        try:
            async with chat.lease() as endpoint:
                return await plan(endpoint, messages, tools, choice, max_tokens=max_tokens)
        except EngineError as exc:
            down = isinstance(exc, NoEndpointError) or failure_kind(exc) in _DOWN
            if chat.fallback is None or not down:
                raise
            log.warning("choosing tools on %s failed (%s): %s chooses", chat.name, exc,
                        chat.fallback.name)  # fmt: skip
            return await plan(chat.fallback, messages, tools, choice, max_tokens=max_tokens)
    if isinstance(chat, LlamaCppChat):
        found = await _embedded(chat, messages, tools, choice)
    elif isinstance(chat, OllamaChat):
        found = await _ollama(chat, messages, tools, choice, max_tokens)
    elif isinstance(chat, OpenAICompatChat):
        found = await _openai(chat, messages, tools, choice, max_tokens)
    else:
        name = getattr(chat, "name", type(chat).__name__)
        raise EngineError(f"the chat model {name} cannot call tools")
    return _checked(found, tools, choice, getattr(chat, "name", "the model"))


def _checked(found: Plan, tools: Sequence[ToolSpec], choice: str, model: str) -> Plan:
    by_name = {t.name: t for t in tools}
    for call in found.calls:
        spec = by_name.get(call.name)
        if spec is None:
            raise EngineError(f"{model} called {call.name!r}, which is not one of its tools")
        problem = arguments_problem(spec, call.arguments)
        if problem:
            raise EngineError(f"{model} called {call.name} wrongly: {problem}")
    name = forced(choice)
    if (choice == "required" or name) and not found.calls:
        wanted = name or "a tool"
        raise EngineError(f"{model} did not call {wanted} though tool_choice asked it to")
    return found


def _last_user(messages: Sequence[Message]) -> str:
    for m in reversed(messages):
        if m.get("role") == "tool":
            return ""  # a result came in since: the model answers now
        if m.get("role") == "user":
            return str(m.get("content") or "")
    return ""


def _instruction(tools: Sequence[ToolSpec], choice: str) -> list[Message]:
    name = forced(choice)
    if name:
        return [{"role": "system", "content": f"Call the function {name} now."}]
    if choice == "required":
        return [{"role": "system", "content": "Call one of the functions now."}]
    return []


# --- the embedded model ------------------------------------------------------------------


async def _embedded(
    chat: LlamaCppChat, messages: Sequence[Message], tools: Sequence[ToolSpec], choice: str
) -> Plan:
    request = _last_user(messages)
    if not request and not forced(choice) and choice != "required":
        return Plan()  # answering a tool's result: no further call
    spec = choose(request, tools, choice)
    if spec is None:
        return Plan()
    prompt = (
        f"{_EXAMPLE}\nFunction: {spec.name} ({spec.description})\n"
        f"Parameters: {json.dumps(spec.parameters)}\nUser: {' '.join(request.split())}\n"
        "Arguments:"
    )
    text = await asyncio.get_running_loop().run_in_executor(
        chat._executor, _generate_arguments, chat, prompt, spec.parameters
    )
    return Plan((ToolCall(new_call_id(), spec.name, text.strip() or "{}"),))


def _generate_arguments(chat: LlamaCppChat, prompt: str, schema: dict[str, Any]) -> str:
    from llama_cpp import LlamaGrammar

    try:
        grammar = LlamaGrammar.from_json_schema(json.dumps(schema), verbose=False)
    except Exception as exc:
        message = f"the embedded model cannot write arguments for this schema: {exc}"
        raise EngineError(message) from exc
    llm = chat.load()
    with chat._lock:
        try:
            out = llm.create_completion(
                prompt, grammar=grammar, max_tokens=ARGUMENT_TOKENS, temperature=0.0
            )
        except (RuntimeError, ValueError) as exc:
            raise EngineError(f"the embedded chat model failed: {exc}") from exc
    return str(out["choices"][0]["text"])  # type: ignore[index]


# --- Ollama ------------------------------------------------------------------------------


def _ollama_messages(messages: Sequence[Message]) -> list[Message]:
    out: list[Message] = []
    names: dict[str, str] = {}
    for m in messages:
        if m.get("tool_calls"):
            calls = []
            for c in m["tool_calls"]:
                names[c["id"]] = c["function"]["name"]
                args = json.loads(c["function"]["arguments"] or "{}")
                calls.append({"function": {"name": c["function"]["name"], "arguments": args}})
            out.append(
                {"role": "assistant", "content": m.get("content") or "", "tool_calls": calls}
            )
        elif m.get("role") == "tool":
            name = names.get(m.get("tool_call_id", ""), "")
            out.append({"role": "tool", "content": m["content"], "tool_name": name})
        else:
            out.append({"role": m["role"], "content": m.get("content") or ""})
    return out


async def _ollama(
    chat: OllamaChat,
    messages: Sequence[Message],
    tools: Sequence[ToolSpec],
    choice: str,
    max_tokens: int | None,
) -> Plan:
    name = forced(choice)
    offered = [t for t in tools if t.name == name] if name else list(tools)
    with chat._errors():
        try:
            response = await chat._client.chat(
                model=chat.model,
                messages=_ollama_messages([*messages, *_instruction(tools, choice)]),
                tools=[t.function() for t in offered],
                stream=False,
                options=chat.request_options(max_tokens) or None,
                keep_alive=chat.keep_alive,
            )
        except ollama.ResponseError as exc:
            if "does not support tools" not in str(exc.error):
                raise
            raise EngineError(
                f"model '{chat.model}' on {chat.host} cannot call tools (its template has "
                "none): use a model with tool support, or no tools"
            ) from exc
    calls = tuple(
        ToolCall(new_call_id(), c.function.name, json.dumps(dict(c.function.arguments or {})))
        for c in response.message.tool_calls or []
    )
    return Plan(calls, response.message.content or ("" if not calls else None))


# --- OpenAI-compatible servers -----------------------------------------------------------


def _openai_choice(choice: str) -> Any:
    name = forced(choice)
    return {"type": "function", "function": {"name": name}} if name else choice


async def _openai(
    chat: OpenAICompatChat,
    messages: Sequence[Message],
    tools: Sequence[ToolSpec],
    choice: str,
    max_tokens: int | None,
) -> Plan:
    body: dict[str, Any] = {
        "model": chat.model,
        "messages": list(messages),
        "tools": [t.function() for t in tools],
        "tool_choice": _openai_choice(choice),
        "stream": False,
        **chat.extra,
    }
    if max_tokens is not None:
        body["max_tokens"] = max_tokens
    if chat.temperature is not None:
        body["temperature"] = chat.temperature
    with chat._errors():
        response = await chat._client.post(f"{chat.url}/chat/completions", json=body)
        if response.status_code != 200:
            chat._raise_status(response.status_code, response.content)
        try:
            message = response.json()["choices"][0]["message"]
        except (KeyError, IndexError, TypeError, ValueError, httpx.DecodingError) as exc:
            text = error_text(response.content)
            raise EngineError(f"{chat.url} sent a malformed tool reply: {text}") from exc
    calls = tuple(
        ToolCall(
            str(c.get("id") or new_call_id()),
            str(c["function"]["name"]),
            str(c["function"].get("arguments") or "{}"),
        )
        for c in message.get("tool_calls") or []
    )
    return Plan(calls, str(message.get("content") or "") or ("" if not calls else None))
