// Mira's materials: skin, eyes, lips, hair, teeth, cloth and glasses.
import * as THREE from "three";
import { hairTexture } from "./mira-hair.js";
import { eyeTexture, teethTexture } from "./mira-textures.js";

export const SKIN = new THREE.Color("#f2c4a8");

const PHYSICAL_ONLY = ["sheen", "sheenColor", "sheenRoughness", "clearcoat", "clearcoatRoughness"];

/** Physical materials; plain standard ones where WebGL runs in software (a fraction of the cost). */
function surface(params, cheap) {
  if (!cheap) return new THREE.MeshPhysicalMaterial(params);
  const plain = Object.fromEntries(Object.entries(params).filter(([k]) => !PHYSICAL_ONLY.includes(k)));
  return new THREE.MeshStandardMaterial(plain);
}

export function buildMaterials(cheap = false) {
  const eye = surface({ map: eyeTexture(), roughness: 0.2, clearcoat: 1, clearcoatRoughness: 0.03 }, cheap);
  const skin = surface(
    {
      color: 0xffffff,
      vertexColors: true,
      roughness: 0.62,
      emissive: new THREE.Color("#7a3a2a"),
      emissiveIntensity: 0.12,
      sheen: 0.35,
      sheenColor: new THREE.Color("#ff8a70"),
      sheenRoughness: 0.55,
    },
    cheap,
  );
  return {
    eye,
    skin,
    lid: surface(
      {
        color: SKIN.clone().lerp(new THREE.Color("#d29a90"), 0.35),
        roughness: 0.55,
        emissive: new THREE.Color("#7a3a2a"),
        emissiveIntensity: 0.1,
        sheen: 0.3,
        sheenColor: new THREE.Color("#ff8a70"),
        side: THREE.DoubleSide,
      },
      cheap,
    ),
    lash: new THREE.MeshStandardMaterial({ color: "#1a0f0b", roughness: 0.8 }),
    lowerLash: new THREE.MeshStandardMaterial({ color: "#8a5a4c", roughness: 0.8 }),
    glint: new THREE.MeshBasicMaterial({ color: "#ffffff", transparent: true, opacity: 0.85 }),
    brow: new THREE.MeshStandardMaterial({ color: "#55331f", roughness: 0.9 }),
    lips: surface(
      {
        color: "#c9646f",
        roughness: 0.42,
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
        transparent: true, // the hairline's edge is blended: smooth at any resolution
        alphaTest: 0.05,
        side: THREE.DoubleSide,
        roughness: 0.55,
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
      { color: "#3e7a74", roughness: 0.85, sheen: 0.6, sheenColor: new THREE.Color("#9fd4cc") },
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
