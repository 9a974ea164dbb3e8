"""Function calling over WebRTC's data channel: the same events as over the WebSocket, and
the reply to the function's output on the audio track."""

from __future__ import annotations

import json

import jsonschema

from .server import LoopbackServer, user_text
from .test_tools_sdk import CALL_EVENTS, OUTPUT, WEATHER
from .test_webrtc import base_url
from .webrtc_peer import Peer


async def test_a_forced_call_and_its_output_over_the_data_channel(server: LoopbackServer) -> None:
    peer = Peer()
    try:
        assert (await peer.call(base_url(server), query="")).status_code == 201
        await peer.wait_for("session.created", timeout=30)
        peer.send({"type": "session.update", "session": {"type": "realtime", "tools": [WEATHER]}})
        await peer.wait_for("session.updated", timeout=30)
        peer.send(user_text("What's the weather like in Paris?"))
        choice = {"type": "function", "name": "get_weather"}
        peer.send({"type": "response.create", "response": {"tool_choice": choice}})
        done = await peer.wait_for("response.done", timeout=120)
        [call] = done["response"]["output"]
        assert call["type"] == "function_call" and call["name"] == "get_weather"
        jsonschema.validate(json.loads(call["arguments"]), WEATHER["parameters"])
        kinds = [e["type"] for e in peer.events]
        first = kinds.index("response.created")
        assert kinds[first:] == CALL_EVENTS
        after = len(peer.events)
        output = {"type": "function_call_output", "call_id": call["call_id"], "output": OUTPUT}
        peer.send({"type": "conversation.item.create", "item": output})
        peer.send({"type": "response.create"})
        done = await peer.wait_for("response.done", timeout=120, after=after)
        assert [o["type"] for o in done["response"]["output"]] == ["message"]
        started = await peer.wait_for("output_audio_buffer.started", timeout=30, after=after)
        assert started["response_id"] == done["response"]["id"]
    finally:
        await peer.close()
