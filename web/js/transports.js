// Which transport a page talks over: WebRTC by default, the WebSocket when WebRTC cannot be
// used (no RTCPeerConnection, the call refused or unreachable, no connection within 8 s).
// The `transport` setting forces one: "webrtc" or "ws" ("auto" tries WebRTC first).
import { WebSocketTransport, realtimeUrl } from "./realtime.js";
import { WebRtcTransport, callsUrl } from "./webrtc.js";

export const LABELS = { webrtc: "WebRTC", websocket: "WebSocket" };

const SINK_METHODS = ["enqueue", "markDone", "flush", "playing", "playedMs", "bufferedMs", "clock"];
const NO_SINK = {
  enqueue() {},
  markDone() {},
  flush: () => [],
  playing: () => null,
  playedMs: () => 0,
  bufferedMs: () => 0,
  clock: () => 0,
};

/** "webrtc" | "ws" | "auto", from a setting's value. */
export function transportMode(value) {
  const v = String(value ?? "auto").toLowerCase();
  if (v === "webrtc" || v === "rtc") return "webrtc";
  if (v === "ws" || v === "websocket") return "ws";
  return "auto";
}

/** The transport for a page's settings (`persona`, `server`, `transport`); `auth`: the
 * page's Credentials (auth.js), when the server needs a key; `conversation`: the page's
 * ConversationMemory (conversation.js), whose conversation each connection resumes. */
export function chooseTransport(config, loc = window.location, auth = null, conversation = null) {
  const resume = () => conversation?.query() ?? "";
  const ws = () =>
    new WebSocketTransport(realtimeUrl(loc, config.persona, config.server) + resume(), { auth });
  const rtc = () =>
    new WebRtcTransport(callsUrl(loc, config.persona, config.server) + resume(), { auth });
  const mode = transportMode(config.transport);
  if (mode === "ws") return ws();
  if (mode === "webrtc") return rtc();
  return new FallbackTransport([rtc, ws]);
}

/** Tries each transport in turn; the first that connects carries the conversation. */
export class FallbackTransport {
  constructor(makers) {
    this.makers = makers;
    this.current = null;
    this.failures = []; // why the ones before it failed
    this.eventHandlers = [];
    this.closeHandlers = [];
    this.sink = null;
    this.ctx = null;
    this.mic = null;
  }

  get kind() {
    return this.current?.kind || null;
  }

  get truncates() {
    return this.current?.truncates ?? true;
  }

  get url() {
    return this.current?.url || null;
  }

  get pc() {
    return this.current?.pc || null;
  }

  async connect() {
    let last = null;
    for (const make of this.makers) {
      const t = make();
      this.current = t;
      this.sink = this.ctx ? t.audioSink(this.ctx) : null;
      let live = false;
      t.onEvent((ev) => this.current === t && this.eventHandlers.forEach((fn) => fn(ev)));
      t.onClose((info) => {
        if (live && this.current === t) this.closeHandlers.forEach((fn) => fn(info));
      });
      if (this.mic) t.attachMic?.(this.mic);
      try {
        await t.connect();
        live = true;
        return;
      } catch (err) {
        if (err.kind === "auth" || err.kind === "gone") throw err; // the other would be too
        this.failures.push(`${t.kind || "websocket"}: ${err.message}`);
        console.warn(`${err.message}; trying the next transport`);
        t.close();
        last = err;
      }
    }
    throw last;
  }

  send(event) {
    this.current?.send(event);
  }

  sendAudio(pcm) {
    this.current?.sendAudio(pcm);
  }

  attachMic(stream) {
    this.mic = stream;
    this.current?.attachMic?.(stream);
  }

  onEvent(fn) {
    this.eventHandlers.push(fn);
  }

  onClose(fn) {
    this.closeHandlers.push(fn);
  }

  close() {
    this.current?.close();
  }

  /** A sink that plays through whichever transport connected. */
  audioSink(ctx) {
    this.ctx = ctx;
    const at = () => this.sink || NO_SINK;
    return Object.fromEntries(SINK_METHODS.map((m) => [m, (...args) => at()[m](...args)]));
  }
}
