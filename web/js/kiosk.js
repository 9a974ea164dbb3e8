// The kiosk page: Mira full screen, no controls. Listens by itself, reconnects with backoff
// when the server goes away, and dims after a while with nobody talking.
import { createAvatar } from "./avatar.js";
import { VoiceClient } from "./client.js";
import { loadConfig } from "./config.js";
import { Diagnostics } from "./diagnostics.js";
import { describe } from "./messages.js";
import { backoffMs } from "./realtime.js";
import { chooseTransport } from "./transports.js";

const $ = (id) => document.getElementById(id);
const config = await loadConfig();
const { avatar } = await createAvatar($("avatar"), config);
const diag = new Diagnostics(avatar);
const ctx = new AudioContext({ latencyHint: "interactive" });
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
  const client = new VoiceClient({
    transport: chooseTransport(config),
    ctx,
    turn: config.turn,
    eagerness: config.eagerness,
  });
  try {
    await client.connect();
  } catch {
    retry();
    return;
  }
  diag.attach(client);
  client.onEvent((ev) => {
    if (ev.type === "zenglow.state" && ev.state !== "listening") lastActive = performance.now();
  });
  let closed = false;
  client.transport.onClose(({ refused }) => {
    closed = true;
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
}, 1000);

run();
