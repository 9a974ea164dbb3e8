"""Function calling on the wire (pure): tools and tool_choice in, function call events out,
every server event strictly valid for the `openai` SDK, and clear errors for bad tools."""

from __future__ import annotations

import json
from typing import Any

import pytest

from zenglow.conversation import events as ev
from zenglow.tools.specs import ToolSpec
from zenglow.transports.realtime.client_events import (
    FunctionItemCreate,
    ProtocolError,
    ResponseCreate,
    SessionUpdate,
    parse_client_event,
)
from zenglow.transports.realtime.encoder import RealtimeEncoder

from .test_realtime_codec import check_standard
from .test_tools_sdk import CALL_EVENTS

MAX = 1 << 20
WEATHER = {
    "type": "function",
    "name": "get_weather",
    "description": "Get the weather for a city.",
    "parameters": {"type": "object", "properties": {"city": {"type": "string"}}},
}


def parse(type_: str, **fields: Any) -> Any:
    return parse_client_event(json.dumps({"type": type_, **fields}), max_bytes=MAX)


def test_session_and_response_tools_are_parsed() -> None:
    choice = {"type": "function", "name": "get_weather"}
    event = parse("session.update", session={"tools": [WEATHER], "tool_choice": choice})
    assert isinstance(event, SessionUpdate)
    [spec] = event.config.tools or ()
    assert spec == ToolSpec("get_weather", WEATHER["description"], WEATHER["parameters"])
    assert event.config.tool_choice == "get_weather" and not event.config.ignored
    event = parse("response.create", response={"tools": [], "tool_choice": "required"})
    assert isinstance(event, ResponseCreate)
    assert event.tools == () and event.tool_choice == "required" and not event.ignored


def test_function_items_are_parsed() -> None:
    item = {"type": "function_call_output", "call_id": "call_1", "output": "sunny"}
    event = parse("conversation.item.create", item=item)
    assert event == FunctionItemCreate(None, "function_call_output", "call_1", "sunny")
    item = {"type": "function_call", "call_id": "c2", "name": "f", "arguments": "{}"}
    assert parse("conversation.item.create", item=item).name == "f"


@pytest.mark.parametrize(
    ("session", "param", "says"),
    [
        ({"tools": [{**WEATHER, "parameters": {"type": "array"}}]}, "session.tools[0].parameters",
         '"type": "object"'),
        ({"tools": [{**WEATHER, "parameters": {"type": "object", "properties": 3}}]},
         "session.tools[0].parameters", "not a valid JSON Schema"),
        ({"tools": [{**WEATHER, "name": "get weather!"}]}, "session.tools[0].name", "letters"),
        ({"tools": [WEATHER, WEATHER]}, "session.tools[1].name", "two tools"),
        ({"tools": [{"type": "mcp", "server_label": "x"}]}, "session.tools[0].type",
         "configured on the server"),
        ({"tools": "get_weather"}, "session.tools", "an array"),
        ({"tool_choice": "sometimes"}, "session.tool_choice", "tool_choice must be"),
        ({"tool_choice": {"type": "function"}}, "session.tool_choice.name", "missing"),
    ],
)  # fmt: skip
def test_bad_tools_are_refused_with_a_clear_error(session: Any, param: str, says: str) -> None:
    with pytest.raises(ProtocolError) as caught:
        parse("session.update", event_id="e1", session=session)
    assert caught.value.param == param and caught.value.event_id == "e1"
    assert says in caught.value.message and "nothing in this session config" in caught.value.message


def test_an_output_item_needs_its_call_id() -> None:
    with pytest.raises(ProtocolError) as caught:
        parse("conversation.item.create", item={"type": "function_call_output", "output": "x"})
    assert caught.value.param == "item.call_id"


def _call(item_id: str, call_id: str, arguments: str, status: str = "completed") -> ev.Item:
    return ev.Item(
        item_id, "assistant", arguments, "function_call", status,  # type: ignore[arg-type]
        call_id=call_id, name="get_weather",
    )  # fmt: skip


def test_function_call_events_are_valid_for_the_sdk_and_in_order() -> None:
    enc = RealtimeEncoder(extensions=True)
    config = ev.SessionConfig(
        id="sess_1", model="jarvis", tools=(ToolSpec("get_weather", "w", WEATHER["parameters"]),),
        tool_choice="get_weather",
    )  # fmt: skip
    facts: list[ev.SessionEvent] = [
        ev.SessionUpdated(config),
        ev.ResponseStarted("resp_1", "item_m", "item_u", "jarvis", ("audio",), message=False),
        ev.FunctionCallAdded("resp_1", _call("item_c", "call_1", "", "in_progress"), "item_u", 0),
        ev.FunctionCallDone("resp_1", _call("item_c", "call_1", '{"city": "Paris"}'), 0),
        ev.ToolRan("resp_1", "call_2", "get_time", "running"),
        ev.ToolRan("resp_1", "call_2", "get_time", "completed", "It is noon."),
        ev.StateChanged("working"),
        ev.MessageStarted("resp_1", "item_m", "item_c", 1),
        ev.TextOut("resp_1", "item_m", "It is sunny."),
        ev.AudioOut("resp_1", "item_m", b"\0\0" * 240, 0.0),
        ev.ResponseDone(
            "resp_1",
            "item_m",
            "completed",
            "It is sunny.",
            calls=(_call("item_c", "call_1", '{"city": "Paris"}'),),
        ),
    ]
    wire = [w for f in facts for w in enc.encode(f)]
    standard = [w for w in wire if not w["type"].startswith("zenglow.")]
    for event in standard:
        check_standard(event)
    assert wire[0]["session"]["tools"] == [{**WEATHER, "description": "w"}]
    assert wire[0]["session"]["tool_choice"] == {"type": "function", "name": "get_weather"}
    indexes = {(w["type"], w.get("output_index")) for w in standard if "output_index" in w}
    assert ("response.function_call_arguments.done", 0) in indexes
    assert ("response.output_audio_transcript.delta", 1) in indexes
    assert ("response.output_audio.delta", 1) in indexes
    done = standard[-1]["response"]
    assert [o["type"] for o in done["output"]] == ["function_call", "message"]
    assert done["output"][0]["arguments"] == '{"city": "Paris"}'
    tools = [w for w in wire if w["type"] == "zenglow.tool"]
    assert [t["status"] for t in tools] == ["running", "completed"]
    assert any(w == {**w, "type": "zenglow.state", "state": "working"} for w in wire)


def test_a_response_of_calls_only_has_no_message() -> None:
    enc = RealtimeEncoder()
    facts: list[ev.SessionEvent] = [
        ev.ResponseStarted("resp_1", "item_m", None, "jarvis", ("audio",), message=False),
        ev.FunctionCallAdded("resp_1", _call("item_c", "call_1", "", "in_progress"), None, 0),
        ev.FunctionCallDone("resp_1", _call("item_c", "call_1", "{}"), 0),
        ev.ResponseDone(
            "resp_1",
            "item_m",
            "completed",
            "",
            message=False,
            calls=(_call("item_c", "call_1", "{}"),),
        ),
    ]
    wire = [w for f in facts for w in enc.encode(f)]
    for event in wire:
        check_standard(event)
    assert [w["type"] for w in wire] == CALL_EVENTS
