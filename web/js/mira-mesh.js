// Mesh helpers for Mira's parts: a sphere grid to deform, indexed geometry, morph targets.
import * as THREE from "three";

/** Longitude (0 = front) of grid column iu of segU: denser towards the front. */
export const gridLon = (iu, segU) => {
  const t = -1 + (2 * iu) / segU;
  return Math.PI * (0.42 * t + 0.58 * t * t * t);
};

/** A sphere grid, denser towards the front (longitude 0). Calls f(ux, uy, uz) -> [x, y, z];
 *  latAt(iv) places the rows (evenly from the top by default). */
export function grid(segU, segV, f, latAt = (iv) => Math.PI / 2 - (Math.PI * iv) / segV) {
  const pos = [];
  const uv = [];
  const unit = [];
  for (let iv = 0; iv <= segV; iv++) {
    const lat = latAt(iv);
    for (let iu = 0; iu <= segU; iu++) {
      const lon = gridLon(iu, segU);
      const u = [Math.sin(lon) * Math.cos(lat), Math.sin(lat), Math.cos(lon) * Math.cos(lat)];
      unit.push(u);
      pos.push(...f(...u));
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

export function geometry(pos, index, uv = null, colors = null) {
  const g = new THREE.BufferGeometry();
  g.setAttribute("position", new THREE.Float32BufferAttribute(pos, 3));
  if (uv) g.setAttribute("uv", new THREE.Float32BufferAttribute(uv, 2));
  if (colors) g.setAttribute("color", new THREE.Float32BufferAttribute(colors, 3));
  g.setIndex(index);
  g.computeVertexNormals();
  return g;
}

/** Morph targets (relative positions and normals) from full poses of the same topology. */
export function addMorphs(g, poses) {
  const base = g.attributes.position.array;
  const baseN = g.attributes.normal.array;
  const index = Array.from(g.index.array);
  g.morphAttributes.position = [];
  g.morphAttributes.normal = [];
  for (const p of poses) {
    const n = geometry(p, index).attributes.normal.array;
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

/** A tube of varying radius along points [[x, y, z], ...]: radius(t) for t in 0..1, with
 *  `flat` squashing the section across the curve's plane (1 = round). Ends are closed. */
export function taperedTube(points, radius, { sides = 8, flat = 1, up = [0, 0, 1] } = {}) {
  const curve = new THREE.CatmullRomCurve3(points.map((p) => new THREE.Vector3(...p)));
  const n = Math.max(8, points.length * 6);
  const frames = curve.computeFrenetFrames(n, false);
  const pos = [];
  const index = [];
  const u = new THREE.Vector3(...up);
  for (let i = 0; i <= n; i++) {
    const t = i / n;
    const c = curve.getPointAt(t);
    const tan = frames.tangents[i];
    const side = new THREE.Vector3().crossVectors(tan, u).normalize();
    const nrm = new THREE.Vector3().crossVectors(side, tan).normalize();
    const r = radius(t);
    for (let j = 0; j < sides; j++) {
      const a = (2 * Math.PI * j) / sides;
      const p = c
        .clone()
        .addScaledVector(side, r * Math.cos(a))
        .addScaledVector(nrm, r * flat * Math.sin(a));
      pos.push(p.x, p.y, p.z);
    }
  }
  for (let i = 0; i < n; i++) {
    for (let j = 0; j < sides; j++) {
      const a = i * sides + j;
      const b = i * sides + ((j + 1) % sides);
      index.push(a, b, a + sides, b, b + sides, a + sides);
    }
  }
  return geometry(pos, index);
}
