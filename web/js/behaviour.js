// Mira's behaviour (pure): idle life (blinks, breathing, small head motion, eye saccades) and
// an expression for each conversation state. update(t, dt, speech) -> a pose of plain numbers.

const NEUTRAL = {
  smile: 0,
  browUp: 0,
  browInner: 0,
  browDown: 0,
  lidWide: 0,
  gaze: [0, 0],
  head: [0, 0],
  browL: 0,
  pucker: 0,
};

const EXPRESSIONS = {
  idle: { ...NEUTRAL, smile: 0.28, browUp: 0.05 },
  listening: { ...NEUTRAL, smile: 0.3, browUp: 0.08, lidWide: 0.05 },
  user_speaking: {
    ...NEUTRAL, smile: 0.18, browUp: 0.22, browInner: 0.3, lidWide: 0.25, head: [-0.03, 0.09],
  },
  thinking: {
    ...NEUTRAL, smile: 0.05, browUp: 0.05, browDown: 0.15, lidWide: -0.05,
    gaze: [-0.3, 0.18], head: [0.06, -0.07], browL: 0.6, pucker: 0.55,
  },
  // a tool runs: busy, eyes down and to the side as if reading, brows drawn in
  working: {
    ...NEUTRAL, smile: 0.08, browInner: 0.2, browDown: 0.25, lidWide: -0.1,
    gaze: [0.25, -0.2], head: [0.04, 0.08],
  },
  speaking: { ...NEUTRAL, smile: 0.32, browUp: 0.12, lidWide: 0.08 },
  interrupted: { ...NEUTRAL },
};
const SCALARS = ["smile", "browUp", "browInner", "browDown", "lidWide", "browL", "pucker"];

export class Behaviour {
  constructor(random = Math.random) {
    this.random = random;
    this.state = "idle";
    this.stateAt = 0;
    this.persona = "jarvis";
    this.expr = { ...EXPRESSIONS.idle, gaze: [0, 0], head: [0, 0] };
    this.nextBlink = 1 + 3 * random();
    this.blinkAt = -1;
    this.nextSaccade = 0.5;
    this.saccade = [0, 0];
    this.gaze = [0, 0];
    this.nodAt = -10;
    this.nextNod = 3;
    this.glasses = 0;
    this.energy = 0;
  }

  setState(state, t) {
    if (!EXPRESSIONS[state] || state === this.state) return;
    this.state = state;
    this.stateAt = t;
    if (state === "user_speaking" || state === "interrupted")
      this.nextBlink = Math.min(this.nextBlink, t + 0.15);
  }

  setPersona(persona) {
    this.persona = persona;
  }

  /** speech: 0..1, how open the mouth is now (brows and head follow it while speaking). */
  update(t, dt, speech = 0) {
    const r = this.random;
    const target = EXPRESSIONS[this.state];
    const leo = this.persona === "leonardo";
    const quick = this.state === "interrupted" && t - this.stateAt < 0.8;
    const a = 1 - Math.exp(-dt / (quick ? 0.07 : 0.3));
    for (const k of SCALARS) {
      let goal = target[k];
      if (leo && k === "smile") goal *= 0.5; // Leonardo: more serious
      if (leo && k === "browDown") goal += 0.12;
      this.expr[k] += (goal - this.expr[k]) * a;
    }
    for (const k of ["gaze", "head"]) {
      for (let i = 0; i < 2; i++) this.expr[k][i] += (target[k][i] - this.expr[k][i]) * a;
    }
    this.energy += (speech - this.energy) * (1 - Math.exp(-dt / 0.15));
    this.glasses += ((leo ? 1 : 0) - this.glasses) * (1 - Math.exp(-dt / 0.25));

    // blinks: 2-6 s apart, now and then a double blink
    if (t >= this.nextBlink) {
      this.blinkAt = t;
      this.nextBlink = t + (r() < 0.15 ? 0.28 : 2 + 4 * r());
    }
    const b = (t - this.blinkAt) / 0.17;
    const blink = b < 0 || b > 1 ? 0 : b < 0.35 ? b / 0.35 : 1 - (b - 0.35) / 0.65;

    // saccades: small quick jumps of the gaze; fewer while the user speaks
    if (t >= this.nextSaccade) {
      const spread = { user_speaking: 0.02, thinking: 0.08, working: 0.12 }[this.state] ?? 0.05;
      this.saccade = [(r() - 0.5) * 2 * spread, (r() - 0.5) * spread];
      const rest = { user_speaking: 1.2, working: 0.15 }[this.state] ?? 0.5; // working: scanning
      this.nextSaccade = t + rest + (this.state === "working" ? 0.4 : 2) * r();
    }
    const sa = 1 - Math.exp(-dt / 0.025);
    for (let i = 0; i < 2; i++) this.gaze[i] += (this.expr.gaze[i] + this.saccade[i] - this.gaze[i]) * sa;

    // attentive nods while the user speaks
    if (this.state === "user_speaking" && t >= this.nextNod) {
      this.nodAt = t;
      this.nextNod = t + 2.5 + 2 * r();
    }
    const n = (t - this.nodAt) / 0.7;
    const nod = n >= 0 && n <= 1 ? Math.sin(n * Math.PI) * 0.05 : 0;

    const lively = this.state === "speaking" ? 1.8 : 1;
    const breath = Math.sin((t * 2 * Math.PI) / 4.2);
    const sway = (f, p) => Math.sin(t * f + p);
    return {
      headYaw: lively * 0.03 * (sway(0.8, 0) + 0.5 * sway(1.9, 1)) + this.gaze[0] * 0.25,
      headPitch:
        this.expr.head[0] +
        lively * 0.02 * sway(1.1, 2) +
        0.008 * breath +
        nod -
        this.gaze[1] * 0.2 +
        0.04 * this.energy,
      headRoll: this.expr.head[1] + lively * 0.015 * sway(0.6, 4),
      breath,
      gazeYaw: this.gaze[0],
      gazePitch: this.gaze[1],
      blink,
      lidWide: this.expr.lidWide,
      smile: this.expr.smile,
      pucker: this.expr.pucker,
      browUp: this.expr.browUp + (this.state === "speaking" ? 0.35 * this.energy : 0),
      browInner: this.expr.browInner,
      browDown: this.expr.browDown,
      browL: this.expr.browL,
      glasses: this.glasses,
      leonardo: leo,
    };
  }
}
