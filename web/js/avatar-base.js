// What every avatar shares: a behaviour (idle life and expressions per state), viseme weights
// that follow a source with co-articulation, and the small API the pages drive.

import { Behaviour } from "./behaviour.js";
import { VISEMES, named } from "./visemes.js";

export const SILENCE = Float32Array.from(VISEMES, (v) => (v === "sil" ? 1 : 0));

export class AvatarBase {
  constructor(stage, { random = Math.random } = {}) {
    this.stage = stage;
    this.behaviour = new Behaviour(random);
    this.weights = SILENCE.slice();
    this.source = () => SILENCE;
  }

  setVisemeSource(fn) {
    this.source = fn;
  }

  setState(state) {
    this.behaviour.setState(state, performance.now() / 1000);
  }

  setPersona(persona) {
    this.behaviour.setPersona(persona);
  }

  visemes() {
    return named(this.weights);
  }
}
