// Mira, the built-in avatar: a stylised head made in code, lips driven by viseme weights,
// idle life and expressions from Behaviour, glasses and a cool rim light for Leonardo.
import * as THREE from "three";
import { AvatarBase, SILENCE } from "./avatar-base.js";
import { buildMaterials } from "./mira-materials.js";
import { buildBody, buildGlasses } from "./mira-outfit.js";
import { JAW_ANGLE, VISEME_POSES } from "./mira-shapes.js";
import { LID_CLOSED, LID_OPEN, LOWER_OPEN, buildBrow, buildEar, buildEye } from "./mira-features.js";
import { buildHair } from "./mira-hair.js";
import { buildHead, buildLips, buildMouth } from "./mira-parts.js";
import { VISEMES, follow } from "./visemes.js";


export class Mira extends AvatarBase {
  constructor(stage, { random = Math.random } = {}) {
    super(stage, { random });
    const m = (this.materials = buildMaterials(stage.software));
    this.root = new THREE.Group();
    this.headGroup = new THREE.Group(); // pivots at the top of the neck
    this.headGroup.position.set(0, -0.62, -0.1);
    const head = new THREE.Group();
    head.position.set(0, 0.62, 0.1);
    this.headGroup.add(head);
    // software WebGL: fewer vertices, most of them kept for the face
    this.head = new THREE.Mesh(buildHead(stage.software ? 0.7 : 1), m.skin);
    this.hair = new THREE.Mesh(buildHair(stage.software ? 0.6 : 1), m.hair);
    this.lips = new THREE.Mesh(buildLips(), m.lips);
    this.mouth = buildMouth(m);
    this.eyes = [-1, 1].map((side) => buildEye(m, side));
    this.brows = [-1, 1].map((side) => buildBrow(m.brow, side));
    this.browRest = this.brows.map((b) => b.position.y);
    this.ears = [-1, 1].map((side) => buildEar(m.skin, side));
    this.glasses = buildGlasses(m.frame, m.lens);
    head.add(
      this.head,
      this.hair,
      this.lips,
      this.mouth.cavity,
      this.mouth.upperTeeth,
      this.mouth.jaw,
      ...this.ears,
      this.glasses,
    );
    for (const e of this.eyes) head.add(e.group);
    head.add(...this.brows);
    this.body = new THREE.Group();
    this.body.add(...buildBody(m.skin, m.cloth));
    this.root.add(this.headGroup, this.body);
    stage.scene.add(this.root);
    stage.frame((t, dt) => this.update(t, dt));
  }

  update(t, dt) {
    follow(this.weights, this.source() || SILENCE, dt);
    const rig = { open: 0, wide: 0, round: 0, upper: 0, tongueUp: 0, tongueOut: 0 };
    VISEMES.forEach((v, i) => {
      for (const k in rig) rig[k] += this.weights[i] * (VISEME_POSES[v][k] || 0);
    });
    const p = this.behaviour.update(t, dt, rig.open);
    const lips = this.lips.morphTargetInfluences;
    for (let i = 0; i < VISEMES.length; i++) lips[i] = i === 0 ? 0 : this.weights[i];
    lips[VISEMES.length] = p.smile;
    lips[VISEMES.length + 1] = p.pucker * (1 - rig.open);
    const head = this.head.morphTargetInfluences;
    head[0] = rig.open;
    head[1] = rig.wide;
    head[2] = rig.round + 0.85 * p.pucker; // the skin follows the puckered lips in
    head[3] = p.smile;
    head[4] = rig.upper;
    this.mouth.jaw.rotation.x = JAW_ANGLE * rig.open;
    const tongue = this.mouth.tongue;
    tongue.position.copy(this.mouth.tongueRest);
    tongue.position.y += 0.028 * rig.tongueUp + 0.012 * rig.tongueOut;
    tongue.position.z += 0.015 * rig.tongueUp + 0.07 * rig.tongueOut;
    tongue.rotation.x = -0.45 * rig.tongueUp;

    this.headGroup.rotation.set(-p.headPitch, p.headYaw, p.headRoll);
    this.headGroup.position.y = -0.62 + 0.004 * p.breath;
    this.body.position.y = 0.006 * p.breath;
    for (const e of this.eyes) {
      e.ball.rotation.set(-p.gazePitch, p.gazeYaw, 0);
      const open = LID_OPEN - 0.16 * p.lidWide - 0.35 * p.gazePitch;
      e.upper.rotation.x = open + (LID_CLOSED - open) * p.blink;
      e.lower.rotation.x = LOWER_OPEN - 0.1 * p.smile - 0.1 * p.gazePitch - 0.35 * p.blink;
    }
    this.brows.forEach((b, i) => {
      const side = i === 0 ? -1 : 1;
      const lift = 0.03 * p.browUp - 0.016 * p.browDown + (side > 0 ? 0.035 * p.browL : -0.006 * p.browL);
      b.position.y = this.browRest[i] + lift;
      b.rotation.z = side * (-0.16 * p.browInner + 0.1 * p.browDown);
    });
    this.glasses.visible = p.glasses > 0.02;
    this.glasses.position.y = 0.25 * (1 - p.glasses);
    this.materials.frame.opacity = p.glasses;
    this.materials.lens.opacity = 0.1 * p.glasses;
    this.stage.setRim(p.glasses);
  }
}
