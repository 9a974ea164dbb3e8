// Reply audio: PCM16 24 kHz chunks scheduled back to back on the AudioContext clock.
// This is the WebSocket transport's audio sink; it knows, per item, what has been heard.
import { WIRE_RATE, int16ToFloat32 } from "./pcm.js";

const START_LEAD_S = 0.06; // first chunk (or after an underrun) starts this far ahead
const KEEP_S = 2; // finished segments kept this long for late lookups

export class AudioPlayer {
  constructor(ctx) {
    this.ctx = ctx;
    this.out = ctx.createGain();
    this.out.connect(ctx.destination);
    this.nextTime = 0;
    this.sources = new Set();
    this.segments = []; // {responseId, itemId, fromMs, start, dur}, in play order
    this.items = new Map(); // itemId -> {responseId, receivedMs, done}
  }

  /** The context time of the sample being heard now. */
  clock() {
    const ts = this.ctx.getOutputTimestamp?.();
    return ts && ts.contextTime > 0 ? ts.contextTime : this.ctx.currentTime;
  }

  enqueue(responseId, itemId, pcm) {
    if (!pcm.length) return;
    const buffer = this.ctx.createBuffer(1, pcm.length, WIRE_RATE);
    buffer.copyToChannel(int16ToFloat32(pcm), 0);
    const now = this.ctx.currentTime;
    if (this.nextTime < now + 0.01) this.nextTime = now + START_LEAD_S;
    const src = this.ctx.createBufferSource();
    src.buffer = buffer;
    src.connect(this.out);
    src.onended = () => this.sources.delete(src);
    src.start(this.nextTime);
    this.sources.add(src);
    let item = this.items.get(itemId);
    if (!item) this.items.set(itemId, (item = { responseId, receivedMs: 0, done: false }));
    const dur = pcm.length / WIRE_RATE;
    this.segments.push({ responseId, itemId, fromMs: item.receivedMs, start: this.nextTime, dur });
    item.receivedMs += dur * 1000;
    this.nextTime += dur;
    this.prune(now);
  }

  /** All of the item's audio has arrived. */
  markDone(itemId) {
    const item = this.items.get(itemId);
    if (item) item.done = true;
  }

  /** What is being heard at context time `t`: {responseId, itemId, ms into the response}. */
  playing(t = this.clock()) {
    for (const s of this.segments) {
      if (t >= s.start && t < s.start + s.dur) {
        return { responseId: s.responseId, itemId: s.itemId, ms: s.fromMs + (t - s.start) * 1000 };
      }
    }
    return null;
  }

  /** Milliseconds of the item heard by time `t`. */
  playedMs(itemId, t = this.clock()) {
    let ms = 0;
    for (const s of this.segments) {
      if (s.itemId === itemId && t > s.start) {
        ms = Math.max(ms, s.fromMs + Math.min(t - s.start, s.dur) * 1000);
      }
    }
    return ms;
  }

  /** Milliseconds scheduled but not yet heard. */
  bufferedMs(t = this.clock()) {
    let ms = 0;
    for (const s of this.segments) ms += Math.max(0, Math.min(s.dur, s.start + s.dur - t)) * 1000;
    return this.sources.size ? ms : 0;
  }

  /** Stop now. Returns the items cut short: [{itemId, responseId, playedMs}]. */
  flush() {
    const t = this.clock();
    const cut = [];
    for (const [itemId, item] of this.items) {
      const played = this.playedMs(itemId, t);
      if (!item.done || played < item.receivedMs - 1) {
        cut.push({ itemId, responseId: item.responseId, playedMs: Math.floor(played) });
      }
    }
    for (const src of this.sources) {
      src.onended = null;
      src.stop();
      src.disconnect();
    }
    this.sources.clear();
    this.segments = [];
    this.items.clear();
    this.nextTime = 0;
    return cut;
  }

  prune(now = this.ctx.currentTime) {
    this.segments = this.segments.filter((s) => s.start + s.dur > now - KEEP_S);
    for (const [itemId, item] of this.items) {
      if (item.done && !this.segments.some((s) => s.itemId === itemId)) this.items.delete(itemId);
    }
  }
}
