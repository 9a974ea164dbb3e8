// The Agents SDK's own zod schemas for Realtime server events (not exported by the package,
// so read from its files), and a check of one event against them.
import { realtimeServerEventSchema } from "./node_modules/@openai/agents-realtime/dist/openaiRealtimeEvents.mjs";

/** null when the SDK knows and accepts `event`; else why not (unknown type, bad fields). */
export function problem(event) {
  const parsed = realtimeServerEventSchema.safeParse(event);
  if (parsed.success) return null;
  return parsed.error.issues.map((i) => `${i.path.join(".")}: ${i.message}`).join("; ");
}
