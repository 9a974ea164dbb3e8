// Transports carry Realtime events between the page and the server.
//
// A transport has:
//   connect(): Promise<void>   resolves once open; rejects with a TransportError
//   send(event)                a client event (a plain object)
//   sendAudio(pcm16)           microphone audio, PCM16 mono 24 kHz
//   onEvent(fn)                fn(event) for every server event
//   onClose(fn)                fn({code, reason, refused}) once, when the connection ends
//   close()
//   audioSink(ctx)             where reply audio plays: enqueue / markDone / flush / playing /
//                              playedMs / bufferedMs / clock (see player.js)
//   kind                       "websocket" | "webrtc"
// WebSocketTransport sends audio as base64 events and plays reply deltas through an
// AudioPlayer; WebRtcTransport (webrtc.js) carries both as media tracks behind the same shape.
import { AudioPlayer } from "./player.js";
import { int16ToBase64 } from "./pcm.js";

export class TransportError extends Error {
  /** kind: "unreachable" | "refused" | "auth" | "gone" (no such conversation to resume) */
  constructor(kind, message) {
    super(message);
    this.kind = kind;
  }
}

// Errors the server sends just before it closes a connection it will not serve.
const REFUSALS = ["session_limit_reached", "rate_limit_exceeded", "server_shutting_down"];

/** The query every page connection sends: its persona, and the zenglow.* events it uses. */
export function realtimeQuery(persona) {
  return `?model=${encodeURIComponent(persona)}&extensions=zenglow`;
}

export function realtimeUrl(loc, persona = "jarvis", server = null) {
  if (server) return `${server.replace(/\/$/, "")}/v1/realtime${realtimeQuery(persona)}`;
  const scheme = loc.protocol === "https:" ? "wss:" : "ws:";
  return `${scheme}//${loc.host}/v1/realtime${realtimeQuery(persona)}`;
}

/** Reconnect delays: 0.5 s, 1 s, 2 s ... up to 10 s, with jitter so kiosks do not retry in step. */
export function backoffMs(attempt, random = Math.random) {
  return Math.min(10000, 500 * 2 ** attempt) * (0.8 + 0.4 * random());
}

export class WebSocketTransport {
  constructor(url, { auth = null } = {}) {
    this.url = url;
    this.auth = auth; // Credentials (auth.js): a client secret opens the session
    this.kind = "websocket";
    this.ws = null;
    this.eventHandlers = [];
    this.closeHandlers = [];
    this.refusal = null; // the error event that came before a refusing close
  }

  async connect() {
    const secret = await this.auth?.secret();
    const protocols = ["realtime", ...(secret ? [`openai-insecure-api-key.${secret}`] : [])];
    return new Promise((resolve, reject) => {
      let opened = false;
      const ws = new WebSocket(this.url, protocols);
      this.ws = ws;
      ws.onopen = () => {
        opened = true;
        resolve();
      };
      ws.onmessage = ({ data }) => {
        let event;
        try {
          event = JSON.parse(data);
        } catch {
          return;
        }
        if (event.type === "error" && REFUSALS.includes(event.error?.code)) {
          this.refusal = event.error;
        }
        for (const fn of this.eventHandlers) fn(event);
      };
      ws.onclose = ({ code, reason }) => {
        const refused = code === 1013 || this.refusal !== null;
        const info = { code, reason: this.refusal?.message || reason, refused };
        if (!opened) reject(new TransportError("unreachable", `cannot reach ${this.url}`));
        for (const fn of this.closeHandlers) fn(info);
        this.closeHandlers = [];
      };
    });
  }

  get open() {
    return this.ws?.readyState === WebSocket.OPEN;
  }

  send(event) {
    if (this.open) this.ws.send(JSON.stringify(event));
  }

  sendAudio(pcm) {
    if (this.open)
      this.ws.send(JSON.stringify({ type: "input_audio_buffer.append", audio: int16ToBase64(pcm) }));
  }

  onEvent(fn) {
    this.eventHandlers.push(fn);
  }

  onClose(fn) {
    this.closeHandlers.push(fn);
  }

  close() {
    this.ws?.close(1000);
  }

  audioSink(ctx) {
    return new AudioPlayer(ctx);
  }
}
