// Page settings: web/config.json (optional) overlaid by the URL's query,
// e.g. /?persona=leonardo&muted=1 or /kiosk?vrm=/web/avatars/me.vrm&idle=120.

const DEFAULTS = {
  persona: "jarvis",
  vrm: null,
  server: null,
  idle: 60,
  conversation_idle: 300, // kiosk: seconds untouched after which a new conversation starts
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
  delete query.auth; // what the server says of itself is not the URL's to change
  delete query.allowed_origins;
  const config = { ...DEFAULTS, ...file, ...query };
  if (config.server && !serverAllowed(config.server, loc, config.allowed_origins)) {
    config.refusedServer = config.server; // a crafted link must not take the microphone away
    config.server = null;
  }
  config.idle = Number(config.idle) || DEFAULTS.idle;
  config.conversation_idle = Number(config.conversation_idle) || DEFAULTS.conversation_idle;
  config.muted = [true, "1", "true", "yes"].includes(config.muted);
  return config;
}

/** The http(s) origin of a `server` setting (ws/wss/http/https URL), or null. */
export function serverOrigin(server) {
  try {
    const url = new URL(String(server).replace(/^ws(s?):/, "http$1:"));
    return url.protocol === "http:" || url.protocol === "https:" ? url.origin : null;
  } catch {
    return null;
  }
}

const LOOPBACK = /^(localhost|127\.\d+\.\d+\.\d+|\[::1\])$/;

/** Whether `?server=` may point there: this page's own server, this machine, or an origin
 * the server lists in `server.allowed_origins`. */
export function serverAllowed(server, loc = window.location, allowed = []) {
  const origin = serverOrigin(server);
  if (!origin) return false;
  if (origin === loc.origin || LOOPBACK.test(new URL(origin).hostname)) return true;
  const list = Array.isArray(allowed) ? allowed : [];
  return list.includes("*") || list.some((a) => serverOrigin(a) === origin);
}

/** The http(s) origin the page talks to. */
export function serverBase(config, loc = window.location) {
  return (config.server && serverOrigin(config.server)) || loc.origin;
}
