// Canvas-painted textures for Mira: the eyes' iris and the teeth.
import * as THREE from "three";

function canvasTexture(w, h, paint) {
  const canvas = document.createElement("canvas");
  canvas.width = w;
  canvas.height = h;
  const g = canvas.getContext("2d");
  paint(g, w, h);
  const tex = new THREE.CanvasTexture(canvas);
  tex.colorSpace = THREE.SRGBColorSpace;
  return tex;
}

const mix = (a, b, t) => a + (b - a) * t;
const noise1 = (u, seeds) => seeds.reduce((s, [k, p, a]) => s + a * Math.sin(u * k + p), 0);

/** An eyeball in equirectangular form; the top row is the pupil's centre. */
export function eyeTexture(iris = [72, 146, 128], inner = [196, 150, 78]) {
  return canvasTexture(768, 384, (g, w, h) => {
    const img = g.createImageData(w, h);
    const seeds = Array.from({ length: 9 }, (_, i) => [7 + i * 11, i * 1.7, 1 / (i + 2)]);
    const irisEdge = 0.64; // radians from the front
    const pupil = 0.24;
    for (let y = 0; y < h; y++) {
      const theta = (y / h) * Math.PI;
      for (let x = 0; x < w; x++) {
        const u = (x / w) * Math.PI * 2;
        let c;
        if (theta < pupil) c = [8, 8, 10];
        else if (theta < irisEdge) {
          const r = (theta - pupil) / (irisEdge - pupil);
          const fibre = 0.75 + 0.25 * noise1(u, seeds) + 0.12 * Math.sin(u * 90 + r * 6);
          const t = Math.min(1, r * 1.8);
          c = [0, 1, 2].map((k) => mix(inner[k], iris[k], t) * fibre);
          const limbus = Math.max(0, (r - 0.78) / 0.22);
          c = c.map((v) => v * (1 - 0.75 * limbus * limbus));
          const collar = Math.max(0, 1 - Math.abs(r - 0.06) / 0.06);
          c = c.map((v) => v * (1 - 0.45 * collar));
        } else {
          const fade = Math.min(1, (theta - irisEdge) / 1.2);
          const vein = Math.max(0, Math.sin(u * 13 + theta * 5) - 0.96) * 6 * fade;
          c = [mix(238, 222, fade) + vein * 20, mix(234, 206, fade), mix(228, 200, fade)];
        }
        const i = (y * w + x) * 4;
        img.data[i] = c[0];
        img.data[i + 1] = c[1];
        img.data[i + 2] = c[2];
        img.data[i + 3] = 255;
      }
    }
    g.putImageData(img, 0, 0);
  });
}

/** A row of teeth around a cylinder arc, the gum line at the top (or bottom when `lower`). */
export function teethTexture(lower = false) {
  return canvasTexture(512, 64, (g, w, h) => {
    g.fillStyle = "#f3ede2";
    g.fillRect(0, 0, w, h);
    const n = 14;
    for (let i = 0; i <= n; i++) {
      const x = (i / n) * w;
      const grad = g.createLinearGradient(x - 10, 0, x + 10, 0);
      grad.addColorStop(0, "rgba(150,120,100,0)");
      grad.addColorStop(0.5, "rgba(150,120,100,0.55)");
      grad.addColorStop(1, "rgba(150,120,100,0)");
      g.fillStyle = grad;
      g.fillRect(x - 10, 0, 20, h);
    }
    const gum = g.createLinearGradient(0, lower ? h : 0, 0, lower ? h * 0.6 : h * 0.4);
    gum.addColorStop(0, "#b5525a");
    gum.addColorStop(1, "rgba(181,82,90,0)");
    g.fillStyle = gum;
    g.fillRect(0, 0, w, h);
  });
}
