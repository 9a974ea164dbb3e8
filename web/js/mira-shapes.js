// Mira's shapes, built in code: the head surface, the lips for any mouth pose, and the
// viseme -> mouth-pose table. Pure functions of numbers; mira-parts.js turns them into meshes.

export const FACE = {
  eyeX: 0.235,
  eyeY: 0.01,
  eyeZ: 0.675, // the eyeballs' centres
  eyeR: 0.12,
  noseY: -0.19,
  mouthY: -0.37,
  mouthW: 0.145,
  jawPivot: [0, -0.3, -0.3],
};
export const JAW_ANGLE = 0.1; // radians of jaw rotation when fully open

export const smooth = (a, b, x) => {
  const t = Math.min(1, Math.max(0, (x - a) / (b - a)));
  return t * t * (3 - 2 * t);
};
const gauss = (d, s) => Math.exp(-(d * d) / (2 * s * s));
const g2 = (x, y, cx, cy, sx, sy) => gauss(x - cx, sx) * gauss(y - cy, sy);

/** A point of the unit sphere (z forward) -> the head surface; `out` gets [x, y, z]. */
export function shapeHead(ux, uy, uz, out = [0, 0, 0]) {
  // the lower half is a little squarer than a sphere: a rounded jaw instead of an egg's point
  let k = 1;
  let y = uy;
  if (uy < 0) {
    const h = Math.sqrt(ux * ux + uz * uz);
    const n = 2 + 0.3 * smooth(0, -0.6, uy);
    k = h > 1e-6 ? h ** (2 / n) / h : 1;
    y = -((-uy) ** (2 / n)) * 0.76;
  }
  const low = smooth(-0.05, -1, uy);
  const front = Math.max(uz, 0);
  let x = ux * k * 0.7 * (1 - 0.42 * low ** 1.3 * (0.55 + 0.45 * front)); // cheeks to a soft chin
  let z = uz * k * 0.86 * (1 + 0.06 * low * front); // the chin comes forward a little
  if (uz < 0) z *= 0.93 - 0.14 * low; // a shorter skull, slimmer at the nape
  const f = smooth(0.2, 0.8, uz); // how much of the face this point is
  const ax = Math.abs(x);
  const { eyeX: EX, eyeY: EY, noseY: N, mouthY: M } = FACE;
  let dz = 0;
  dz -= 0.02 * smooth(0.3, 0.6, ax); // the face plane turns into the sides
  dz += 0.012 * gauss(y - EY - 0.15, 0.05) * gauss(ax - 0.2, 0.15); // brow ridge
  dz -= 0.03 * g2(ax, y, EX - 0.01, EY, 0.12, 0.09); // eye sockets
  dz += 0.03 * g2(ax, y, 0.3, EY - 0.2, 0.11, 0.1); // cheekbones
  dz += 0.022 * g2(ax, y, 0.22, M + 0.06, 0.1, 0.09); // round cheeks
  const ridge = smooth(EY + 0.06, EY - 0.05, y) * smooth(N - 0.075, N - 0.02, y);
  const height = 0.01 + 0.045 * smooth(EY - 0.04, N, y);
  const width = 0.022 + 0.016 * smooth(EY - 0.14, N - 0.02, y);
  dz += ridge * height * gauss(x, width); // nose
  dz += 0.018 * g2(x, y, 0, N + 0.004, 0.026, 0.024); // a round nose tip
  dz += 0.01 * g2(ax, y, 0.04, N - 0.018, 0.02, 0.017); // nostril wings
  dz += 0.004 * g2(x, y, 0, M + 0.085, 0.014, 0.04); // philtrum
  dz += 0.032 * g2(x, y, 0, M - 0.01, 0.19, 0.1); // around the mouth
  dz -= 0.011 * g2(x, y, 0, M - 0.09, 0.085, 0.02); // under the lower lip
  dz += 0.022 * g2(x, y, 0, M - 0.22, 0.1, 0.07); // a soft chin
  out[0] = x + 0.012 * Math.sign(x) * g2(ax, y, 0.3, EY - 0.2, 0.11, 0.1) * f;
  out[1] = y;
  out[2] = eyeOpening(ax, y, z + dz * f);
  return out;
}

const softMin = (a, b, k) => {
  const h = Math.max(0, Math.min(1, 0.5 + (0.5 * (b - a)) / k));
  return b + (a - b) * h - k * h * (1 - h);
};

/** Around each eye the skin gives way to the lids: inside an almond the skin lies just behind
 *  the lids' sphere, so the lids (not the skin) shape the eye, with a fold where they meet. */
function eyeOpening(ax, y, z) {
  const ex = ax - FACE.eyeX;
  const ey = y - FACE.eyeY;
  const R = FACE.eyeR * 1.05;
  const d = Math.sqrt((ex / 0.155) ** 2 + (ey / 0.11) ** 2);
  if (d >= 1) return z;
  const lid = FACE.eyeZ + Math.sqrt(Math.max(0, R * R - ex * ex - ey * ey)) - 0.014;
  return z + (softMin(z, lid, 0.015) - z) * smooth(1, 0.6, d);
}

/** The head's z at (x, y) on the face, by Newton steps on the sphere parameters. */
export function faceZ(x, y) {
  let ux = x / 0.7;
  let uy = y;
  const p = [0, 0, 0];
  const at = (a, b) => shapeHead(a, b, Math.sqrt(Math.max(1e-6, 1 - a * a - b * b)), p);
  for (let i = 0; i < 12; i++) {
    const [sx, sy] = at(ux, uy);
    const ex = x - sx;
    const ey = y - sy;
    if (Math.abs(ex) + Math.abs(ey) < 1e-6) break;
    const h = 1e-4;
    const [ax, ay] = at(ux + h, uy);
    const [bx, by] = at(ux, uy + h);
    const j11 = (ax - sx) / h,
      j21 = (ay - sy) / h,
      j12 = (bx - sx) / h,
      j22 = (by - sy) / h;
    const det = j11 * j22 - j12 * j21;
    ux += (j22 * ex - j12 * ey) / det;
    uy += (j11 * ey - j21 * ex) / det;
  }
  return at(ux, uy)[2];
}

/** Mouth poses: open (jaw), wide, round, upper (upper lip up), tuck (lower lip under the
 *  teeth), press (lips together), tongueUp, tongueOut. */
export const VISEME_POSES = {
  sil: {},
  PP: { press: 1 },
  FF: { open: 0.08, tuck: 1, upper: 0.35 },
  TH: { open: 0.25, wide: 0.1, tongueOut: 1, upper: 0.2 },
  DD: { open: 0.28, wide: 0.15, tongueUp: 1, upper: 0.2 },
  kk: { open: 0.35, wide: 0.12, upper: 0.15 },
  CH: { open: 0.22, round: 0.55, upper: 0.5 },
  SS: { open: 0.1, wide: 0.35, upper: 0.45 },
  nn: { open: 0.2, wide: 0.1, tongueUp: 0.8 },
  RR: { open: 0.2, round: 0.55 },
  aa: { open: 1, wide: 0.1, upper: 0.2 },
  E: { open: 0.5, wide: 0.45, upper: 0.35 },
  ih: { open: 0.32, wide: 0.4, upper: 0.25 },
  oh: { open: 0.6, round: 0.8 },
  ou: { open: 0.25, round: 1 },
};
export const POSE_KEYS = [
  "open",
  "wide",
  "round",
  "upper",
  "tuck",
  "press",
  "tongueUp",
  "tongueOut",
  "smile",
  "pucker",
];

export function pose(partial = {}) {
  return Object.fromEntries(POSE_KEYS.map((k) => [k, partial[k] || 0]));
}

/** Lips for a pose: {positions, normals? no; index} as flat arrays; the same topology always. */
export function lipsMesh(p, zBase, segU = 48, segV = 16) {
  const positions = [];
  const index = [];
  for (const upper of [true, false]) {
    const start = positions.length / 3;
    for (let i = 0; i <= segU; i++) {
      const u = -1 + (2 * i) / segU;
      const c = lipSection(p, u, upper, zBase(u));
      for (let j = 0; j < segV; j++) {
        const a = (2 * Math.PI * j) / segV;
        positions.push(c.x, c.y + c.ry * Math.cos(a), c.z + c.rz * Math.sin(a));
      }
    }
    for (let i = 0; i < segU; i++) {
      for (let j = 0; j < segV; j++) {
        const a = start + i * segV + j;
        const b = start + i * segV + ((j + 1) % segV);
        const c = a + segV;
        const d = b + segV;
        index.push(a, b, c, b, d, c);
      }
    }
  }
  return { positions, index };
}

function lipSection(p, u, upper, z0) {
  const W = FACE.mouthW;
  const Y = FACE.mouthY;
  const e = 1 - u * u; // 1 in the middle, 0 at the corners
  const se = Math.sqrt(e);
  const width = W * (1 + 0.16 * p.wide + 0.1 * p.smile - 0.27 * p.round - 0.18 * p.pucker);
  const x = u * width + 0.018 * p.pucker * e;
  let z = z0 + 0.006 + 0.03 * p.round * se + 0.02 * p.pucker * se + 0.006 * p.press;
  z -= 0.02 * (p.wide + 0.8 * p.smile) * u * u;
  const corner = (0.05 * p.smile - 0.003) * u * u;
  if (upper) {
    const bow = 0.005 * gauss(Math.abs(u) - 0.3, 0.13) - 0.004 * gauss(u, 0.07);
    const y =
      Y +
      0.015 * e ** 0.7 +
      0.012 * p.open * e +
      0.022 * p.upper * se +
      0.016 * p.round * e -
      0.003 * p.press +
      corner;
    const thin = 1 - 0.25 * p.wide - 0.3 * p.press + 0.15 * p.round;
    return {
      x,
      y,
      z,
      ry: (0.004 + 0.014 * se + bow) * thin + 0.003,
      rz: 0.006 + 0.02 * se * (1 + 0.2 * p.round),
    };
  }
  const y =
    Y -
    0.018 * e ** 0.7 -
    0.11 * p.open * e ** 0.8 -
    0.018 * p.open * (1 - e) -
    0.018 * p.round * e +
    0.014 * p.tuck +
    0.003 * p.press +
    corner;
  z += -0.022 * p.tuck - 0.012 * p.open;
  const thin = 1 - 0.25 * p.wide - 0.3 * p.press - 0.25 * p.tuck + 0.15 * p.round;
  return {
    x,
    y,
    z,
    ry: (0.004 + 0.019 * e ** 0.6) * thin + 0.003,
    rz: 0.007 + 0.022 * e ** 0.6 * (1 + 0.2 * p.round),
  };
}

/** How far the skin at (x, y, z) moves for each mouth basis: jaw, wide, round, smile, upper.
 *  Near the mouth the skin follows the lips, so the mouth's opening never shows its rim. */
export function skinDeltas(x, y, z) {
  const Y = FACE.mouthY;
  const W = FACE.mouthW;
  const front = smooth(-0.1, 0.5, z);
  const ax = Math.abs(x);
  const sx = Math.sign(x);
  const e = Math.max(0, 1 - (x / W) ** 2); // the lips' profile: 1 in the middle, 0 at the corners
  const inMouth = smooth(W + 0.05, W - 0.02, ax);
  const above = y >= Y ? smooth(Y + 0.07, Y + 0.004, y) * inMouth * front : 0;
  const aside = smooth(W, W + 0.12, ax); // beside the mouth the jaw's pull fades in gradually
  const below = smooth(Y + 0.002 + 0.06 * aside, Y - 0.01 - 0.1 * aside, y);
  const nearLip = 1 - smooth(Y - 0.02, Y - 0.16, y);
  const follow = e ** 0.8 + 0.16 * (1 - e); // how far the lower lip drops here
  const jawW = below * front * smooth(0.62, 0.3, ax) * (nearLip * follow + (1 - nearLip));
  const [, py, pz] = FACE.jawPivot;
  const dy0 = y - py;
  const dz0 = z - pz;
  const c = Math.cos(JAW_ANGLE);
  const s = Math.sin(JAW_ANGLE);
  const jaw = [0, (dy0 * c - dz0 * s - dy0) * jawW + 0.012 * e * above, (dy0 * s + dz0 * c - dz0) * jawW];
  const cornerW = g2(ax, y, W, Y, 0.06, 0.05) * front;
  const lipsW = g2(x, y, 0, Y, 0.22, 0.07) * front;
  const wide = [0.026 * sx * cornerW, 0, -0.01 * cornerW];
  const round = [-0.27 * x * lipsW, 0.016 * e * above - 0.018 * e * below * nearLip * front, 0.03 * lipsW];
  const cheek = g2(ax, y, 0.22, Y + 0.12, 0.09, 0.08) * front;
  const smile = [
    0.012 * sx * cornerW + 0.006 * sx * cheek,
    0.05 * cornerW + 0.02 * cheek,
    0.016 * cheek - 0.01 * cornerW,
  ];
  const upper = [0, 0.022 * Math.sqrt(e) * above, 0];
  return { jaw, wide, round, smile, upper };
}
