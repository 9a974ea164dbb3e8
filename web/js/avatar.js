// The page's avatar: the user's VRM when the config names one, otherwise Mira.
import { Mira } from "./mira.js";
import { Stage } from "./stage.js";

export async function createAvatar(canvas, config) {
  const stage = new Stage(canvas);
  let avatar = null;
  let error = null;
  if (config.vrm) {
    try {
      const { VrmAvatar } = await import("./vrm-avatar.js");
      avatar = await VrmAvatar.load(stage, config.vrm);
    } catch (err) {
      error = `could not load the VRM avatar ${config.vrm}: ${err.message}; showing Mira`;
      console.warn(error);
    }
  }
  avatar = avatar || new Mira(stage);
  stage.start();
  return { avatar, stage, error };
}
