// The 3D stage both avatars stand on: renderer, camera, soft studio light and a frame loop.
import * as THREE from "three";

const RIM = { jarvis: new THREE.Color("#ffb48a"), leonardo: new THREE.Color("#8ab8ff") };

export class Stage {
  constructor(canvas) {
    this.canvas = canvas;
    this.renderer = new THREE.WebGLRenderer({ canvas, antialias: true, alpha: true });
    // Software WebGL (no GPU: SwiftShader, llvmpipe) draws fewer pixels, less often, so the
    // page's audio and network work keep the CPU they need.
    this.software = isSoftware(this.renderer.getContext());
    this.pixelRatio = this.software ? 0.5 : Math.min(window.devicePixelRatio || 1, 2);
    this.minFrameS = this.software ? 1 / 10 : 1 / 60;
    this.renderer.setPixelRatio(this.pixelRatio);
    this.renderer.toneMapping = THREE.ACESFilmicToneMapping;
    this.renderer.toneMappingExposure = 1.05;
    this.scene = new THREE.Scene();
    this.camera = new THREE.PerspectiveCamera(22, 1, 0.1, 50);
    this.camera.position.set(0, -0.05, 5.6);
    this.target = new THREE.Vector3(0, -0.2, 0);
    this.view = { width: 2.3, height: 2.7 };
    // a soft portrait light: a warm key high on the left, a broad fill on the right, a warm
    // bounce from below (no black under the chin), rims behind and a bright sky
    const key = new THREE.DirectionalLight("#fff1e4", 2.1);
    key.position.set(-2.0, 2.3, 3.6);
    const fill = new THREE.DirectionalLight("#f0f0ff", 0.85);
    fill.position.set(2.8, 0.7, 3.0);
    const bounce = new THREE.DirectionalLight("#ffd9c2", 0.55);
    bounce.position.set(0.3, -2.6, 2.4);
    this.rim = new THREE.DirectionalLight(RIM.jarvis.clone(), 2.4);
    this.rim.position.set(2.2, 1.8, -3);
    this.rim2 = new THREE.DirectionalLight(RIM.jarvis.clone(), 1.5);
    this.rim2.position.set(-2.4, 1.2, -2.6);
    const sky = new THREE.HemisphereLight("#fff3ea", "#a07c70", 0.75);
    this.scene.add(key, fill, bounce, this.rim, this.rim2, sky);
    this.callbacks = [];
    this.frames = 0;
    this.last = null;
    this.running = false;
    new ResizeObserver(() => this.resize()).observe(canvas);
    this.resize();
  }

  /** 0 = Jarvis's warm rim light, 1 = Leonardo's cool one. */
  setRim(mix) {
    this.rim.color.copy(RIM.jarvis).lerp(RIM.leonardo, mix);
    this.rim2.color.copy(this.rim.color);
  }

  frame(fn) {
    this.callbacks.push(fn);
  }

  resize() {
    const w = this.canvas.clientWidth || 640;
    const h = this.canvas.clientHeight || 640;
    this.renderer.setSize(w, h, false);
    this.camera.aspect = w / h;
    // fit the head and shoulders (about 2.1 wide, 2.6 high) whatever the screen's shape
    const d = this.camera.position.distanceTo(this.target);
    const half = Math.max(this.view.height / 2, this.view.width / 2 / this.camera.aspect);
    this.camera.fov = (2 * Math.atan(half / d) * 180) / Math.PI;
    this.camera.lookAt(this.target);
    this.camera.updateProjectionMatrix();
  }

  /** Advances every animation by the time since the last tick. */
  tick() {
    const t = performance.now() / 1000;
    const dt = this.last === null ? 1 / 60 : Math.min(0.1, t - this.last);
    this.last = t;
    for (const fn of this.callbacks) fn(t, dt);
  }

  start() {
    if (this.running) return;
    this.running = true;
    // The avatar moves at 30 Hz whatever the frame rate, so its state is always current.
    this.ticker = setInterval(() => this.tick(), 33);
    let drawn = 0;
    const loop = (ms) => {
      if (!this.running) return;
      requestAnimationFrame(loop);
      if (ms / 1000 - drawn < this.minFrameS * 0.9) return;
      drawn = ms / 1000;
      this.tick();
      const start = performance.now();
      this.renderer.render(this.scene, this.camera);
      this.frames += 1;
      if (this.software && this.frames % 15 === 1) {
        // software WebGL: measure a frame's real cost and keep drawing to a third of the time
        const gl = this.renderer.getContext();
        gl.readPixels(0, 0, 1, 1, gl.RGBA, gl.UNSIGNED_BYTE, new Uint8Array(4));
        const cost = (performance.now() - start) / 1000;
        this.minFrameS = Math.min(0.5, Math.max(1 / 30, cost / 0.33));
      }
    };
    requestAnimationFrame(loop);
  }

  /** Renders now and reads back one row of pixels across the face: is anything drawn? */
  probe() {
    this.renderer.render(this.scene, this.camera);
    const gl = this.renderer.getContext();
    const w = gl.drawingBufferWidth;
    const row = new Uint8Array(4 * w);
    gl.readPixels(0, Math.floor(gl.drawingBufferHeight * 0.55), w, 1, gl.RGBA, gl.UNSIGNED_BYTE, row);
    return { frames: this.frames, width: w, row: Array.from(row) };
  }

  stop() {
    this.running = false;
    clearInterval(this.ticker);
  }
}

function isSoftware(gl) {
  const info = gl.getExtension("WEBGL_debug_renderer_info");
  const name = info ? gl.getParameter(info.UNMASKED_RENDERER_WEBGL) : gl.getParameter(gl.RENDERER);
  return /swiftshader|llvmpipe|software/i.test(String(name));
}
