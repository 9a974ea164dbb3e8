// A RealtimeSession over the SDK's own WebSocket transport that records what it saw: the
// errors it raised, every server event, and how much audio came.  `finish` waits for the
// turn (whatever follows it for a second more), closes, and prints one JSON line with
// `extra` beside the record.
import { OpenAIRealtimeWebSocket, RealtimeSession } from "@openai/agents-realtime";
import { problem } from "./schemas.mjs";

export const TURN_TIMEOUT_MS = 120000;

export function recordedSession(agent, url) {
  const transport = new OpenAIRealtimeWebSocket({ url });
  const session = new RealtimeSession(agent, { transport });
  const record = { errors: [], events: [], audioBytes: 0 };
  session.on("error", (e) => record.errors.push(String(e.error?.message ?? JSON.stringify(e.error ?? e))));
  session.on("audio", (e) => (record.audioBytes += e.data.byteLength));
  transport.on("*", (raw) => record.events.push(raw));
  return { transport, session, record };
}

export async function finish(session, record, turn, extra = () => ({})) {
  let failure = null;
  try {
    await turn;
    await new Promise((r) => setTimeout(r, 1000)); // whatever follows the turn
  } catch (e) {
    failure = String(e);
  }
  session.close();
  const { errors, events, audioBytes } = record;
  console.log(
    JSON.stringify({
      failure,
      errors,
      audio_bytes: audioBytes,
      types: events.map((e) => e.type),
      invalid: events.map((e) => [e.type, problem(e)]).filter(([, p]) => p !== null),
      ...extra(),
    }),
  );
  process.exit(0);
}
