// Page settings: web/config.json (optional) overlaid by the URL's query,
// e.g. /?persona=leonardo&muted=1 or /kiosk?vrm=/web/avatars/me.vrm&idle=120.

const DEFAULTS = {
  persona: "jarvis",
  vrm: null,
  server: null,
  idle: 60,
  muted: false,
  transport: "auto", // "webrtc" | "ws" | "auto": WebRTC, falling back to the WebSocket
  turn: "semantic_vad", // end of turn: "semantic_vad" (a turn-end model) or "server_vad"
  eagerness: "auto", // semantic_vad: "low" | "medium" | "high" | "auto"
};

export async function loadConfig(loc = window.location) {
  let file = {};
  try {
    const res = await fetch(new URL("/web/config.json", loc.href), { cache: "no-store" });
    if (res.ok) file = await res.json();
  } catch {
    // no config file: the defaults and the URL decide
  }
  const query = Object.fromEntries(new URLSearchParams(loc.search));
  const config = { ...DEFAULTS, ...file, ...query };
  config.idle = Number(config.idle) || DEFAULTS.idle;
  config.muted = [true, "1", "true", "yes"].includes(config.muted);
  return config;
}
