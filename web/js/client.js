// VoiceClient: one conversation over a transport. Plays reply audio, keeps viseme cues on the
// audio's clock, flushes on interruption and tells the server what was actually heard.
import { CueTrack, VISEMES } from "./visemes.js";
import { base64ToInt16 } from "./pcm.js";
import { Mic } from "./mic.js";

const SENT_LOG = 200;

export class VoiceClient {
  constructor({ transport, ctx, deviceId = null, turn = "semantic_vad", eagerness = "auto" }) {
    this.transport = transport;
    this.turn = turn === "server_vad" ? { type: "server_vad" } : { type: "semantic_vad", eagerness };
    this.ctx = ctx;
    this.sink = transport.audioSink(ctx);
    this.cues = new CueTrack();
    this.mic = new Mic(ctx);
    this.deviceId = deviceId;
    this.state = null;
    this.persona = null;
    this.handlers = [];
    this.sent = []; // client events sent (audio appends left out), newest last
    this.targets = new Float32Array(VISEMES.length);
    this.stopped = new Set(); // responses flushed here: late audio of theirs is dropped
    transport.onEvent((ev) => this.handle(ev));
  }

  onEvent(fn) {
    this.handlers.push(fn);
  }

  /** Opens the connection (throws a TransportError when the server cannot be reached). */
  async connect() {
    if (this.ctx.state !== "running") await this.ctx.resume().catch(() => {});
    await this.transport.connect();
    // a pause mid-sentence is not the end of the turn: the server's turn-end model judges
    const audio = { input: { turn_detection: this.turn } };
    this.send({ type: "session.update", session: { type: "realtime", audio } });
  }

  /** Starts the microphone (throws a MicError); its audio streams while connected. */
  async startMic(deviceId = this.deviceId) {
    this.deviceId = deviceId;
    this.mic.onBlock = (pcm) => this.transport.sendAudio(pcm);
    await this.mic.start(deviceId);
    this.transport.attachMic?.(this.mic.stream); // WebRTC: the track itself is sent
  }

  send(event) {
    this.sent.push(event);
    if (this.sent.length > SENT_LOG) this.sent.shift();
    this.transport.send(event);
  }

  say(text) {
    const busy = ["thinking", "working", "speaking"].includes(this.state);
    if (this.sink.bufferedMs() > 0 || busy) {
      this.send({ type: "output_audio_buffer.clear" }); // typing over a reply stops it
      this.flush();
    }
    this.send({
      type: "conversation.item.create",
      item: { type: "message", role: "user", content: [{ type: "input_text", text }] },
    });
    this.send({ type: "response.create" });
  }

  /** Stops playback now and truncates each reply that was cut short to what was heard. */
  flush() {
    for (const cut of this.sink.flush()) {
      this.stopped.add(cut.responseId);
      if (this.transport.truncates === false) continue; // WebRTC: the server knows what it sent
      this.send({
        type: "conversation.item.truncate",
        item_id: cut.itemId,
        content_index: 0,
        audio_end_ms: cut.playedMs,
      });
    }
    this.cues.clear();
  }

  handle(ev) {
    switch (ev.type) {
      case "response.output_audio.delta":
      case "response.audio.delta":
        if (this.stopped.has(ev.response_id)) break;
        this.sink.enqueue(ev.response_id, ev.item_id, base64ToInt16(ev.delta));
        break;
      case "zenglow.visemes":
        if (!this.stopped.has(ev.response_id)) this.cues.add(ev);
        break;
      case "output_audio_buffer.cleared": // WebRTC: the server dropped the reply's audio
        this.flush();
        break;
      case "zenglow.state":
        this.state = ev.state;
        if (ev.state === "interrupted") this.flush();
        break;
      case "zenglow.persona":
        this.persona = ev.persona;
        break;
      case "response.done": {
        const item = ev.response?.output?.find((o) => o.type === "message"); // not a call
        if (ev.response?.status === "cancelled") this.flush();
        else if (item) this.sink.markDone(item.id);
        break;
      }
    }
    for (const fn of this.handlers) fn(ev);
  }

  /** Target viseme weights for what is being heard now. */
  visemeTargets() {
    const now = this.sink.playing();
    return this.cues.targetAt(now ? now.responseId : null, now ? now.ms : 0, this.targets);
  }

  close() {
    this.mic.stop();
    this.sink.flush();
    this.transport.close();
  }
}
