// What Mira wears: her neck and shoulders in a scoop-necked knit top, and Leonardo's glasses.
import * as THREE from "three";
import { FACE, faceZ, shapeHead, smooth } from "./mira-shapes.js";
import { SKIN } from "./mira-materials.js";
import { geometry, taperedTube } from "./mira-mesh.js";

// the body's profile from the top of the neck down: [half width, y, depth / width, centre z]
const PROFILE = [
  [0.225, -0.45, 1.0, -0.12],
  [0.225, -0.78, 1.0, -0.14],
  [0.245, -0.92, 0.94, -0.16],
  [0.32, -1.0, 0.83, -0.17],
  [0.52, -1.08, 0.62, -0.18],
  [0.78, -1.17, 0.5, -0.18],
  [0.98, -1.28, 0.46, -0.18],
  [1.1, -1.48, 0.45, -0.18],
  [1.15, -1.7, 0.45, -0.18],
  [1.16, -2.1, 0.45, -0.18],
  [1.16, -2.7, 0.45, -0.18],
];
const ROWS = 64;
const COLS = 56;

/** The profile, resampled evenly along its length: rows of [r, y, k, zc]. */
function profile() {
  const curve = new THREE.SplineCurve(PROFILE.map(([r, y]) => new THREE.Vector2(r, y)));
  const rows = [];
  for (let i = 0; i <= ROWS; i++) {
    const p = curve.getPointAt(i / ROWS);
    let j = 1;
    while (j < PROFILE.length - 1 && PROFILE[j][1] > p.y) j++;
    const [, y0, k0, z0] = PROFILE[j - 1];
    const [, y1, k1, z1] = PROFILE[j];
    const t = smooth(y0, y1, p.y);
    const d = curve.getTangentAt(i / ROWS); // the outward normal in the profile's plane
    rows.push([p.x, p.y, k0 + (k1 - k0) * t, z0 + (z1 - z0) * t, -d.y, d.x]);
  }
  return rows;
}

/** A point of the body at angle phi (0 = front); `grow` lifts it off the skin, for the cloth. */
const at = ([r, y, k, zc, nr, ny], phi, grow = 0) => [
  (r + grow * nr) * Math.sin(phi),
  y + grow * ny,
  zc + (r * k + grow * Math.max(nr, 0.5)) * Math.cos(phi),
];

/** Where the neckline crosses the column at angle phi (0 = front): a soft scoop. */
const necklineY = (phi) => -1.07 - 0.13 * (0.5 + 0.5 * Math.cos(phi)) ** 2;

/** The profile's rows from where it crosses height y down to its end, `n` of them, evenly. */
function rowsFrom(rows, y, n) {
  let i = 1;
  while (i < rows.length - 1 && rows[i][1] > y) i++;
  const f0 = i - 1 + (y - rows[i - 1][1]) / (rows[i][1] - rows[i - 1][1]);
  return Array.from({ length: n + 1 }, (_, j) => {
    const f = f0 + ((rows.length - 1 - f0) * j) / n;
    const k = Math.min(rows.length - 2, Math.floor(f));
    const t = f - k;
    return rows[k].map((v, c) => v + (rows[k + 1][c] - v) * t);
  });
}

function surface(rowsOf, colors) {
  const pos = [];
  const col = [];
  const index = [];
  const n = rowsOf(0).length;
  for (let j = 0; j <= COLS; j++) {
    const phi = -Math.PI + (2 * Math.PI * j) / COLS;
    rowsOf(phi).forEach((p) => {
      pos.push(...p);
      if (colors) col.push(...colors(p));
    });
  }
  for (let j = 0; j < COLS; j++) {
    for (let i = 0; i < n - 1; i++) {
      const a = j * n + i;
      const b = a + n;
      index.push(a, a + 1, b, b, a + 1, b + 1);
    }
  }
  return geometry(pos, index, null, colors ? col : null);
}

export function buildBody(skin, cloth) {
  const rows = profile();
  const bare = rows.filter((r) => r[1] > -1.42);
  const shade = new THREE.Color("#c98f7c");
  const neck = new THREE.Mesh(
    surface(
      (phi) => bare.map((r) => at(r, phi)),
      ([, y]) => {
        const c = SKIN.clone().lerp(shade, 0.4 * smooth(-1.05, -0.62, y)); // in the head's shade
        return [c.r, c.g, c.b];
      },
    ),
    skin,
  );
  const clothRows = (phi) => rowsFrom(rows, necklineY(phi), 48).map((r) => at(r, phi, 0.014));
  const top = new THREE.Mesh(surface(clothRows), cloth);
  // a rolled collar along the neckline
  const collarPts = [];
  for (let j = 0; j <= 48; j++) {
    const phi = -Math.PI + (2 * Math.PI * j) / 48;
    collarPts.push(at(rowsFrom(rows, necklineY(phi), 1)[0], phi, 0.016));
  }
  collarPts.pop();
  const curve = new THREE.CatmullRomCurve3(
    collarPts.map((p) => new THREE.Vector3(...p)),
    true,
  );
  const collar = new THREE.Mesh(new THREE.TubeGeometry(curve, 96, 0.016, 8, true), cloth);
  return [neck, top, collar];
}

export function buildGlasses(frameMat, lensMat) {
  const g = new THREE.Group();
  const X = FACE.eyeX;
  const Y = FACE.eyeY;
  const rx = 0.13;
  const zg = faceZ(X, Y) + 0.1;
  const temple = (z) => shapeHead(1, Y, 0)[0] * Math.sqrt(1 - (z / 0.86) ** 2) + 0.018;
  for (const side of [-1, 1]) {
    const rim = new THREE.Mesh(new THREE.TorusGeometry(0.12, 0.008, 10, 48), frameMat);
    rim.scale.set(rx / 0.12, 0.9, 1);
    rim.position.set(side * X, Y, zg);
    rim.rotation.y = side * 0.12;
    const lens = new THREE.Mesh(new THREE.CircleGeometry(0.12, 48), lensMat);
    lens.scale.copy(rim.scale);
    lens.position.copy(rim.position);
    lens.rotation.copy(rim.rotation);
    // an arm from the rim's outer edge back over the ear
    const arm = new THREE.Mesh(
      taperedTube(
        [
          [side * (X + rx - 0.004), Y + 0.02, zg - 0.016],
          [side * temple(0.55), Y + 0.03, 0.55],
          [side * temple(0.2), Y + 0.02, 0.2],
          [side * temple(-0.05), Y + 0.0, -0.05],
        ],
        () => 0.0075,
        { sides: 6 },
      ),
      frameMat,
    );
    g.add(rim, lens, arm);
  }
  const bridgeR = X - rx + 0.008;
  const bridge = new THREE.Mesh(new THREE.TorusGeometry(bridgeR, 0.007, 8, 24, Math.PI), frameMat);
  bridge.position.set(0, Y + 0.01, zg + 0.005);
  g.add(bridge);
  return g;
}
