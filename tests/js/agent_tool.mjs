// A RealtimeAgent with one function tool, over the SDK's own WebSocket transport: it asks
// for the weather, the SDK runs the tool when the server calls it and sends its output, and
// the reply follows.  Prints what happened as one JSON line:
//   node agent_tool.mjs URL "What is the weather forecast in Paris?"
import { OpenAIRealtimeWebSocket, RealtimeAgent, RealtimeSession, tool } from "@openai/agents-realtime";
import { problem } from "./schemas.mjs";

const [url, message] = process.argv.slice(2);
const TURN_TIMEOUT_MS = 120000;
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
const transport = new OpenAIRealtimeWebSocket({ url });
const session = new RealtimeSession(agent, { transport });
const errors = [];
const events = [];
let audioBytes = 0;
session.on("error", (e) => errors.push(String(e.error?.message ?? JSON.stringify(e.error ?? e))));
session.on("audio", (e) => (audioBytes += e.data.byteLength));
transport.on("*", (raw) => events.push(raw));

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
let failure = null;
try {
  await replied;
  await new Promise((r) => setTimeout(r, 1000)); // whatever follows the turn
} catch (e) {
  failure = String(e);
}
session.close();
console.log(
  JSON.stringify({
    failure,
    errors,
    called,
    audio_bytes: audioBytes,
    types: events.map((e) => e.type),
    invalid: events.map((e) => [e.type, problem(e)]).filter(([, p]) => p !== null),
    outputs: events
      .filter((e) => e.type === "response.done")
      .map((e) => e.response.output.map((o) => o.type)),
  }),
);
process.exit(0);
