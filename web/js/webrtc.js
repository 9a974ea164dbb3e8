// The WebRTC transport: the microphone and the reply's voice as Opus tracks, the Realtime
// events on the `oai-events` data channel. Same shape as WebSocketTransport (see realtime.js),
// plus attachMic(stream): the microphone track goes to the peer connection as it is.
//
// The call: an audio transceiver (sendrecv) and the data channel go in the offer, the offer
// is POSTed to /v1/realtime/calls, the answer is set, and connect() resolves once the peer is
// connected and the channel open, or rejects after `timeoutMs`. DELETE on the call's
// Location hangs up. The reply plays through an <audio> element (the path the browser's echo
// canceller knows); the server stops it itself on barge-in, so nothing is truncated from here.
import { TransportError, realtimeQuery } from "./realtime.js";
import { RtpPlayout } from "./webrtc-playout.js";

const CONNECT_TIMEOUT_MS = 8000;
const GATHER_MS = 2000; // host candidates come at once; past this the offer goes as it is
const DISCONNECTED_MS = 4000; // "disconnected" this long counts as lost
const STATS_MS = 1000;

/** The calls endpoint for a page at `loc`, or for `server` (ws/wss/http/https base URL). */
export function callsUrl(loc, persona = "jarvis", server = null) {
  const base = server
    ? server.replace(/\/$/, "").replace(/^ws(s?):/, "http$1:")
    : `${loc.protocol}//${loc.host}`;
  return `${base}/v1/realtime/calls${realtimeQuery(persona)}`;
}

/** The receiver's jitter-buffer delay in ms from `inbound-rtp` stats: over the time since
 * the `before` entry when there is one, else since the start. */
export function jitterMs(inbound, before = null) {
  const n = inbound?.jitterBufferEmittedCount || 0;
  const dn = n - (before?.jitterBufferEmittedCount || 0);
  if (before && dn > 0) return (1000 * (inbound.jitterBufferDelay - before.jitterBufferDelay)) / dn;
  return n ? (1000 * inbound.jitterBufferDelay) / n : 0;
}

export class WebRtcTransport {
  constructor(url, { timeoutMs = CONNECT_TIMEOUT_MS, iceServers = [], auth = null } = {}) {
    this.url = url;
    this.auth = auth; // Credentials (auth.js): a client secret opens the call
    this.kind = "webrtc";
    this.truncates = false;
    this.timeoutMs = timeoutMs;
    this.iceServers = iceServers;
    this.pc = null;
    this.channel = null;
    this.sender = null;
    this.micTrack = null;
    this.callUrl = null;
    this.audio = null; // the <audio> element the reply plays in
    this.remoteStream = null;
    this.stats = null; // the latest inbound-rtp audio stats
    this.eventHandlers = [];
    this.closeHandlers = [];
    this.playout = new RtpPlayout(() => this.receiver());
    this.timers = [];
  }

  receiver() {
    return this.pc?.getReceivers().find((r) => r.track?.kind === "audio") || null;
  }

  async connect() {
    if (typeof RTCPeerConnection !== "function") {
      throw new TransportError("unreachable", "this browser has no WebRTC");
    }
    const deadline = performance.now() + this.timeoutMs;
    const secret = await this.auth?.secret();
    const pc = new RTCPeerConnection({ iceServers: this.iceServers });
    this.pc = pc;
    this.sender = pc.addTransceiver("audio", { direction: "sendrecv" }).sender;
    if (this.micTrack) await this.sender.replaceTrack(this.micTrack);
    const channel = pc.createDataChannel("oai-events");
    this.channel = channel;
    channel.onmessage = ({ data }) => this.receive(data);
    pc.ontrack = ({ track, streams }) => this.play(streams[0] || new MediaStream([track]));
    try {
      await pc.setLocalDescription(await pc.createOffer());
      await gathered(pc, Math.min(GATHER_MS, deadline - performance.now()));
      const answer = await this.post(pc.localDescription.sdp, deadline, secret);
      await pc.setRemoteDescription({ type: "answer", sdp: answer });
      await opened(pc, channel, deadline - performance.now());
    } catch (err) {
      this.shut();
      if (err instanceof TransportError) throw err;
      throw new TransportError("unreachable", `WebRTC call to ${this.url} failed: ${err.message}`);
    }
    this.watch();
  }

  async post(sdp, deadline, secret = null) {
    const res = await fetch(this.url, {
      method: "POST",
      body: sdp,
      headers: {
        "Content-Type": "application/sdp",
        ...(secret ? { Authorization: `Bearer ${secret}` } : {}),
      },
      signal: AbortSignal.timeout(Math.max(1, deadline - performance.now())),
    });
    if (res.status !== 201 && res.status !== 200) {
      const body = await res.json().catch(() => ({}));
      const gone = res.status === 404 && body.error?.code === "conversation_not_found";
      const kind = gone
        ? "gone" // the conversation to resume is not there (erased, expired)
        : res.status === 429
          ? "refused"
          : [401, 403].includes(res.status)
            ? "auth"
            : "unreachable";
      throw new TransportError(kind, body.error?.message || `HTTP ${res.status} from ${this.url}`);
    }
    const location = res.headers.get("Location");
    if (location) this.callUrl = new URL(location, new URL(this.url, window.location.href)).href;
    return res.text();
  }

  receive(data) {
    let event;
    try {
      event = JSON.parse(data);
    } catch {
      return;
    }
    this.playout.note(event);
    for (const fn of this.eventHandlers) fn(event);
  }

  play(stream) {
    this.remoteStream = stream;
    const audio = this.audio || (this.audio = new Audio());
    audio.autoplay = true;
    audio.srcObject = stream;
    audio.play().catch(() => {
      // Held back until someone touches the page (autoplay policy): the first touch plays it.
      const resume = () => audio.play().catch(() => {});
      for (const t of ["pointerdown", "keydown", "touchstart"]) {
        window.addEventListener(t, resume, { once: true });
      }
    });
  }

  /** Once connected: lost connections end the call, and the stats feed the playout clock. */
  watch() {
    const pc = this.pc;
    let lostTimer = null;
    pc.onconnectionstatechange = () => {
      const state = pc.connectionState;
      clearTimeout(lostTimer);
      if (state === "failed" || state === "closed") this.ended(1006, `connection ${state}`);
      else if (state === "disconnected") {
        lostTimer = setTimeout(() => this.ended(1006, "connection lost"), DISCONNECTED_MS);
      }
    };
    this.channel.onclose = () => this.ended(1006, "the server closed the call");
    this.timers.push(setInterval(() => this.poll(), STATS_MS));
    this.poll();
  }

  async poll() {
    const report = await this.pc?.getStats(this.receiver()?.track).catch(() => null);
    report?.forEach((s) => {
      if (s.type === "inbound-rtp" && s.kind === "audio") {
        this.playout.jitterMs = jitterMs(s, this.stats);
        this.stats = s;
      }
    });
  }

  get open() {
    return this.channel?.readyState === "open";
  }

  send(event) {
    if (this.open) this.channel.send(JSON.stringify(event));
  }

  sendAudio() {} // the microphone travels on its track

  /** The microphone's stream (or null): its track is what the call sends. */
  attachMic(stream) {
    this.micTrack = stream?.getAudioTracks()[0] || null;
    if (this.sender) this.sender.replaceTrack(this.micTrack).catch(() => {});
  }

  onEvent(fn) {
    this.eventHandlers.push(fn);
  }

  onClose(fn) {
    this.closeHandlers.push(fn);
  }

  audioSink() {
    return this.playout;
  }

  close() {
    this.ended(1000, "closed");
  }

  ended(code, reason) {
    const handlers = this.closeHandlers;
    this.closeHandlers = [];
    this.shut();
    for (const fn of handlers) fn({ code, reason, refused: false });
  }

  /** Hang up and let go of everything (no close handlers). */
  shut() {
    for (const t of this.timers) clearInterval(t);
    this.timers = [];
    if (this.callUrl) {
      const headers = this.auth?.headers() || {};
      fetch(this.callUrl, { method: "DELETE", keepalive: true, headers }).catch(() => {});
      this.callUrl = null;
    }
    if (this.channel) this.channel.onclose = this.channel.onmessage = null;
    if (this.pc) this.pc.onconnectionstatechange = this.pc.ontrack = null;
    this.channel?.close();
    this.pc?.close();
    if (this.audio) this.audio.srcObject = null;
  }
}

function gathered(pc, ms) {
  if (pc.iceGatheringState === "complete" || ms <= 0) return Promise.resolve();
  return new Promise((resolve) => {
    const timer = setTimeout(done, ms);
    function done() {
      clearTimeout(timer);
      pc.removeEventListener("icegatheringstatechange", check);
      resolve();
    }
    function check() {
      if (pc.iceGatheringState === "complete") done();
    }
    pc.addEventListener("icegatheringstatechange", check);
  });
}

function opened(pc, channel, ms) {
  return new Promise((resolve, reject) => {
    const late = `WebRTC did not connect in ${Math.round(ms / 1000)} s`;
    const timer = setTimeout(() => finish(new TransportError("unreachable", late)), Math.max(0, ms));
    function finish(err) {
      clearTimeout(timer);
      pc.removeEventListener("connectionstatechange", check);
      channel.removeEventListener("open", check);
      channel.removeEventListener("close", check);
      if (err) reject(err);
      else resolve();
    }
    function check() {
      const state = pc.connectionState;
      if (state === "connected" && channel.readyState === "open") finish(null);
      else if (state === "failed" || state === "closed" || channel.readyState === "closed") {
        finish(new TransportError("unreachable", `WebRTC connection ${state}`));
      }
    }
    pc.addEventListener("connectionstatechange", check);
    channel.addEventListener("open", check);
    channel.addEventListener("close", check);
    check();
  });
}
