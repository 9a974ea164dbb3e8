// Checks of the page's pure modules, run in the browser by tests/test_web.py.
async () => {
  const v = await import("/web/js/visemes.js");
  const pcm = await import("/web/js/pcm.js");
  const rt = await import("/web/js/realtime.js");
  const out = {};
  const track = new v.CueTrack({ rampMs: 80 });
  track.add({
    response_id: "r",
    item_id: "i",
    audio_offset_ms: 1000,
    cues: [
      { viseme: "aa", start_ms: 0, end_ms: 200 },
      { viseme: "PP", start_ms: 200, end_ms: 300 },
    ],
  });
  const at = (ms) => Array.from(track.targetAt("r", ms));
  const aa = v.VISEME_INDEX.aa,
    pp = v.VISEME_INDEX.PP;
  out.before = at(900)[0];
  out.middle = at(1100)[aa];
  out.blend = [at(1200)[aa], at(1200)[pp]];
  out.sums = [950, 1050, 1180, 1200, 1220, 1290, 1400].map((ms) => at(ms).reduce((a, b) => a + b, 0));
  const curve = [];
  for (let ms = 1100; ms <= 1300; ms += 10) curve.push(at(ms)[aa]);
  out.maxStep = Math.max(...curve.slice(1).map((w, i) => Math.abs(w - curve[i])));
  out.after = at(1500)[0];
  out.other = track.targetAt("unknown", 1100)[0];
  const cur = new Float32Array(15);
  const goal = new Float32Array(15);
  goal[aa] = 1;
  v.follow(cur, goal, 1 / 60);
  out.followed = cur[aa];
  out.vrm = v.vrmMouth(Float32Array.from(v.VISEMES, (n) => (n === "oh" ? 1 : 0)));
  const samples = new Int16Array([0, 1, -1, 32767, -32768, 1234, -4321]);
  out.roundTrip = Array.from(pcm.base64ToInt16(pcm.int16ToBase64(samples)));
  const tone = new Float32Array(48000).map((_, i) => Math.sin((2 * Math.PI * 440 * i) / 48000) * 0.5);
  const whole = new pcm.StreamResampler(48000, 24000).process(tone);
  const r = new pcm.StreamResampler(48000, 24000);
  const parts = [];
  for (let i = 0; i < tone.length; i += 128) parts.push(...r.process(tone.subarray(i, i + 128)));
  out.resampled = [whole.length, parts.length];
  out.maxDiff = Math.max(...Array.from(whole, (s, i) => Math.abs(s - parts[i])));
  out.rms = pcm.rms(whole.subarray(1000));
  const r44 = new pcm.StreamResampler(44100, 24000);
  let n44 = 0;
  for (let i = 0; i < 44100; i += 128) n44 += r44.process(new Float32Array(Math.min(128, 44100 - i))).length;
  out.n44 = n44;
  out.backoff = [0, 1, 2, 3, 4, 5, 8].map((n) => rt.backoffMs(n, () => 0.5));
  out.url = rt.realtimeUrl({ protocol: "https:", host: "k.lan:8443" }, "leonardo");
  const b = await import("/web/js/behaviour.js");
  const pose = (state) => {
    const mira = new b.Behaviour(() => 0.5);
    mira.setState(state, 0);
    let p;
    for (let i = 1; i <= 180; i++) p = mira.update(i / 60, 1 / 60);
    return p;
  };
  const busy = pose("working");
  out.working = { browDown: busy.browDown, gazePitch: busy.gazePitch, pucker: busy.pucker,
                  thinkingPucker: pose("thinking").pucker };
  return out;
};
