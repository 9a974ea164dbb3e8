// What Mira wears: her neck and shoulders in a knit top, and Leonardo's glasses.
import * as THREE from "three";
import { FACE } from "./mira-shapes.js";

export function buildBody(skin, cloth) {
  const neck = new THREE.Mesh(new THREE.CylinderGeometry(0.26, 0.34, 0.7, 40, 1, true), skin);
  neck.position.set(0, -0.92, -0.14);
  neck.rotation.x = 0.12;
  // shoulders: a lathe profile from the neckline out over the shoulders, flattened front to back
  const profile = [
    [0.33, -1.04],
    [0.46, -1.08],
    [0.68, -1.16],
    [0.9, -1.25],
    [1.05, -1.38],
    [1.13, -1.55],
    [1.17, -1.85],
    [1.17, -2.6],
  ].map(([r, y]) => new THREE.Vector2(r, y));
  const torsoGeo = new THREE.LatheGeometry(profile, 48);
  torsoGeo.scale(1, 1, 0.55);
  const torso = new THREE.Mesh(torsoGeo, cloth);
  torso.position.z = -0.16;
  return [neck, torso];
}

export function buildGlasses(frameMat, lensMat) {
  const g = new THREE.Group();
  const zg = 0.9;
  for (const side of [-1, 1]) {
    const rim = new THREE.Mesh(new THREE.TorusGeometry(0.12, 0.008, 10, 48), frameMat);
    rim.scale.set(1.18, 0.92, 1);
    rim.position.set(side * FACE.eyeX, FACE.eyeY, zg);
    const lens = new THREE.Mesh(new THREE.CircleGeometry(0.12, 48), lensMat);
    lens.scale.copy(rim.scale);
    lens.position.copy(rim.position);
    const arm = new THREE.Mesh(new THREE.CylinderGeometry(0.007, 0.007, 0.36, 8), frameMat);
    arm.rotation.order = "YXZ";
    arm.rotation.set(Math.PI / 2, side * 0.3, 0); // from the rim's outer edge back into the hair
    arm.position.set(side * 0.45, FACE.eyeY + 0.02, zg - 0.17);
    g.add(rim, lens, arm);
  }
  const bridge = new THREE.Mesh(new THREE.TorusGeometry(0.05, 0.007, 8, 24, Math.PI), frameMat);
  bridge.position.set(0, FACE.eyeY + 0.0, zg + 0.005);
  g.add(bridge);
  return g;
}
