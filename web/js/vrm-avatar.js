// A user's VRM avatar (VRM 0.x or 1.0, via @pixiv/three-vrm) driven like Mira: visemes to the
// five VRM mouth expressions, blinks, a smile, gaze and head motion from the same Behaviour.
import * as THREE from "three";
import { GLTFLoader } from "three/addons/loaders/GLTFLoader.js";
import { VRMLoaderPlugin, VRMUtils } from "@pixiv/three-vrm";
import { AvatarBase, SILENCE } from "./avatar-base.js";
import { follow, vrmMouth } from "./visemes.js";

export class VrmAvatar extends AvatarBase {
  static async load(stage, url) {
    const loader = new GLTFLoader();
    loader.register((parser) => new VRMLoaderPlugin(parser));
    const gltf = await loader.loadAsync(url);
    const vrm = gltf.userData.vrm;
    if (!vrm) throw new Error(`${url} is not a VRM file`);
    VRMUtils.removeUnnecessaryVertices(gltf.scene);
    VRMUtils.rotateVRM0(vrm); // VRM 0.x faces -z
    return new VrmAvatar(stage, vrm);
  }

  constructor(stage, vrm, { random = Math.random } = {}) {
    super(stage, { random });
    this.vrm = vrm;
    this.lookTarget = new THREE.Object3D();
    stage.camera.add(this.lookTarget);
    stage.scene.add(stage.camera, vrm.scene);
    if (vrm.lookAt) vrm.lookAt.target = this.lookTarget;
    this.frameHead();
    stage.frame((t, dt) => this.update(t, dt));
  }

  /** Point the camera at the avatar's head, whatever its size. */
  frameHead() {
    const head = this.vrm.humanoid?.getNormalizedBoneNode("head");
    const at = new THREE.Vector3(0, 1.4, 0);
    if (head) head.getWorldPosition(at);
    this.stage.target.set(at.x, at.y - 0.05, at.z);
    this.stage.camera.position.set(at.x, at.y, at.z + 1.4);
    this.stage.resize();
  }

  update(t, dt) {
    follow(this.weights, this.source() || SILENCE, dt);
    const mouth = vrmMouth(this.weights);
    const p = this.behaviour.update(t, dt, mouth.aa + 0.5 * mouth.oh);
    const em = this.vrm.expressionManager;
    if (em) {
      for (const [k, v] of Object.entries(mouth)) em.setValue(k, v);
      em.setValue("blink", p.blink);
      em.setValue("happy", p.smile * 0.6);
    }
    this.lookTarget.position.set(Math.sin(p.gazeYaw) * 2, Math.sin(p.gazePitch) * 2, -2);
    const head = this.vrm.humanoid?.getNormalizedBoneNode("head");
    if (head) head.rotation.set(-p.headPitch, p.headYaw, p.headRoll);
    this.stage.setRim(p.glasses);
    this.vrm.update(dt);
  }
}
