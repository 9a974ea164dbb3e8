// The microphone: getUserMedia with the browser's echo cancellation, noise suppression and
// gain control, captured by an AudioWorklet as 24 kHz PCM16 blocks.

export class MicError extends Error {
  /** kind: "insecure" | "denied" | "missing" | "busy" | "failed" */
  constructor(kind, message) {
    super(message);
    this.kind = kind;
  }
}

export class Mic {
  constructor(ctx) {
    this.ctx = ctx;
    this.muted = false;
    this.level = 0;
    this.onBlock = () => {};
    this.onLevel = () => {};
    this.stream = null;
    this.node = null;
    this.deviceId = null;
  }

  static async devices() {
    if (!navigator.mediaDevices?.enumerateDevices) return [];
    const all = await navigator.mediaDevices.enumerateDevices();
    return all.filter((d) => d.kind === "audioinput");
  }

  async start(deviceId = null) {
    if (!window.isSecureContext || !navigator.mediaDevices?.getUserMedia) {
      throw new MicError("insecure", "this page is not a secure context");
    }
    this.stop();
    const audio = {
      echoCancellation: true,
      noiseSuppression: true,
      autoGainControl: true,
      channelCount: 1,
    };
    if (deviceId) audio.deviceId = { exact: deviceId };
    try {
      this.stream = await navigator.mediaDevices.getUserMedia({ audio });
    } catch (err) {
      const kind = {
        NotAllowedError: "denied",
        SecurityError: "denied",
        NotFoundError: "missing",
        OverconstrainedError: "missing",
        NotReadableError: "busy",
      }[err.name];
      throw new MicError(kind || "failed", `${err.name}: ${err.message}`);
    }
    this.deviceId = this.stream.getAudioTracks()[0]?.getSettings().deviceId || deviceId;
    this.setMuted(this.muted);
    if (!Mic.loaded.has(this.ctx)) {
      await this.ctx.audioWorklet.addModule(new URL("./mic-worklet.js", import.meta.url));
      Mic.loaded.add(this.ctx);
    }
    this.source = this.ctx.createMediaStreamSource(this.stream);
    this.node = new AudioWorkletNode(this.ctx, "zenglow-mic", { numberOfOutputs: 1 });
    this.sink = this.ctx.createGain();
    this.sink.gain.value = 0; // keeps the graph pulled without making a sound
    this.source.connect(this.node).connect(this.sink).connect(this.ctx.destination);
    this.node.port.onmessage = ({ data }) => {
      const pcm = this.muted ? new Int16Array(data.pcm.length) : data.pcm;
      this.level = this.muted ? 0 : data.level;
      this.onLevel(this.level);
      this.onBlock(pcm); // muted: the server hears silence, so a turn still ends
    };
  }

  setMuted(muted) {
    this.muted = muted;
    for (const t of this.stream?.getAudioTracks() || []) t.enabled = !muted; // WebRTC sends silence
  }

  stop() {
    this.node?.port.close();
    this.source?.disconnect();
    this.node?.disconnect();
    this.sink?.disconnect();
    this.stream?.getTracks().forEach((t) => t.stop());
    this.stream = this.node = this.source = this.sink = null;
  }
}

Mic.loaded = new WeakSet();
