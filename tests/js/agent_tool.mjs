// A RealtimeAgent with one function tool, over the SDK's own WebSocket transport: it asks
// for the weather, the SDK runs the tool when the server calls it and sends its output, and
// the reply follows.  Prints what happened as one JSON line:
//   node agent_tool.mjs URL "What is the weather forecast in Paris?"
import { RealtimeAgent, tool } from "@openai/agents-realtime";
import { TURN_TIMEOUT_MS, finish, recordedSession } from "./recorded.mjs";

const [url, message] = process.argv.slice(2);
const called = [];

const getWeather = tool({
  name: "get_weather",
  description: "Get the current weather forecast for a city.",
  parameters: {
    type: "object",
    properties: { city: { type: "string" } },
    required: ["city"],
    additionalProperties: false,
  },
  strict: false,
  execute: async (input) => {
    const { city } = typeof input === "string" ? JSON.parse(input) : input;
    called.push(city);
    return `It is sunny and 22 degrees in ${city}.`;
  },
});
const agent = new RealtimeAgent({ name: "Assistant", instructions: "Answer briefly.", tools: [getWeather] });
const { transport, session, record } = recordedSession(agent, url);

// the reply to the tool's output: a response.done whose output is a message
const replied = new Promise((resolve, reject) => {
  transport.on("*", (raw) => {
    const spoken = raw.type === "response.done" && raw.response.output.some((o) => o.type === "message");
    if (spoken && called.length) resolve();
  });
  setTimeout(() => reject(new Error("no reply after the tool in time")), TURN_TIMEOUT_MS);
});

await session.connect({ apiKey: "sk-local" });
session.sendMessage(message);
await finish(session, record, replied, () => ({
  called,
  outputs: record.events
    .filter((e) => e.type === "response.done")
    .map((e) => e.response.output.map((o) => o.type)),
}));
