// Mira's materials: skin, eyes, lips, hair, teeth, cloth and glasses.
import * as THREE from "three";
import { eyeTexture, hairTexture, teethTexture } from "./mira-textures.js";

export const SKIN = new THREE.Color("#efc0a4");

const PHYSICAL_ONLY = ["sheen", "sheenColor", "sheenRoughness", "clearcoat", "clearcoatRoughness"];

/** Physical materials; plain standard ones where WebGL runs in software (a fraction of the cost). */
function surface(params, cheap) {
  if (!cheap) return new THREE.MeshPhysicalMaterial(params);
  const plain = Object.fromEntries(Object.entries(params).filter(([k]) => !PHYSICAL_ONLY.includes(k)));
  return new THREE.MeshStandardMaterial(plain);
}

export function buildMaterials(cheap = false) {
  const eye = surface({ map: eyeTexture(), roughness: 0.12, clearcoat: 1, clearcoatRoughness: 0.03 }, cheap);
  const skin = surface(
    {
      color: 0xffffff,
      vertexColors: true,
      roughness: 0.52,
      sheen: 0.35,
      sheenColor: new THREE.Color("#ff8a70"),
      sheenRoughness: 0.55,
    },
    cheap,
  );
  const plainSkin = surface(
    { color: SKIN, roughness: 0.55, sheen: 0.3, sheenColor: new THREE.Color("#ff8a70") },
    cheap,
  );
  return {
    eye,
    skin,
    plainSkin,
    lid: surface(
      {
        color: "#d9a596",
        roughness: 0.5,
        sheen: 0.3,
        sheenColor: new THREE.Color("#ff8a70"),
        side: THREE.DoubleSide,
      },
      cheap,
    ),
    lash: new THREE.MeshStandardMaterial({ color: "#21140f", roughness: 0.7 }),
    brow: new THREE.MeshStandardMaterial({ color: "#5a392a", roughness: 0.85 }),
    lips: surface(
      {
        color: "#c75b6c",
        roughness: 0.38,
        clearcoat: 0.35,
        clearcoatRoughness: 0.3,
        sheen: 0.3,
        sheenColor: new THREE.Color("#ff9090"),
      },
      cheap,
    ),
    hair: surface(
      {
        map: hairTexture(),
        roughness: 0.48,
        sheen: 0.5,
        sheenColor: new THREE.Color("#a0623e"),
        sheenRoughness: 0.35,
      },
      cheap,
    ),
    cavity: new THREE.MeshStandardMaterial({ color: "#2a0c10", roughness: 1, side: THREE.BackSide }),
    upperTeeth: new THREE.MeshStandardMaterial({ map: teethTexture(false), roughness: 0.3 }),
    lowerTeeth: new THREE.MeshStandardMaterial({ map: teethTexture(true), roughness: 0.3 }),
    tongue: new THREE.MeshStandardMaterial({ color: "#b9535b", roughness: 0.45 }),
    cloth: surface(
      { color: "#3f6f6c", roughness: 0.8, sheen: 0.6, sheenColor: new THREE.Color("#9fd4cc") },
      cheap,
    ),
    frame: new THREE.MeshStandardMaterial({
      color: "#2a1c16",
      roughness: 0.35,
      metalness: 0.2,
      transparent: true,
    }),
    lens: surface({ color: "#ffffff", roughness: 0.05, transparent: true, opacity: 0.1 }, cheap),
  };
}
