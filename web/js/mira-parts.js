// Mira's head: skin (with jaw, wide, round, smile and upper-lip morphs), lips (one morph
// target per viseme), teeth and tongue.
import * as THREE from "three";
import { FACE, VISEME_POSES, faceZ, lipsMesh, pose, shapeHead, skinDeltas, smooth } from "./mira-shapes.js";
import { SKIN } from "./mira-materials.js";
import { addMorphs, geometry, grid } from "./mira-mesh.js";
import { cover } from "./mira-hair.js";
import { VISEMES } from "./visemes.js";

export const HEAD_MORPHS = ["jaw", "wide", "round", "smile", "upper"];
export const LIP_MORPHS = [...VISEMES, "smile", "pucker"];

function skinColor(x, y, z, [ux, uy, uz]) {
  const { eyeX: EX, eyeY: EY, noseY: N, mouthY: M } = FACE;
  const c = SKIN.clone();
  const ax = Math.abs(x);
  const d2 = (cx, cy, sx, sy) => Math.exp(-(((ax - cx) / sx) ** 2 + ((y - cy) / sy) ** 2) / 2);
  c.lerp(new THREE.Color("#f0a096"), 0.42 * d2(EX + 0.06, N - 0.04, 0.1, 0.08)); // cheeks
  c.lerp(new THREE.Color("#eaa89a"), 0.3 * d2(0, N, 0.04, 0.035)); // nose tip
  c.lerp(new THREE.Color("#c9988f"), 0.3 * d2(EX, EY + 0.1, 0.1, 0.035)); // lids' shade
  c.lerp(new THREE.Color("#a87468"), 0.35 * d2(EX + 0.01, EY + 0.085, 0.075, 0.01)); // the lids' fold
  c.lerp(new THREE.Color("#d8ab95"), 0.2 * d2(EX, EY - 0.08, 0.08, 0.04)); // under the eyes
  c.lerp(new THREE.Color("#e0a597"), 0.25 * d2(0, M, 0.16, 0.05)); // around the lips
  c.lerp(new THREE.Color("#e3b096"), 0.3 * smooth(-0.5, -0.85, y)); // under the jaw, warm
  c.lerp(new THREE.Color("#e6b39b"), 0.25 * smooth(0.3, -0.2, z)); // the sides turn warmer
  const hair = cover(Math.atan2(ux, uz), Math.asin(uy));
  c.lerp(new THREE.Color("#a86f5c"), 0.55 * smooth(-0.09, 0.0, hair)); // the hair's soft shade
  return [c.r, c.g, c.b];
}

/** The rows' latitudes: denser over the face (eyes to chin), one exactly on the mouth's line. */
function faceRows(segV) {
  let uy = FACE.mouthY;
  for (let i = 0; i < 30; i++) {
    const y = shapeHead(0, uy, Math.sqrt(1 - uy * uy))[1];
    const y2 = shapeHead(0, uy + 1e-4, Math.sqrt(1 - (uy + 1e-4) ** 2))[1];
    uy -= (y - FACE.mouthY) / ((y2 - y) / 1e-4);
  }
  const latM = Math.asin(uy);
  // invert the cumulative density, sampled finely from the top down
  const n = 2000;
  const density = (lat) => 1 + 1.6 * Math.exp(-(((lat + 0.25) / 0.42) ** 2));
  const cum = [0];
  for (let i = 1; i <= n; i++) cum.push(cum[i - 1] + density(Math.PI / 2 - (Math.PI * (i - 0.5)) / n));
  const lats = [];
  let j = 0;
  for (let iv = 0; iv <= segV; iv++) {
    const target = (cum[n] * iv) / segV;
    while (j < n && cum[j + 1] < target) j++;
    const f = j < n ? (target - cum[j]) / (cum[j + 1] - cum[j]) : 0;
    lats.push(Math.PI / 2 - (Math.PI * (j + f)) / n);
  }
  let k = 0;
  for (let iv = 1; iv <= segV; iv++) if (Math.abs(lats[iv] - latM) < Math.abs(lats[k] - latM)) k = iv;
  const top = (Math.PI / 2 - latM) / (Math.PI / 2 - lats[k]);
  const bottom = (latM + Math.PI / 2) / (lats[k] + Math.PI / 2);
  return (iv) =>
    iv <= k ? Math.PI / 2 + (lats[iv] - Math.PI / 2) * top : -Math.PI / 2 + (lats[iv] + Math.PI / 2) * bottom;
}

export function buildHead(detail = 1) {
  const segV = Math.round(170 * detail);
  const { pos, unit, index } = grid(
    Math.round(150 * detail),
    segV,
    (ux, uy, uz) => shapeHead(ux, uy, uz),
    faceRows(segV),
  );
  const Y = FACE.mouthY;
  const W = FACE.mouthW - 0.02;
  // the mouth: every triangle touching the row on the mouth's line, between the corners
  const inside = (v) => {
    const [x, y, z] = [pos[v * 3], pos[v * 3 + 1], pos[v * 3 + 2]];
    return z > 0.4 && (x / W) ** 2 + ((y - Y) / 0.011) ** 2 < 1;
  };
  const hole = (a, b, c) => inside(a) || inside(b) || inside(c);
  const kept = [];
  const cut = new Set();
  for (let i = 0; i < index.length; i += 3) {
    const tri = [index[i], index[i + 1], index[i + 2]];
    if (hole(...tri)) tri.forEach((v) => cut.add(v));
    else kept.push(...tri);
  }
  // the rim follows the ellipse exactly, so the opening has a clean edge
  const used = new Set(kept);
  for (const v of cut) {
    const x = pos[v * 3];
    if (!used.has(v)) continue;
    const h = Math.max(0.002, 0.011 * Math.sqrt(Math.max(0, 1 - (x / W) ** 2)));
    pos[v * 3 + 1] = Y + Math.sign(pos[v * 3 + 1] - Y || 1) * h;
  }
  const g = geometry(pos, kept);
  const colors = [];
  const poses = HEAD_MORPHS.map(() => pos.slice());
  for (let i = 0; i < pos.length; i += 3) {
    colors.push(...skinColor(pos[i], pos[i + 1], pos[i + 2], unit[i / 3]));
    const d = skinDeltas(pos[i], pos[i + 1], pos[i + 2]);
    HEAD_MORPHS.forEach((k, m) => {
      poses[m][i] += d[k][0];
      poses[m][i + 1] += d[k][1];
      poses[m][i + 2] += d[k][2];
    });
  }
  g.setAttribute("color", new THREE.Float32BufferAttribute(colors, 3));
  addMorphs(g, poses);
  return g;
}

export function buildLips() {
  const zBase = (u) => faceZ(u * FACE.mouthW, FACE.mouthY);
  const zs = Array.from({ length: 49 }, (_, i) => zBase(-1 + i / 24));
  const z = (u) => zs[Math.round((u + 1) * 24)];
  const base = lipsMesh(pose(), z);
  const g = geometry(base.positions, base.index);
  const poses = [
    ...VISEMES.map((v) => lipsMesh(pose(VISEME_POSES[v]), z).positions),
    lipsMesh(pose({ smile: 1 }), z).positions,
    lipsMesh(pose({ pucker: 1 }), z).positions,
  ];
  addMorphs(g, poses);
  return g;
}

export function buildMouth(materials) {
  const Y = FACE.mouthY;
  const zm = faceZ(0, Y);
  const cavity = new THREE.Mesh(new THREE.SphereGeometry(0.16, 32, 20), materials.cavity);
  cavity.scale.set(1.0, 0.75, 0.7);
  cavity.position.set(0, Y - 0.035, zm - 0.225); // well behind the chin
  const upperTeeth = new THREE.Mesh(
    new THREE.CylinderGeometry(0.16, 0.15, 0.042, 48, 1, true, -0.85, 1.7),
    materials.upperTeeth,
  );
  upperTeeth.position.set(0, Y + 0.006, zm - 0.014 - 0.16);
  const [, py, pz] = FACE.jawPivot;
  const jaw = new THREE.Group();
  jaw.position.set(0, py, pz);
  const lowerTeeth = new THREE.Mesh(
    new THREE.CylinderGeometry(0.145, 0.14, 0.034, 48, 1, true, -0.8, 1.6),
    materials.lowerTeeth,
  );
  lowerTeeth.position.set(0, Y - 0.024 - py, zm - 0.026 - 0.145 - pz);
  const tongue = new THREE.Mesh(new THREE.SphereGeometry(1, 20, 12), materials.tongue);
  tongue.scale.set(0.08, 0.026, 0.1);
  const tongueRest = new THREE.Vector3(0, Y - 0.032 - py, zm - 0.165 - pz);
  tongue.position.copy(tongueRest);
  jaw.add(lowerTeeth, tongue);
  return { cavity, upperTeeth, jaw, tongue, tongueRest };
}
