// Viseme cues -> mouth-shape weights (pure). Cues are kept in milliseconds of their response's
// audio; the avatar asks for the weights at the position being heard, so lips follow the same
// clock as the sound, with smooth overlaps between neighbouring shapes.

export const VISEMES = [
  "sil",
  "PP",
  "FF",
  "TH",
  "DD",
  "kk",
  "CH",
  "SS",
  "nn",
  "RR",
  "aa",
  "E",
  "ih",
  "oh",
  "ou",
];
export const VISEME_INDEX = Object.fromEntries(VISEMES.map((v, i) => [v, i]));

const smoothstep = (x) => (x <= 0 ? 0 : x >= 1 ? 1 : x * x * (3 - 2 * x));

/** Weight of a cue [start, end] at time t; ramps of `ramp` ms centred on its edges. */
export function envelope(t, start, end, ramp) {
  return smoothstep((t - start + ramp / 2) / ramp) * smoothstep((end + ramp / 2 - t) / ramp);
}

export class CueTrack {
  constructor({ rampMs = 80, keepMs = 4000 } = {}) {
    this.rampMs = rampMs;
    this.keepMs = keepMs;
    this.responses = new Map(); // responseId -> [{v, s, e}] in response milliseconds
  }

  /** A `zenglow.visemes` event. */
  add(event) {
    let cues = this.responses.get(event.response_id);
    if (!cues) this.responses.set(event.response_id, (cues = []));
    const base = event.audio_offset_ms || 0;
    for (const c of event.cues || []) {
      const v = VISEME_INDEX[c.viseme];
      if (v === undefined) continue;
      cues.push({ v, s: base + c.start_ms, e: base + c.end_ms });
    }
    cues.sort((a, b) => a.s - b.s);
  }

  drop(responseId) {
    this.responses.delete(responseId);
  }

  clear() {
    this.responses.clear();
  }

  /** Target weights (Float32Array, one per viseme, summing to 1) at `ms` into the response. */
  targetAt(responseId, ms, out = new Float32Array(VISEMES.length)) {
    out.fill(0);
    const cues = responseId == null ? null : this.responses.get(responseId);
    let total = 0;
    if (cues) {
      const r = this.rampMs;
      for (const c of cues) {
        if (c.s - r > ms) break;
        if (c.e + r < ms || c.v === 0) continue;
        const w = envelope(ms, c.s, c.e, r);
        if (w > out[c.v]) {
          total += w - out[c.v];
          out[c.v] = w;
        }
      }
      if (cues.length && cues[0].s < ms - this.keepMs) {
        this.responses.set(
          responseId,
          cues.filter((c) => c.e >= ms - this.keepMs),
        );
      }
    }
    if (total > 1) for (let i = 1; i < out.length; i++) out[i] /= total;
    out[0] = Math.max(0, 1 - Math.min(total, 1));
    return out;
  }
}

/** Follows targets with a critically damped lag of about `tauS`, so shapes blend, never snap. */
export function follow(current, target, dt, tauS = 0.045) {
  const a = 1 - Math.exp(-dt / tauS);
  for (let i = 0; i < current.length; i++) current[i] += (target[i] - current[i]) * a;
  return current;
}

/** Oculus visemes -> VRM's five mouth expressions (aa ih ou ee oh). */
export const VRM_MOUTH = {
  sil: {},
  PP: {},
  FF: { ih: 0.2 },
  TH: { aa: 0.2, ih: 0.3 },
  DD: { aa: 0.25, ih: 0.3 },
  kk: { aa: 0.4, ih: 0.2 },
  CH: { ih: 0.4, ou: 0.3 },
  SS: { ih: 0.5 },
  nn: { aa: 0.15, ih: 0.3 },
  RR: { ou: 0.5, oh: 0.2 },
  aa: { aa: 1 },
  E: { ee: 0.8, aa: 0.2 },
  ih: { ih: 0.9 },
  oh: { oh: 1 },
  ou: { ou: 1 },
};

export function vrmMouth(weights) {
  const out = { aa: 0, ih: 0, ou: 0, ee: 0, oh: 0 };
  VISEMES.forEach((v, i) => {
    for (const [k, f] of Object.entries(VRM_MOUTH[v])) out[k] += weights[i] * f;
  });
  for (const k in out) out[k] = Math.min(1, out[k]);
  return out;
}

/** Weights as {viseme name: weight}. */
export function named(weights) {
  return Object.fromEntries(VISEMES.map((v, i) => [v, Math.round(weights[i] * 1000) / 1000]));
}
