// Mira's hair: a shell over the skull with a side part and a swept fringe, tucked behind the
// ears and falling to the nape. The hairline is cut by the texture's alpha, painted from the
// same function as the shell, so its edge is smooth whatever the mesh's density.
import * as THREE from "three";
import { geometry, grid, gridLon } from "./mira-mesh.js";
import { shapeHead, smooth } from "./mira-shapes.js";

const PART = 0.42; // the parting's longitude, on her left

/** Piecewise smooth interpolation of [[x, y], ...] (x ascending). */
function curve(table, x) {
  if (x <= table[0][0]) return table[0][1];
  for (let i = 1; i < table.length; i++) {
    const [x1, y1] = table[i];
    if (x <= x1) {
      const [x0, y0] = table[i - 1];
      return y0 + (y1 - y0) * smooth(x0, x1, x);
    }
  }
  return table[table.length - 1][1];
}

// the latitude of the hairline by longitude: high on the parting's side, the fringe sweeping
// down across the forehead to the other temple, above the ears at the sides
const HAIRLINE = [
  [-2.2, 0.05],
  [-1.55, 0.14],
  [-1.15, 0.06],
  [-0.75, 0.18],
  [-0.3, 0.3],
  [0.1, 0.38],
  [0.45, 0.46],
  [0.8, 0.44],
  [1.2, 0.32],
  [1.55, 0.16],
  [2.2, 0.05],
];
// behind the ears: the face shows in front of this longitude, by latitude
const BEHIND_EARS = [
  [-1.2, 1.75],
  [-0.55, 1.72],
  [-0.2, 1.88],
  [0.15, 1.7],
  [0.4, 1.5],
];
const HEM = [
  [-3.2, -1.3],
  [-2.2, -1.25],
  [-1.7, -1.05],
  [0, -0.8],
];

/** Fringe locks: how far each lock's rounded end hangs below the hairline's curve. */
function locks(lon) {
  if (lon > 0.5 || lon < -1.5) return 0;
  const k = (0.5 - lon) / 0.21 + 0.12 * Math.sin(lon * 9);
  const tri = 1 - Math.abs(2 * (k - Math.floor(k)) - 1);
  return 0.032 * (1 - (1 - tri) ** 2) * smooth(0.5, 0.3, lon) * smooth(-1.5, -1.15, lon);
}

/** Signed cover at a point of the unit sphere (lon 0 = front, lat up): > 0 where the hair is. */
export function cover(lon, lat) {
  const front = lat - (curve(HAIRLINE, lon) - locks(lon));
  const behind = Math.abs(lon) - curve(BEHIND_EARS, lat);
  const hem = lat - curve(HEM, -Math.abs(lon));
  return Math.min(Math.max(front, behind), hem);
}

/** Strands' flow: a coordinate that stays constant along a strand (radians of longitude). */
function strand(lon, lat) {
  const fringe = smooth(0.9, 0.6, lat) * smooth(1.0, 0.5, lon) * smooth(-1.8, -1.2, lon);
  const toPart = lon - PART;
  const combed = lon + 0.9 * fringe * (0.9 - lat) + 0.25 * Math.sign(toPart) * smooth(0.5, 1.4, lat);
  return combed;
}

export function buildHair(detail = 1) {
  const segU = Math.round(150 * detail);
  const segV = Math.round(130 * detail);
  const keep = [];
  const { pos, uv, index } = grid(segU, segV, (ux, uy, uz) => {
    const lon = Math.atan2(ux, uz);
    const lat = Math.asin(Math.max(-1, Math.min(1, uy)));
    const c = cover(lon, lat);
    keep.push(c > -0.06);
    // below the ears the hair falls straight, like a curtain, instead of following the skull
    const fall = Math.min(0, uy + 0.45);
    const k = fall < 0 ? Math.sqrt(1 - 0.45 ** 2) / Math.max(1e-3, Math.sqrt(1 - uy * uy)) : 1;
    const p = shapeHead(ux * k, uy - fall, uz * k);
    p[1] += fall * 1.05;
    const flare = 1 - 0.25 * fall; // the ends swing out a little
    const crown = smooth(0.0, 0.9, uy);
    const back = smooth(0.2, -0.6, uz);
    const part = Math.exp(-(((lon - PART) / 0.12) ** 2)) * smooth(0.5, 0.9, lat);
    const clumps = 0.006 * Math.sin(strand(lon, lat) * 26);
    const sides = smooth(0.8, 0.15, Math.abs(uz)) * smooth(0.75, 0.1, uy); // fuller over the ears
    let thick = 0.045 + 0.1 * crown + 0.06 * back * (1 - crown) + 0.09 * sides + clumps - 0.02 * part;
    const atFace = smooth(0.2, 0.7, uz);
    thick *= 1 - (0.55 - 0.55 * smooth(0, 0.25, c)) * (0.3 + 0.7 * atFace); // thin at the hairline
    const hem = lat - curve(HEM, -Math.abs(lon));
    const curl = smooth(0.25, 0.0, hem) * back; // the ends turn in
    const s = 1 + thick - 0.05 * curl;
    return [p[0] * s * flare, p[1] + 0.012, p[2] * s * (1 - 0.12 * fall)];
  });
  // only the triangles that can show some hair
  const kept = [];
  for (let i = 0; i < index.length; i += 3) {
    if (keep[index[i]] || keep[index[i + 1]] || keep[index[i + 2]]) {
      kept.push(index[i], index[i + 1], index[i + 2]);
    }
  }
  return geometry(pos, kept, uv);
}

const mix = (a, b, t) => a + (b - a) * t;
const hash = (i) => {
  const x = Math.sin(i * 127.1 + 311.7) * 43758.5453;
  return x - Math.floor(x);
};
/** 1D value noise in -1..1. */
const noise = (x) => {
  const i = Math.floor(x);
  const f = x - i;
  return 2 * mix(hash(i), hash(i + 1), f * f * (3 - 2 * f)) - 1;
};

/** Strands along the flow, darker at the roots and underneath, a soft sheen on the crown; the
 *  alpha is the hairline. Laid out like the shell's grid: u = longitude column, v = latitude. */
export function hairTexture(base = [40, 23, 17], light = [126, 78, 50]) {
  const w = 1024;
  const h = 640;
  const data = new Uint8Array(w * h * 4); // straight (not premultiplied) alpha: clean edges
  const edge = (4 * Math.PI) / h; // the alpha's ramp across the hairline, about two texels
  const rows = Array.from({ length: h }, (_, y) => {
    const lat = Math.PI / 2 - (Math.PI * (y + 0.5)) / h;
    return { lat, ears: curve(BEHIND_EARS, lat), wave: 0.4 * noise(lat * 3) };
  });
  for (let x = 0; x < w; x++) {
    const lon = gridLon(x + 0.5, w);
    const px = Math.abs(gridLon(x + 1, w) - gridLon(x, w)); // radians per texel here
    const band = (f, a) => a * Math.min(1, Math.max(0, (1 / f / px - 1.5) / 1.5)); // no aliasing
    const [a1, a2, a3] = [band(60, 0.14), band(150, 0.12), band(380, 0.1)];
    const hairline = curve(HAIRLINE, lon) - locks(lon);
    const hem = curve(HEM, -Math.abs(lon));
    const part = Math.exp(-(((lon - PART) / 0.05) ** 2));
    const cosLon = Math.cos(lon);
    for (let y = 0; y < h; y++) {
      const { lat, ears, wave } = rows[y];
      const c = Math.min(Math.max(lat - hairline, Math.abs(lon) - ears), lat - hem);
      const i = ((h - 1 - y) * w + x) * 4; // the texture's first row is its bottom
      data[i + 3] = 255 * Math.min(1, Math.max(0, 0.5 + c / edge));
      if (c < -3 * edge) continue; // bare: no colour needed
      const s = strand(lon, lat);
      const fine = a1 * noise(s * 60) + a2 * noise(s * 150 + 7) + a3 * noise(s * 380 + 3);
      const clump = 0.5 + 0.5 * noise(s * 18 + wave);
      const sheen = Math.exp(-(((lat - 0.95 + 0.15 * cosLon) / 0.16) ** 2));
      const root = part * smooth(0.5, 0.9, lat);
      const under = smooth(0.2, 0.0, lat - hem) * 0.35;
      let t = 0.38 + fine + 0.14 * clump + 0.38 * sheen * (0.6 + 0.4 * clump);
      t = Math.min(1, Math.max(0, t * (1 - 0.55 * root - under)));
      for (let k = 0; k < 3; k++) data[i + k] = mix(base[k], light[k], t);
    }
  }
  const tex = new THREE.DataTexture(data, w, h);
  tex.colorSpace = THREE.SRGBColorSpace;
  tex.magFilter = THREE.LinearFilter;
  tex.minFilter = THREE.LinearMipmapLinearFilter;
  tex.generateMipmaps = true;
  tex.anisotropy = 4;
  tex.needsUpdate = true;
  return tex;
}
