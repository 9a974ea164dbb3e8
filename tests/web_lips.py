"""Lips against sound in the browser: a sampler of the audio the page plays, beside what the
page believes it is playing, and the shift of the viseme timeline that best fits the two."""

from __future__ import annotations

LOUD, QUIET = 0.03, 0.004

# For the WebSocket transport, where the page plays the reply itself: the `zenglow.visemes`
# events as they arrive, and an analyser on every node that feeds the speakers.
TAP_PLAYED = """(() => {
  window.__visemes = [];
  const Real = window.WebSocket;
  window.WebSocket = class extends Real {
    constructor(...args) {
      super(...args);
      this.addEventListener("message", ({ data }) => {
        if (typeof data !== "string") return;
        const ev = JSON.parse(data);
        if (ev.type === "zenglow.visemes") window.__visemes.push(ev);
      });
    }
  };
  window.__analysers = [];
  const connect = AudioNode.prototype.connect;
  AudioNode.prototype.connect = function (dest, ...rest) {
    if (dest instanceof AudioDestinationNode) {
      const an = this.context.createAnalyser();
      an.fftSize = 256;
      connect.call(this, an);
      window.__analysers.push(an);
    }
    return connect.call(this, dest, ...rest);
  };
})();"""

# Every 10 ms: the level going to the speakers and the reply position the page believes heard.
SAMPLE_PLAYED = """() => {
  const buf = new Float32Array(256);
  window.__sound = [];
  setInterval(() => {
    let level = 0;
    for (const an of window.__analysers) {
      an.getFloatTimeDomainData(buf);
      let sum = 0;
      for (const x of buf) sum += x * x;
      level = Math.max(level, Math.sqrt(sum / buf.length));
    }
    window.__sound.push({ t: performance.now(), rms: level, heard: window.zenglow.heard() });
  }, 10);
}"""

# The reply whose lips are measured: a real model's replies vary from a word to a paragraph,
# and a short one has too few loud and quiet edges to place the lips within tens of ms.
REPLY = (
    "Here is what I found. The lamps light up one by one along the quiet street. "
    "After that, the evening settles in, and the whole city hums softly. "
    "Would you like to hear more?"
)


def speech_at(cues: list[tuple[float, float, str]], ms: float) -> bool:
    return any(s <= ms < e and v != "sil" for s, e, v in cues)


def lip_lag(sound: list[dict], events: list[dict]) -> tuple[int, float]:
    """The shift (ms) of the cue timeline that best matches what the analyser heard, and the
    share of clearly loud or clearly quiet samples that agree with the cues at that shift."""
    cues: dict[str, list[tuple[float, float, str]]] = {}
    for ev in events:
        base = ev["audio_offset_ms"]
        cues.setdefault(ev["response_id"], []).extend(
            (base + c["start_ms"], base + c["end_ms"], c["viseme"]) for c in ev["cues"]
        )
    heard = [
        (s["heard"]["responseId"], s["heard"]["ms"], s["rms"] > LOUD)
        for s in sound
        if s["heard"] and (s["rms"] > LOUD or s["rms"] < QUIET)
    ]
    assert len(heard) > 50, f"too few samples while a reply was heard: {len(heard)}"

    def agree(lag: int) -> float:
        hits = sum(speech_at(cues.get(r, []), ms + lag) == loud for r, ms, loud in heard)
        return hits / len(heard)

    scores = {lag: agree(lag) for lag in range(-400, 401, 10)}
    top = max(scores.values())
    # A short reply has few loud/quiet edges, so shifts a few percent apart are equally good
    # fits: report the smallest shift among them, not the noise-picked maximum.
    best = min((lag for lag, score in scores.items() if score >= top - 0.03), key=abs)
    return best, scores[best]
