// Reply audio over WebRTC: the voice plays from the remote track, and this sink works out what
// is being heard from the `zenglow.visemes` events, so the lips follow the audio the browser
// actually plays.
//
// Each visemes event marks where a chunk of reply audio starts: `rtp_timestamp` (48 kHz RTP
// clock of its first sample) and `audio_offset_ms` (where it sits in its response). The receiver's
// synchronization source says which RTP timestamp was handed to the speaker at which moment, so
//   ms into the response = audio_offset_ms + (rtp now - rtp_timestamp) / 48.
// Without a timestamp (audio queued before the first packet went out) or without a
// synchronization source, a chunk is anchored on its event's arrival plus the jitter buffer's
// delay: the server sends the event as the chunk enters its track.

export const RTP_RATE = 48000;
const PER_MS = RTP_RATE / 1000;
// A synchronization source older than this: the audio is not flowing. The server's track never
// pauses (silence between replies), so an older one means a busy receiver; within this, the
// position is carried on from it rather than guessed from the events' arrival.
const STALE_MS = 1000;
const TAIL_MS = 200; // a chunk counts as playing this long past its last cue
const KEEP = 256; // anchors kept, newest last
const KEEP_MS = 120000; // and none older than this

/** a - b for two 32-bit RTP timestamps, in samples, across the wrap at 2^32. */
export function rtpDiff(a, b) {
  return (a - b) | 0;
}

/** The RTP timestamp playing at `now` (performance.now() ms), or null when it is not known.
 * `src` is an RTCRtpSynchronizationSource; its `timestamp` may be on the performance clock or
 * on the wall clock (older Chromium), which the size of the value tells apart. */
export function rtpAt(src, now, timeOrigin = performance.timeOrigin) {
  if (typeof src?.rtpTimestamp !== "number" || typeof src.timestamp !== "number") return null;
  const at = src.timestamp > 1e12 ? src.timestamp - timeOrigin : src.timestamp;
  const age = now - at;
  if (age > STALE_MS || age < -STALE_MS) return null;
  return (src.rtpTimestamp + Math.round(Math.max(0, age) * PER_MS)) >>> 0;
}

/** Where chunks of reply audio start; pure: feed it events and ask with a time. */
export class PlayoutMap {
  constructor() {
    this.anchors = []; // {responseId, itemId, offsetMs, rtp, arrival, durMs}, in arrival order
    this.flushed = new Set(); // responses dropped here: their late events are ignored
    this.jitterMs = 0; // the receiver's jitter-buffer delay
  }

  /** A `zenglow.visemes` event that arrived at `arrival` (performance.now() ms). */
  add(ev, arrival) {
    if (this.flushed.has(ev.response_id)) return;
    const durMs = Math.max(0, ...(ev.cues || []).map((c) => c.end_ms));
    this.anchors.push({
      responseId: ev.response_id,
      itemId: ev.item_id,
      offsetMs: ev.audio_offset_ms || 0,
      rtp: Number.isInteger(ev.rtp_timestamp) ? ev.rtp_timestamp >>> 0 : null,
      arrival,
      durMs,
    });
    if (this.anchors.length > KEEP || this.anchors[0].arrival < arrival - KEEP_MS) {
      this.anchors.shift();
    }
  }

  /** Milliseconds since the anchor's first sample played (negative: not yet). */
  elapsed(a, now, rtpNow) {
    if (a.rtp !== null && rtpNow !== null) return rtpDiff(rtpNow, a.rtp) / PER_MS;
    return now - a.arrival - this.jitterMs;
  }

  /** What is heard at `now`: {responseId, itemId, ms into the response}, or null. */
  playing(now, rtpNow) {
    let best = null;
    let bestElapsed = Infinity;
    for (const a of this.anchors) {
      const e = this.elapsed(a, now, rtpNow);
      if (e >= 0 && e <= a.durMs + TAIL_MS && e < bestElapsed) {
        best = a;
        bestElapsed = e;
      }
    }
    if (!best) return null;
    return { responseId: best.responseId, itemId: best.itemId, ms: best.offsetMs + bestElapsed };
  }

  /** Milliseconds of the item heard by `now`. */
  playedMs(itemId, now, rtpNow) {
    let ms = 0;
    for (const a of this.anchors) {
      if (a.itemId !== itemId) continue;
      const e = Math.min(Math.max(this.elapsed(a, now, rtpNow), 0), a.durMs);
      if (e > 0) ms = Math.max(ms, a.offsetMs + e);
    }
    return ms;
  }

  /** Milliseconds announced but not yet heard. */
  bufferedMs(now, rtpNow) {
    let ms = 0;
    for (const a of this.anchors) {
      ms += Math.min(a.durMs, Math.max(0, a.durMs - this.elapsed(a, now, rtpNow)));
    }
    return ms;
  }

  /** Forget every chunk; returns the responses cut: [{itemId, responseId, playedMs}]. */
  flush(now, rtpNow) {
    const cut = new Map();
    for (const a of this.anchors) {
      if (!cut.has(a.itemId)) {
        const playedMs = Math.floor(this.playedMs(a.itemId, now, rtpNow));
        cut.set(a.itemId, { itemId: a.itemId, responseId: a.responseId, playedMs });
      }
      this.flushed.add(a.responseId);
    }
    this.anchors = [];
    return [...cut.values()];
  }
}

/** The audio sink of a WebRTC transport (the shape player.js has, see realtime.js). The reply
 * itself plays from the track; `receiver()` gives the RTCRtpReceiver once there is one. */
export class RtpPlayout {
  constructor(receiver, now = () => performance.now()) {
    this.receiver = receiver;
    this.now = now;
    this.map = new PlayoutMap();
  }

  clock() {
    return this.now();
  }

  rtpNow(now) {
    const r = this.receiver();
    const [src] = r?.getSynchronizationSources?.() || [];
    return rtpAt(src, now);
  }

  /** A server event, as it arrives. */
  note(ev) {
    if (ev.type === "zenglow.visemes") this.map.add(ev, this.now());
  }

  set jitterMs(ms) {
    this.map.jitterMs = ms;
  }

  enqueue() {} // the voice comes on the track, not in events

  markDone() {}

  playing(now = this.now()) {
    return this.map.playing(now, this.rtpNow(now));
  }

  playedMs(itemId, now = this.now()) {
    return this.map.playedMs(itemId, now, this.rtpNow(now));
  }

  bufferedMs(now = this.now()) {
    return this.map.bufferedMs(now, this.rtpNow(now));
  }

  /** The server stops its track itself; this only drops what the lips would still follow. */
  flush(now = this.now()) {
    return this.map.flush(now, this.rtpNow(now));
  }
}
