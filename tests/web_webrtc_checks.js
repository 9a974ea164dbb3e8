// Checks of the WebRTC client's pure pieces, and of VoiceClient over a stand-in WebRTC
// transport, run in the browser by tests/test_web_webrtc.py.
async () => {
  const p = await import("/web/js/webrtc-playout.js");
  const rtc = await import("/web/js/webrtc.js");
  const tr = await import("/web/js/transports.js");
  const { VoiceClient } = await import("/web/js/client.js");
  const out = {};
  out.wrap = [p.rtpDiff(5, 0xfffffff0), p.rtpDiff(0xfffffff0, 5)];
  const src = { rtpTimestamp: 0xffffff00, timestamp: 500 };
  out.rtpAt = [
    p.rtpAt(src, 510, 0), // on the performance clock, 10 ms later: + 480, wrapped
    p.rtpAt({ ...src, timestamp: 1.7e12 + 500 }, 510, 1.7e12), // on the wall clock
    p.rtpAt(src, 1600, 0), // stale
    p.rtpAt(undefined, 510, 0),
  ];
  const map = new p.PlayoutMap();
  const cue = (viseme, s, e) => ({ viseme, start_ms: s, end_ms: e });
  const ev = (id, offset, rtp, cues) => ({
    type: "zenglow.visemes", response_id: id, item_id: `item_${id}`, audio_offset_ms: offset,
    rtp_timestamp: rtp, cues,
  });
  const r0 = 0xffffff00;
  map.add(ev("a", 0, r0, [cue("aa", 0, 300)]), 0);
  map.add(ev("a", 300, (r0 + 300 * 48) >>> 0, [cue("PP", 0, 200)]), 10); // across the wrap
  const at = (ms) => map.playing(0, (r0 + ms * 48) >>> 0);
  out.before = at(-20);
  out.first = at(150);
  out.second = at(350);
  out.after = at(2000);
  out.buffered = map.bufferedMs(0, (r0 + 100 * 48) >>> 0);
  map.jitterMs = 100;
  map.add(ev("b", 1000, null, [cue("oh", 0, 400)]), 5000); // no timestamp: arrival + jitter
  out.arrival = [map.playing(5050, null), map.playing(5150, null)];
  out.cut = map.flush(5150, null);
  map.add(ev("b", 1400, null, [cue("oh", 0, 400)]), 5200); // late, of a flushed reply
  out.flushed = [map.playing(5300, null), map.anchors.length];
  const stats = { jitterBufferDelay: 4800, jitterBufferEmittedCount: 48000 };
  out.jitter = [
    rtc.jitterMs(stats),
    rtc.jitterMs({ jitterBufferDelay: 4800 + 2400, jitterBufferEmittedCount: 96000 }, stats),
    rtc.jitterMs(undefined),
  ];
  out.calls = [
    rtc.callsUrl({ protocol: "http:", host: "h:8000" }, "jarvis"),
    rtc.callsUrl({}, "leonardo", "wss://k.lan:8443/"),
  ];
  out.modes = ["ws", "WebSocket", "webrtc", "RTC", undefined, "pigeon"].map(tr.transportMode);

  // the first transport fails, the second carries the conversation
  const made = [];
  const fake = (kind, ok) => () => {
    const t = {
      kind, events: [], closes: [], mics: [], sent: [],
      onEvent: (fn) => t.events.push(fn), onClose: (fn) => t.closes.push(fn),
      attachMic: (m) => t.mics.push(m), send: (e) => t.sent.push(e), sendAudio() {},
      audioSink: () => ({ bufferedMs: () => (kind === "websocket" ? 7 : 3) }),
      connect: async () => { if (!ok) throw new Error(`${kind} failed`); },
      close: () => t.closes.forEach((fn) => fn({ code: 1000 })),
    };
    made.push(t);
    return t;
  };
  const fb = new tr.FallbackTransport([fake("webrtc", false), fake("websocket", true)]);
  const sink = fb.audioSink({});
  const got = [];
  const closed = [];
  fb.onEvent((e) => got.push(e.type));
  fb.onClose((i) => closed.push(i.code));
  fb.attachMic("mic");
  out.before_sink = sink.bufferedMs();
  await fb.connect();
  made[0].events.forEach((fn) => fn({ type: "from.the.failed.one" }));
  made[1].events.forEach((fn) => fn({ type: "session.created" }));
  fb.send({ type: "response.create" });
  out.fallback = {
    kind: fb.kind, got, closedEarly: closed.length, sink: sink.bufferedMs(),
    mics: made.map((t) => t.mics), sent: made[1].sent.length, failures: fb.failures,
  };
  made[1].closes.forEach((fn) => fn({ code: 1006 }));
  out.fallback.closed = closed;

  // VoiceClient over WebRTC: cleared drops the cues at once, and nothing is truncated
  const listeners = [];
  const playout = new p.RtpPlayout(() => null, () => 0);
  const transport = {
    kind: "webrtc", truncates: false, sent: [],
    onEvent: (fn) => listeners.push(fn), send: (e) => transport.sent.push(e),
    audioSink: () => playout,
  };
  const client = new VoiceClient({ transport, ctx: {} });
  const feed = (e) => { playout.note(e); listeners.forEach((fn) => fn(e)); };
  feed(ev("r", 0, null, [cue("aa", 0, 5000)]));
  const mouth = () => 1 - client.visemeTargets()[0];
  playout.map.jitterMs = -100; // as if 100 ms of it had played
  out.client = { open: mouth() };
  feed({ type: "output_audio_buffer.cleared", response_id: "r" });
  out.client.cleared = mouth();
  feed(ev("r", 5000, null, [cue("aa", 0, 5000)])); // late cues of the dropped reply
  out.client.late = mouth();
  out.client.sent = transport.sent.map((e) => e.type);
  return out;
}
