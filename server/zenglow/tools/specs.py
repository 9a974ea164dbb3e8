"""What function calling exchanges: tool definitions, the model's calls, their results (pure).

A `ToolSpec` is a function the model may call: defined by the Realtime client (it runs
there) or by the server (built-in tools and MCP servers' tools, run here).  `ToolChoice` is
the Realtime `tool_choice`: "auto", "none", "required", or the name of one function.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from typing import Any, Literal

Where = Literal["client", "server"]
NAME = re.compile(r"^[A-Za-z0-9_-]{1,64}$")  # what OpenAI accepts as a function name
MODES = ("auto", "none", "required")


class ToolError(Exception):
    """A tool could not run or gave no usable result; the message is told to the model."""


@dataclass(frozen=True, slots=True)
class ToolSpec:
    name: str
    description: str = ""
    parameters: dict[str, Any] = field(default_factory=lambda: {"type": "object"})
    where: Where = "client"

    def wire(self) -> dict[str, Any]:
        """As the Realtime session object lists a function tool."""
        return {
            "type": "function",
            "name": self.name,
            "description": self.description,
            "parameters": self.parameters,
        }

    def function(self) -> dict[str, Any]:
        """As chat completion APIs (OpenAI, Ollama) take a tool."""
        body = {"name": self.name, "description": self.description}
        return {"type": "function", "function": {**body, "parameters": self.parameters}}


@dataclass(frozen=True, slots=True)
class ToolCall:
    call_id: str
    name: str
    arguments: str  # JSON text of an object

    def args(self) -> dict[str, Any]:
        value = json.loads(self.arguments or "{}")
        if not isinstance(value, dict):
            raise ToolError(f"the arguments of {self.name} are not a JSON object")
        return value


@dataclass(frozen=True, slots=True)
class Exchange:
    """A call the server ran within a response, and what came of it."""

    call: ToolCall
    output: str
    ok: bool = True


@dataclass(frozen=True, slots=True)
class Plan:
    """What the model chose: calls to make, and/or the reply's text (when it answered
    at once, with no call; None when the reply is still to be generated)."""

    calls: tuple[ToolCall, ...] = ()
    text: str | None = None


def schema_problem(schema: Any) -> str | None:
    """Why `schema` cannot be a function's parameters (None when it can)."""
    if not isinstance(schema, dict):
        return "must be a JSON Schema object"
    if schema.get("type", "object") != "object":
        return 'must be a JSON Schema of "type": "object"'
    from jsonschema import Draft202012Validator
    from jsonschema.exceptions import SchemaError

    try:
        Draft202012Validator.check_schema(schema)
    except SchemaError as exc:
        return f"is not a valid JSON Schema: {exc.message}"
    return None


def arguments_problem(spec: ToolSpec, arguments: str) -> str | None:
    """Why `arguments` are not valid for `spec` (None when they are)."""
    try:
        value = json.loads(arguments or "{}")
    except ValueError:
        return "the arguments are not JSON"
    from jsonschema import Draft202012Validator

    errors = sorted(Draft202012Validator(spec.parameters).iter_errors(value), key=str)
    return None if not errors else f"the arguments do not fit the schema: {errors[0].message}"


def forced(choice: str) -> str | None:
    """The function a `tool_choice` names, if it names one."""
    return None if choice in MODES else choice
