// Mira's head: skin (with jaw, wide, round, smile and upper-lip morphs), hair, eyes with lids
// and lashes, brows, lips (one morph target per viseme), teeth and tongue.
import * as THREE from "three";
import { FACE, VISEME_POSES, faceZ, lipsMesh, pose, shapeHead, skinDeltas, smooth } from "./mira-shapes.js";
import { SKIN } from "./mira-materials.js";
import { VISEMES } from "./visemes.js";

export const HEAD_MORPHS = ["jaw", "wide", "round", "smile", "upper"];
export const LIP_MORPHS = [...VISEMES, "smile", "pucker"];

/** A sphere grid, denser towards the front (longitude 0). Calls f(ux, uy, uz) -> [x, y, z]. */
function grid(segU, segV, f) {
  const pos = [];
  const uv = [];
  const unit = [];
  for (let iv = 0; iv <= segV; iv++) {
    const lat = Math.PI / 2 - (Math.PI * iv) / segV;
    for (let iu = 0; iu <= segU; iu++) {
      const t = -1 + (2 * iu) / segU;
      const lon = Math.PI * (0.42 * t + 0.58 * t * t * t);
      const u = [Math.sin(lon) * Math.cos(lat), Math.sin(lat), Math.cos(lon) * Math.cos(lat)];
      unit.push(u);
      pos.push(...f(u[0], u[1], u[2]));
      uv.push(iu / segU, 1 - iv / segV);
    }
  }
  const index = [];
  for (let iv = 0; iv < segV; iv++) {
    for (let iu = 0; iu < segU; iu++) {
      const a = iv * (segU + 1) + iu;
      const b = a + segU + 1;
      index.push(a, b, a + 1, a + 1, b, b + 1);
    }
  }
  return { pos, uv, unit, index };
}

function geometry(pos, index, uv = null) {
  const g = new THREE.BufferGeometry();
  g.setAttribute("position", new THREE.Float32BufferAttribute(pos, 3));
  if (uv) g.setAttribute("uv", new THREE.Float32BufferAttribute(uv, 2));
  g.setIndex(index);
  g.computeVertexNormals();
  return g;
}

/** Morph targets (relative positions and normals) from full poses of the same topology. */
function addMorphs(g, poses) {
  const base = g.attributes.position.array;
  const baseN = g.attributes.normal.array;
  g.morphAttributes.position = [];
  g.morphAttributes.normal = [];
  for (const p of poses) {
    const posed = geometry(p, Array.from(g.index.array));
    const n = posed.attributes.normal.array;
    g.morphAttributes.position.push(
      new THREE.Float32BufferAttribute(
        p.map((v, i) => v - base[i]),
        3,
      ),
    );
    g.morphAttributes.normal.push(
      new THREE.Float32BufferAttribute(
        Array.from(n, (v, i) => v - baseN[i]),
        3,
      ),
    );
  }
  g.morphTargetsRelative = true;
}

function skinColor(x, y, z) {
  const c = SKIN.clone();
  const ax = Math.abs(x);
  const d2 = (cx, cy, sx, sy) => Math.exp(-(((ax - cx) / sx) ** 2 + ((y - cy) / sy) ** 2) / 2);
  c.lerp(new THREE.Color("#e99a8e"), 0.45 * d2(0.33, -0.2, 0.11, 0.1)); // cheeks
  c.lerp(new THREE.Color("#e8a294"), 0.3 * d2(0, -0.21, 0.04, 0.04)); // nose tip
  c.lerp(new THREE.Color("#b98a8c"), 0.4 * d2(0.27, 0.16, 0.1, 0.04)); // lids' shade
  c.lerp(new THREE.Color("#c89c86"), 0.3 * d2(0.265, 0.05, 0.08, 0.06)); // under the eyes
  c.lerp(new THREE.Color("#d79a8c"), 0.3 * d2(0, -0.43, 0.17, 0.05)); // around the lips
  c.lerp(new THREE.Color("#c99479"), 0.5 * smooth(-0.6, -1.0, y)); // under the jaw
  c.lerp(new THREE.Color("#d9a58c"), 0.3 * smooth(0.3, -0.2, z)); // the sides turn warmer
  return [c.r, c.g, c.b];
}

export function buildHead(detail = 1) {
  const { pos, index } = grid(Math.round(150 * detail), Math.round(170 * detail), (ux, uy, uz) =>
    shapeHead(ux, uy, uz),
  );
  const Y = FACE.mouthY;
  const hole = (a, b, c) => {
    const cx = (pos[a * 3] + pos[b * 3] + pos[c * 3]) / 3;
    const cy = (pos[a * 3 + 1] + pos[b * 3 + 1] + pos[c * 3 + 1]) / 3;
    const cz = (pos[a * 3 + 2] + pos[b * 3 + 2] + pos[c * 3 + 2]) / 3;
    return cz > 0.4 && (cx / 0.148) ** 2 + ((cy - Y) / 0.011) ** 2 < 1;
  };
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
    if (!used.has(v) || Math.abs(x) >= 0.148) continue;
    const h = 0.011 * Math.sqrt(1 - (x / 0.148) ** 2);
    pos[v * 3 + 1] = Y + Math.sign(pos[v * 3 + 1] - Y || 1) * h;
  }
  const g = geometry(pos, kept);
  const colors = [];
  const poses = HEAD_MORPHS.map(() => pos.slice());
  for (let i = 0; i < pos.length; i += 3) {
    colors.push(...skinColor(pos[i], pos[i + 1], pos[i + 2]));
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

export function buildHair(detail = 1) {
  const { pos, uv, index } = grid(Math.round(160 * detail), Math.round(160 * detail), (ux, uy, uz) => {
    const head = shapeHead(ux, uy, uz);
    // below the ears the hair falls straight, like a curtain, instead of following the skull
    const fall = Math.min(0, uy + 0.42);
    const k = fall < 0 ? Math.sqrt(1 - 0.42 ** 2) / Math.max(1e-3, Math.sqrt(1 - uy * uy)) : 1;
    const curtain = shapeHead(ux * k, uy - fall, uz * k);
    curtain[1] += fall * 0.8;
    const top = 0.5 - 0.2 * smooth(-0.45, 0.5, ux); // a side-swept fringe
    const face = 1 - (ux / 0.68) ** 2 - ((uy + 0.25) / (top + 0.25)) ** 2;
    const lon = Math.atan2(ux, uz);
    const hem = -0.6 - 0.22 * smooth(0.1, -0.7, uz) + 0.025 * Math.sin(lon * 9) * Math.sin(lon * 4 + 1);
    const shown = (1 - smooth(-0.14, 0.06, face) * smooth(0.0, 0.25, uz)) * smooth(hem - 0.08, hem, uy);
    const ends = smooth(hem + 0.45, hem + 0.05, uy) * (1 - smooth(0.3, 0.7, uz));
    const thick = 0.055 + 0.05 * smooth(0.2, 0.95, uy) + 0.05 * ends + 0.008 * Math.sin(lon * 23);
    const s = 1 + thick - 0.05 * smooth(hem + 0.12, hem, uy); // the ends curl in
    return [0, 1, 2].map(
      (i) => head[i] * 0.96 * (1 - shown) + curtain[i] * s * shown + (i === 1 ? 0.015 * shown : 0),
    );
  });
  return geometry(pos, index, uv);
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

export function buildEye(material, side) {
  const r = 0.1;
  const group = new THREE.Group();
  const zc = faceZ(FACE.eyeX, FACE.eyeY) - r + 0.042;
  group.position.set(side * FACE.eyeX, FACE.eyeY, zc);
  group.rotation.z = side * -0.07; // outer corners slightly up
  const ballGeo = new THREE.SphereGeometry(r, 40, 24);
  ballGeo.rotateX(Math.PI / 2); // the texture's pole (the pupil) looks forward
  const ball = new THREE.Mesh(ballGeo, material.eye);
  group.add(ball);
  const upper = new THREE.Group();
  const upperTheta = 0.4 * Math.PI;
  upper.add(
    new THREE.Mesh(new THREE.SphereGeometry(r * 1.07, 40, 16, 0, Math.PI * 2, 0, upperTheta), material.lid),
  );
  const lash = new THREE.Mesh(
    new THREE.TorusGeometry(r * 1.07 * Math.sin(upperTheta), 0.0085, 8, 48, Math.PI),
    material.lash,
  );
  lash.rotation.x = Math.PI / 2;
  lash.position.y = r * 1.07 * Math.cos(upperTheta);
  lash.scale.set(1.02, 1.02, 1);
  upper.add(lash);
  const lower = new THREE.Group();
  const lowerTheta = 0.32 * Math.PI;
  lower.add(
    new THREE.Mesh(
      new THREE.SphereGeometry(r * 1.05, 40, 12, 0, Math.PI * 2, Math.PI - lowerTheta, lowerTheta),
      material.lid,
    ),
  );
  group.add(upper, lower);
  return { group, ball, upper, lower };
}

export function buildBrow(material, side) {
  const pts = [
    [0.07, 0.215],
    [0.16, 0.238],
    [0.28, 0.242],
    [0.39, 0.208],
  ].map(([x, y]) => new THREE.Vector3(side * x, y, faceZ(x, y) + 0.003));
  const curve = new THREE.CatmullRomCurve3(pts);
  const positions = [];
  const index = [];
  const n = 32;
  const m = 10;
  for (let i = 0; i <= n; i++) {
    const t = i / n;
    const c = curve.getPoint(t);
    const ry = 0.004 + 0.014 * Math.sin(Math.PI * Math.min(1, t * 1.6 + 0.15)) * (1 - 0.45 * t);
    for (let j = 0; j < m; j++) {
      const a = (2 * Math.PI * j) / m;
      positions.push(c.x, c.y + ry * Math.cos(a), c.z + 0.006 * Math.sin(a));
    }
  }
  for (let i = 0; i < n; i++) {
    for (let j = 0; j < m; j++) {
      const a = i * m + j;
      const b = i * m + ((j + 1) % m);
      if (side > 0) index.push(a, b, a + m, b, b + m, a + m);
      else index.push(a, a + m, b, b, a + m, b + m);
    }
  }
  const mesh = new THREE.Mesh(geometry(positions, index), material);
  const pivot = new THREE.Group();
  const mid = curve.getPoint(0.45);
  pivot.position.copy(mid);
  mesh.position.copy(mid).negate();
  pivot.add(mesh);
  return pivot;
}

export function buildMouth(materials) {
  const Y = FACE.mouthY;
  const zm = faceZ(0, Y);
  const cavity = new THREE.Mesh(new THREE.SphereGeometry(0.16, 32, 20), materials.cavity);
  cavity.scale.set(1.0, 0.8, 0.7);
  cavity.position.set(0, Y - 0.04, zm - 0.2);
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
