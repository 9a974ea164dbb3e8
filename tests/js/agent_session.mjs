// A RealtimeAgent with default settings, over the SDK's own WebSocket transport, holds one
// turn with the server at URL, then prints what happened as one JSON line:
//   node agent_session.mjs URL text "Hello there"
//   node agent_session.mjs URL audio speech.pcm     (PCM16 mono 24 kHz, streamed at real time)
import { readFileSync } from "node:fs";
import { RealtimeAgent } from "@openai/agents-realtime";
import { TURN_TIMEOUT_MS, finish, recordedSession } from "./recorded.mjs";

const [url, mode, arg] = process.argv.slice(2);
const CHUNK_BYTES = 1920; // 40 ms

const agent = new RealtimeAgent({ name: "Assistant", instructions: "Answer briefly." });
const { session, record } = recordedSession(agent, url);

const turnDone = new Promise((resolve, reject) => {
  session.on("agent_end", resolve);
  setTimeout(() => reject(new Error("no agent_end in time")), TURN_TIMEOUT_MS);
});

await session.connect({ apiKey: "sk-local" });
if (mode === "text") {
  session.sendMessage(arg);
} else {
  const pcm = readFileSync(arg);
  const start = Date.now();
  for (let i = 0, n = 0; i < pcm.length; i += CHUNK_BYTES, n++) {
    const chunk = pcm.subarray(i, i + CHUNK_BYTES);
    session.sendAudio(chunk.buffer.slice(chunk.byteOffset, chunk.byteOffset + chunk.length));
    const wait = start + (n + 1) * 40 - Date.now();
    if (wait > 0) await new Promise((r) => setTimeout(r, wait));
  }
}
const content = (item) => (item.content ?? []).map((c) => c.transcript ?? c.text ?? "").join(" ");
await finish(session, record, turnDone, () => ({
  history: session.history
    .filter((item) => item.type === "message")
    .map((item) => ({ role: item.role, text: content(item) })),
}));
