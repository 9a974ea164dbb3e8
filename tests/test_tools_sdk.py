"""Function calling with the official `openai` SDK against a real server on the embedded
model: a forced call, `auto` on a clear request, the output, and the spoken reply."""

from __future__ import annotations

import json
from typing import Any

import jsonschema

WEATHER = {
    "type": "function",
    "name": "get_weather",
    "description": "Get the current weather forecast for a city.",
    "parameters": {
        "type": "object",
        "properties": {"city": {"type": "string"}},
        "required": ["city"],
        "additionalProperties": False,
    },
}
OUTPUT = "Sunny and 22 degrees in Paris."
# A response whose output is one function call, as GA sends it
CALL_EVENTS = [
    "response.created",
    "response.output_item.added",
    "conversation.item.added",
    "response.function_call_arguments.delta",
    "response.function_call_arguments.done",
    "response.output_item.done",
    "conversation.item.done",
    "response.done",
]


def user_says(text: str) -> dict[str, Any]:
    return {"type": "message", "role": "user", "content": [{"type": "input_text", "text": text}]}


async def until_done(conn: Any) -> list[Any]:
    events = []
    async for event in conn:
        events.append(event)
        if event.type == "response.done":
            return events
    raise AssertionError("the connection closed before response.done")


def function_call_events(events: list[Any]) -> list[str]:
    keep = ("response.", "conversation.item.")
    return [e.type for e in events if e.type.startswith(keep)]


def connect(port: int, model: str = "jarvis") -> Any:
    from openai import AsyncOpenAI

    client = AsyncOpenAI(api_key="sk-local", websocket_base_url=f"ws://127.0.0.1:{port}/v1")
    return client.realtime.connect(model=model)


async def test_a_forced_call_then_its_output_gets_a_spoken_reply(server) -> None:  # type: ignore[no-untyped-def]
    async with connect(server.port) as conn:
        await forced_call_then_output(conn)


async def forced_call_then_output(conn: Any) -> None:
    await conn.session.update(session={"type": "realtime", "tools": [WEATHER]})
    await conn.conversation.item.create(item=user_says("What's the weather like in Paris?"))
    await conn.response.create(
        response={"tool_choice": {"type": "function", "name": "get_weather"}}
    )
    events = await until_done(conn)
    order = function_call_events(events)
    assert order == ["conversation.item.added", "conversation.item.done", *CALL_EVENTS]
    done = events[-1].response
    assert done.status == "completed"
    [call] = done.output
    assert call.type == "function_call" and call.name == "get_weather"
    jsonschema.validate(json.loads(call.arguments), WEATHER["parameters"])
    args_done = next(e for e in events if e.type == "response.function_call_arguments.done")
    assert args_done.call_id == call.call_id and args_done.arguments == call.arguments

    await conn.conversation.item.create(
        item={"type": "function_call_output", "call_id": call.call_id, "output": OUTPUT}
    )
    await conn.response.create()
    events = await until_done(conn)
    done = events[-1].response
    assert done.status == "completed"
    [message] = done.output
    assert message.type == "message"
    said = message.content[0].transcript
    audio = [e for e in events if e.type == "response.output_audio.delta"]
    assert audio and said.strip()
    print("reply:", said)


async def test_auto_calls_the_function_for_a_clear_request(server) -> None:  # type: ignore[no-untyped-def]
    async with connect(server.port) as conn:
        await conn.session.update(
            session={"type": "realtime", "tools": [WEATHER], "tool_choice": "auto"}
        )
        await conn.conversation.item.create(item=user_says("What is the weather forecast in Rome?"))
        await conn.response.create()
        events = await until_done(conn)
        [call] = events[-1].response.output
        assert call.type == "function_call" and call.name == "get_weather"
        jsonschema.validate(json.loads(call.arguments), WEATHER["parameters"])
        # small talk gets a spoken answer, not a call
        await conn.conversation.item.create(
            item={"type": "function_call_output", "call_id": call.call_id, "output": OUTPUT}
        )
        await conn.conversation.item.create(item=user_says("Thank you, you are very kind."))
        await conn.response.create()
        events = await until_done(conn)
        assert [o.type for o in events[-1].response.output] == ["message"]


async def test_bad_function_items_and_choices_get_clear_errors_and_the_session_goes_on(
    server,  # type: ignore[no-untyped-def]
) -> None:
    async with connect(server.port) as conn:
        await conn.session.update(session={"type": "realtime", "tools": [WEATHER]})
        await conn.conversation.item.create(
            item={"type": "function_call_output", "call_id": "call_nobody", "output": "x"},
            event_id="evt_1",
        )
        error = await next_of(conn, "error")
        assert error.error.param == "item.call_id" and error.error.event_id == "evt_1"
        assert "call_nobody" in error.error.message
        await conn.response.create(
            response={"tool_choice": {"type": "function", "name": "get_time_in_mars"}}
        )
        failed = await next_of(conn, "error")
        assert "get_time_in_mars" in failed.error.message
        done = await next_of(conn, "response.done")
        assert done.response.status == "failed"
        await conn.session.update(
            session={"type": "realtime", "tools": [{**WEATHER, "parameters": {"type": "list"}}]}
        )
        refused = await next_of(conn, "error")
        assert refused.error.param == "session.tools[0].parameters"
        await conn.conversation.item.create(item=user_says("Hello there!"))
        await conn.response.create(response={"tool_choice": "none"})
        events = await until_done(conn)
        assert events[-1].response.status == "completed"
        assert [o.type for o in events[-1].response.output] == ["message"]


async def next_of(conn: Any, type_: str) -> Any:
    async for event in conn:
        if event.type == type_:
            return event
    raise AssertionError(f"no {type_}")
