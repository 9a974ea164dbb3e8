// The kiosk page: Mira full screen, no controls. Listens by itself, reconnects with backoff
// when the server goes away, and dims after a while with nobody talking.
import { createAvatar } from "./avatar.js";
import { VoiceClient } from "./client.js";
import { Credentials } from "./auth.js";
import { loadConfig, serverBase } from "./config.js";
import { ConversationMemory } from "./conversation.js";
import { Diagnostics } from "./diagnostics.js";
import { describe } from "./messages.js";
import { backoffMs } from "./realtime.js";
import { SourceCards } from "./sources.js";
import { chooseTransport } from "./transports.js";

const $ = (id) => document.getElementById(id);
const config = await loadConfig();
const { avatar } = await createAvatar($("avatar"), config);
const diag = new Diagnostics(avatar);
const ctx = new AudioContext({ latencyHint: "interactive" });
// A kiosk has nobody to type a key: it comes in the address, as /kiosk#key=KEY.
const auth = new Credentials({ required: config.auth, base: serverBase(config) });
auth.adoptFragment();
let current = null; // the connected client
const sources = new SourceCards($("sources"), () => current?.sink.playing() ?? null);
window.zenglow.sources = () => sources.shown();
// Reconnects resume the kiosk's conversation, until it has been idle for conversation_idle s.
const memory = new ConversationMemory("kiosk", { idleS: config.conversation_idle });
let attempt = 0;
let lastActive = performance.now();

function note(text) {
  $("note").textContent = text || "";
  $("note").hidden = !text;
}

function retry() {
  const wait = backoffMs(attempt++);
  note(`Reconnecting in ${Math.ceil(wait / 1000)} s…`);
  setTimeout(run, wait);
}

async function run() {
  if (config.refusedServer) {
    const { title, advice } = describe("misdirected", config.refusedServer);
    note(`${title}. ${advice}`);
    return;
  }
  const client = new VoiceClient({
    transport: chooseTransport(config, location, auth, memory),
    ctx,
    turn: config.turn,
    eagerness: config.eagerness,
  });
  try {
    await client.connect();
  } catch (err) {
    if (err.kind === "gone") memory.forget(); // erased or expired: the next try starts afresh
    if (err.kind === "auth") {
      const { title, advice } = describe("kiosk-key", err.message);
      note(`${title}. ${advice}`);
      return;
    }
    retry();
    return;
  }
  diag.attach(client);
  current = client;
  client.onEvent((ev) => {
    sources.handle(ev);
    memory.handle(ev);
    if (ev.type === "zenglow.state" && ev.state !== "listening") {
      lastActive = performance.now();
      memory.touch();
    }
  });
  let closed = false;
  client.transport.onClose(({ refused }) => {
    closed = true;
    if (current === client) current = null;
    client.close();
    diag.detach();
    if (refused) attempt = Math.max(attempt, 3); // a busy server: wait longer
    retry();
  });
  attempt = 0;
  note("");
  lastActive = performance.now();
  try {
    await client.startMic();
    if (closed) client.mic.stop(); // the connection ended while the microphone was starting
  } catch (err) {
    const { title, advice } = describe(err.kind, err.message);
    if (!closed) note(`${title}. ${advice}`);
  }
}

// Where the browser holds sound back until someone touches the screen, the first touch starts it.
const wake = () => ctx.state !== "running" && ctx.resume();
for (const type of ["pointerdown", "keydown", "touchstart"]) window.addEventListener(type, wake);
ctx.onstatechange = () => document.body.classList.toggle("needs-touch", ctx.state !== "running");
document.body.classList.toggle("needs-touch", ctx.state !== "running");

setInterval(() => {
  const idle = (performance.now() - lastActive) / 1000 > config.idle;
  document.body.classList.toggle("idle", idle && diag.lastState === "listening");
  // Nobody for a long while: the next visitor starts a conversation of their own.
  if (current && memory.items > 0 && memory.idle() && diag.lastState === "listening") {
    memory.forget();
    current.close(); // its close reconnects, to a new conversation
  }
}, 1000);

run();
