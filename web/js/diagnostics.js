// window.zenglow: what the page is doing, for tests and for a look from the devtools console.

export class Diagnostics {
  constructor(avatar) {
    this.avatar = avatar;
    this.client = null;
    this.lastState = null;
    this.persona = null;
    this.connections = 0;
    this.received = {};
    this.errors = [];
    window.zenglow = {
      visemes: () => this.avatar.visemes(),
      state: () => this.lastState,
      transport: () => this.client?.transport.kind ?? null, // "webrtc" | "websocket"
      peer: () => this.client?.transport.pc ?? null, // the RTCPeerConnection over WebRTC
      persona: () => this.persona,
      bufferedMs: () => (this.client ? this.client.sink.bufferedMs() : 0),
      heard: () => this.client?.sink.playing() ?? null, // the reply audio heard now, if any
      sent: () => (this.client ? this.client.sent.slice() : []),
      received: () => ({ ...this.received }),
      connections: () => this.connections,
      errors: () => this.errors.slice(),
      mic: () => ({ muted: this.client?.mic.muted ?? null, level: this.client?.mic.level ?? 0 }),
      avatar,
      probe: () => avatar.stage.probe(),
    };
  }

  /** A new connection's client; its events feed the avatar and these counters. */
  attach(client) {
    this.client = client;
    this.connections += 1;
    client.onEvent((ev) => {
      this.received[ev.type] = (this.received[ev.type] || 0) + 1;
      if (ev.type === "zenglow.state") {
        this.lastState = ev.state;
        this.avatar.setState(ev.state);
      } else if (ev.type === "zenglow.persona") {
        this.persona = ev.persona;
        this.avatar.setPersona(ev.persona);
      } else if (ev.type === "error") {
        this.errors.push(ev.error);
      }
    });
    this.avatar.setVisemeSource(() => client.visemeTargets());
  }

  detach() {
    this.lastState = null;
    this.avatar.setState("idle");
  }
}
