"""Function calling through Ollama's native `tools` and an OpenAI-compatible server's
`tools`/`tool_choice` (scripted servers that answer the way the real ones do), the
embedded model's grammar-bound arguments, and models that cannot call tools."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import jsonschema
import pytest

from zenglow.app import create_app
from zenglow.engines.base import EngineError
from zenglow.engines.loader import Engines, build_pools
from zenglow.engines.tool_calls import plan
from zenglow.tools.specs import ToolSpec

from .conftest import engines_with
from .server import LoopbackServer
from .test_tools_sdk import OUTPUT, WEATHER, connect, next_of, until_done, user_says
from .tool_backends import ToolBackend


def served_by(engines: Engines, backend: LoopbackServer, kind: str) -> LoopbackServer:
    url = f"http://127.0.0.1:{backend.port}"
    chat = {"backend": kind, "model": "tooly", "host": url if kind == "ollama" else f"{url}/v1"}
    personas = dict(engines.settings.personas)
    jarvis = personas["jarvis"].model_dump()
    jarvis["chat"] = {**jarvis["chat"], **chat, "endpoints": []}
    personas["jarvis"] = type(personas["jarvis"]).model_validate(jarvis)
    eng = engines_with(engines, personas=personas)
    eng.chats = dict(build_pools(eng.settings, eng.metrics))
    return LoopbackServer(create_app(eng.settings, eng))


@pytest.fixture(params=["ollama", "openai"])
def stack(request: Any, engines: Engines) -> Iterator[tuple[str, ToolBackend, LoopbackServer]]:
    kind = request.param
    fake = ToolBackend([("get_weather", {"city": "Paris"})])
    with LoopbackServer(fake.ollama() if kind == "ollama" else fake.openai()) as backend:
        with served_by(engines, backend, kind) as srv:
            yield kind, fake, srv


async def test_a_forced_call_and_its_output_on_a_served_model(stack: Any) -> None:
    kind, fake, srv = stack
    async with connect(srv.port) as conn:
        await conn.session.update(session={"type": "realtime", "tools": [WEATHER]})
        await conn.conversation.item.create(item=user_says("What's the weather in Paris?"))
        choice = {"type": "function", "name": "get_weather"}
        await conn.response.create(response={"tool_choice": choice})
        events = await until_done(conn)
        [call] = events[-1].response.output
        assert call.type == "function_call" and json.loads(call.arguments) == {"city": "Paris"}
        await conn.conversation.item.create(
            item={"type": "function_call_output", "call_id": call.call_id, "output": OUTPUT}
        )
        await conn.response.create()
        events = await until_done(conn)
        [message] = events[-1].response.output
        assert message.content[0].transcript == f"Here you are: {OUTPUT}"
    asked, answered = [r for r in fake.requests if r.get("tools")][-2:]
    [tool] = asked["tools"]
    assert tool["function"]["name"] == "get_weather"
    sent = tool["function"]["parameters"]  # (Ollama's client keeps only the fields it models)
    assert sent["properties"] == WEATHER["parameters"]["properties"]
    assert sent["required"] == ["city"]
    [result] = [m for m in answered["messages"] if m["role"] == "tool"]
    assert result["content"] == OUTPUT
    if kind == "openai":
        assert asked["tool_choice"] == {"type": "function", "function": {"name": "get_weather"}}
        assert result["tool_call_id"] == call.call_id
        [called] = [m for m in answered["messages"] if m.get("tool_calls")]
        assert called["tool_calls"][0]["function"]["arguments"] == call.arguments
    else:
        assert result["tool_name"] == "get_weather"
        assert "Call the function get_weather now." in json.dumps(asked["messages"])


async def test_a_model_without_tools_says_so(engines: Engines) -> None:
    fake = ToolBackend([], tools=False)
    with LoopbackServer(fake.ollama()) as backend, served_by(engines, backend, "ollama") as srv:
        async with connect(srv.port) as conn:
            await conn.session.update(session={"type": "realtime", "tools": [WEATHER]})
            await conn.conversation.item.create(item=user_says("What's the weather in Paris?"))
            await conn.response.create()
            error = await next_of(conn, "error")
            assert "cannot call tools" in error.error.message
            assert (await next_of(conn, "response.done")).response.status == "failed"


async def test_arguments_that_do_not_fit_the_schema_are_an_error(engines: Engines) -> None:
    fake = ToolBackend([("get_weather", {"city": 3})])
    with LoopbackServer(fake.openai()) as backend, served_by(engines, backend, "openai") as srv:
        async with connect(srv.port) as conn:
            await conn.session.update(session={"type": "realtime", "tools": [WEATHER]})
            await conn.conversation.item.create(item=user_says("What's the weather in Paris?"))
            await conn.response.create(response={"tool_choice": "required"})
            error = await next_of(conn, "error")
            assert "called get_weather wrongly" in error.error.message


ALARM = ToolSpec(
    "set_alarm",
    "Sets an alarm clock.",
    {
        "type": "object",
        "properties": {
            "hour": {"type": "integer", "minimum": 0, "maximum": 23},
            "minute": {"type": "integer", "minimum": 0, "maximum": 59},
            "label": {"type": "string", "maxLength": 20},
        },
        "required": ["hour", "minute"],
        "additionalProperties": False,
    },
)
LIGHTS = ToolSpec(
    "set_lights",
    "Switches the lights of a room on or off.",
    {
        "type": "object",
        "properties": {
            "room": {"type": "string", "enum": ["kitchen", "bedroom", "hall"]},
            "on": {"type": "boolean"},
            "brightness": {"type": "number"},
        },
        "required": ["room", "on"],
    },
)


@pytest.mark.parametrize(
    ("spec", "said"),
    [
        (ALARM, "Wake me up at half past six tomorrow."),
        (LIGHTS, "Switch off the kitchen lights."),
        (LIGHTS, "It is dark in here."),
        (WEATHER_SPEC := ToolSpec("get_weather", "w", WEATHER["parameters"]), "Rain in Oslo?"),
    ],
)
async def test_the_embedded_models_arguments_always_fit_the_schema(
    engines: Engines, spec: ToolSpec, said: str
) -> None:
    messages = [{"role": "user", "content": said}]
    found = await plan(engines.chats["jarvis"], messages, [spec], spec.name)
    [call] = found.calls
    jsonschema.validate(json.loads(call.arguments), spec.parameters)
    assert call.name == spec.name and call.call_id.startswith("call_")


async def test_a_chat_model_with_no_tool_support_says_so() -> None:
    from .fakes import ScriptedChat

    with pytest.raises(EngineError, match="cannot call tools"):
        await plan(ScriptedChat(["hi"]), [{"role": "user", "content": "x"}], [ALARM], "required")


async def test_several_calls_after_speech_has_started(engines: Engines) -> None:
    calls = [("get_weather", {"city": "Paris"}), ("get_weather", {"city": "Rome"})]
    fake = ToolBackend(calls, first="Let me check both cities.")
    with LoopbackServer(fake.ollama()) as backend, served_by(engines, backend, "ollama") as srv:
        async with connect(srv.port) as conn:
            await conn.session.update(session={"type": "realtime", "tools": [WEATHER]})
            await conn.conversation.item.create(item=user_says("Weather in Paris and Rome?"))
            await conn.response.create()
            events = await until_done(conn)
    done = events[-1].response
    assert [o.type for o in done.output] == ["message", "function_call", "function_call"]
    assert done.output[0].content[0].transcript == "Let me check both cities."
    assert [json.loads(o.arguments)["city"] for o in done.output[1:]] == ["Paris", "Rome"]
    assert len({o.call_id for o in done.output[1:]}) == 2
    added = [e for e in events if e.type == "response.output_item.added"]
    added = [(e.item.type, e.output_index) for e in added]
    assert added == [("message", 0), ("function_call", 1), ("function_call", 2)]
    deltas = {e.output_index for e in events if e.type == "response.output_audio.delta"}
    assert deltas == {0}


async def test_a_backend_that_is_down_leaves_the_choice_to_the_fallback(engines: Engines) -> None:
    from .ollama_server import unused_port

    class Nowhere:  # what `served_by` reads of a backend: its port, where nothing listens
        port = unused_port()

    with served_by(engines, Nowhere(), "ollama") as srv:  # type: ignore[arg-type]
        async with connect(srv.port) as conn:
            await conn.session.update(session={"type": "realtime", "tools": [WEATHER]})
            await conn.conversation.item.create(item=user_says("What's the weather in Paris?"))
            await conn.response.create(response={"tool_choice": "required"})
            events = await until_done(conn)
    [call] = events[-1].response.output
    assert call.type == "function_call" and call.name == "get_weather"
    jsonschema.validate(json.loads(call.arguments), WEATHER["parameters"])
