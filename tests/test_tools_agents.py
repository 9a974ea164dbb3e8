"""The OpenAI Agents SDK's `RealtimeAgent` with a function tool, unchanged: the SDK runs the
function when the server calls it, sends its output, and the reply speaks it; every server
event passes the SDK's union strictly and no error reaches the application."""

from __future__ import annotations

import asyncio

from agents import function_tool
from agents.realtime import RealtimeAgent, RealtimeRunner

from .test_agents_sdk import AgentRun

asked: list[str] = []


@function_tool
def get_weather(city: str) -> str:
    """Get the current weather forecast for a city."""
    asked.append(city)
    return f"It is sunny and 22 degrees in {city}."


def spoken_reply_done(event) -> bool:  # type: ignore[no-untyped-def]
    """The `response.done` of the reply that follows the function's output."""
    data = event.data
    if data.type != "raw_server_event" or data.data["type"] != "response.done":
        return False
    return any(o["type"] == "message" for o in data.data["response"]["output"])


class ToolAgentRun(AgentRun):
    def __init__(self, url: str) -> None:
        super().__init__(url)
        agent = RealtimeAgent(name="Assistant", instructions="Answer briefly.", tools=[get_weather])
        self.runner = RealtimeRunner(agent)


async def test_a_realtime_agent_runs_its_function_and_speaks_the_result(server) -> None:  # type: ignore[no-untyped-def]
    asked.clear()
    async with ToolAgentRun(server.stock_url) as run:
        await run.session.send_message("What is the weather forecast in Paris?")
        end = await run.wait_for("tool_end")
        await run.wait_for("raw_model_event", after=end, where=spoken_reply_done)
        await asyncio.sleep(0.5)
    run.check_clean()
    assert len(asked) == 1 and asked[0].strip()
    tools = run.of("session.updated")[0]["session"]["tools"]
    assert [t["name"] for t in tools] == ["get_weather"]
    done = [e["response"] for e in run.of("response.done")]
    assert [[o["type"] for o in r["output"]] for r in done] == [["function_call"], ["message"]]
    assert all(r["status"] == "completed" for r in done)
    outputs = [e for e in run.of("conversation.item.added")
               if e["item"]["type"] == "function_call_output"]  # fmt: skip
    assert outputs and "sunny" in outputs[0]["item"]["output"]
    assert [e for e in run.events if e.type == "audio"], "no reply audio reached the app"
