// Mira's eyes (ball, lids, lash line, catch light), brows and ears.
import * as THREE from "three";
import { geometry, taperedTube } from "./mira-mesh.js";
import { FACE, faceZ, shapeHead, smooth } from "./mira-shapes.js";
import { SKIN } from "./mira-materials.js";

export const EYE_R = FACE.eyeR;
/** The lids are half spheres turned about the eye's x axis (radians): their rest openings and
 *  where a blink takes the upper one. Their edges meet at the corners, so the eye is almond. */
export const LID_OPEN = -0.52;
export const LID_CLOSED = 0.36;
export const LOWER_OPEN = 0.6;
/** The eyes turn outwards with the face's curve; the balls turn back to look ahead. */
export const EYE_TURN = 0.2;

/** The upper lash line along the lid's edge: thin at the inner corner, thick towards the outer
 *  one, ending in a small wing. */
function lashLine(R, side) {
  const pts = [];
  for (let i = 0; i <= 14; i++) {
    const a = Math.PI * (0.1 + (0.86 * i) / 14); // from the outer corner to the inner one
    pts.push([side * R * Math.cos(a), 0, R * Math.sin(a)]);
  }
  pts.unshift([side * R * 1.03, -0.018, R * 0.3]); // the wing, lifted once the lid turns up
  const radius = (t) => 0.0045 + 0.013 * Math.sin(Math.PI * Math.min(1, 0.12 + t * 1.05)) ** 0.7;
  return taperedTube(pts, radius, { sides: 6, flat: 0.5, up: [0, 1, 0] });
}

export function buildEye(material, side) {
  const r = EYE_R;
  const group = new THREE.Group();
  const zc = FACE.eyeZ;
  group.position.set(side * FACE.eyeX, FACE.eyeY, zc);
  group.rotation.set(0, side * EYE_TURN, side * -0.07); // outer corners a little up
  const ballGeo = new THREE.SphereGeometry(r, 40, 24);
  ballGeo.rotateX(Math.PI / 2); // the texture's pole (the pupil) looks forward
  const ball = new THREE.Mesh(ballGeo, material.eye);
  // a soft catch light of the key light, fixed to the socket so it stays where the light is
  const glint = new THREE.Mesh(new THREE.CircleGeometry(0.011, 16), material.glint);
  const gx = -0.026 - side * 0.006;
  const gy = 0.03;
  glint.position.set(gx, gy, Math.sqrt(r * r - gx * gx - gy * gy) + 0.003);
  glint.lookAt(new THREE.Vector3(gx, gy, r).multiplyScalar(4));
  group.add(ball, glint);
  const lidR = r * 1.05;
  const upper = new THREE.Group();
  const upperLid = new THREE.SphereGeometry(lidR, 40, 16, 0, Math.PI * 2, 0, Math.PI / 2);
  upper.add(new THREE.Mesh(upperLid, material.lid));
  upper.add(new THREE.Mesh(lashLine(lidR * 1.01, side), material.lash));
  const lower = new THREE.Group();
  const lowR = r * 1.04;
  lower.add(
    new THREE.Mesh(
      new THREE.SphereGeometry(lowR, 40, 12, 0, Math.PI * 2, Math.PI / 2, Math.PI / 2),
      material.lid,
    ),
  );
  const lowerLash = new THREE.Mesh(
    new THREE.TorusGeometry(lowR * 1.005, 0.0026, 6, 32, Math.PI * 0.7),
    material.lowerLash,
  );
  lowerLash.rotation.set(Math.PI / 2, 0, Math.PI * 0.15);
  lower.add(lowerLash);
  group.add(upper, lower);
  return { group, ball, upper, lower };
}

/** A brow: a soft, tapering band on the skin, thick at the inner end, arched at two thirds. */
export function buildBrow(material, side) {
  const X = FACE.eyeX;
  const Y = FACE.eyeY + 0.15;
  const pts = [
    [X - 0.13, Y - 0.005],
    [X - 0.06, Y + 0.022],
    [X + 0.04, Y + 0.034],
    [X + 0.15, Y - 0.002],
  ].map(([x, y]) => new THREE.Vector3(side * x, y, faceZ(x, y) + 0.002));
  const curve = new THREE.CatmullRomCurve3(pts);
  const positions = [];
  const index = [];
  const n = 32;
  const m = 10;
  for (let i = 0; i <= n; i++) {
    const t = i / n;
    const c = curve.getPoint(t);
    const ry = 0.005 + 0.016 * Math.sin(Math.PI * Math.min(1, t * 1.4 + 0.22)) * (1 - 0.5 * t);
    for (let j = 0; j < m; j++) {
      const a = (2 * Math.PI * j) / m;
      positions.push(c.x, c.y + ry * Math.cos(a), c.z + 0.005 * Math.sin(a));
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

/** An ear: a flattened shell with a hollow bowl and a rolled rim, in vertex-coloured skin. */
export function buildEar(material, side) {
  const g = new THREE.SphereGeometry(1, 28, 20);
  const p = g.attributes.position;
  const colors = [];
  const inner = new THREE.Color("#d88f86");
  for (let i = 0; i < p.count; i++) {
    let x = p.getX(i);
    const y = p.getY(i);
    const z = p.getZ(i);
    const rr = Math.sqrt(y * y + z * z); // 1 at the rim
    const bowl = x > 0 ? smooth(0.95, 0.35, rr) : 0;
    x = x > 0 ? x * (1 - 1.5 * bowl) : x * 0.6;
    const lobe = smooth(-0.2, -0.9, y);
    p.setXYZ(i, x * 0.035, y * 0.125, z * (0.078 - 0.02 * lobe));
    const c = SKIN.clone().lerp(inner, 0.55 * bowl);
    colors.push(c.r, c.g, c.b);
  }
  g.setAttribute("color", new THREE.Float32BufferAttribute(colors, 3));
  g.computeVertexNormals();
  const ear = new THREE.Mesh(g, material);
  const [ux, uy, uz] = [0.985, -0.1, -0.14];
  const at = shapeHead(ux, uy, uz);
  ear.position.set(side * (at[0] - 0.005), FACE.eyeY - 0.13, at[2]);
  ear.rotation.set(0.05, side * -0.35, side * 0.12, "YXZ");
  ear.scale.x = side; // the bowl faces outwards on both sides
  return ear;
}
