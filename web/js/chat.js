// The voice chat page: connect, talk or type, see both sides' words, who speaks and how fast.
import { createAvatar } from "./avatar.js";
import { VoiceClient } from "./client.js";
import { Credentials } from "./auth.js";
import { loadConfig, serverBase } from "./config.js";
import { ConversationMemory } from "./conversation.js";
import { Diagnostics } from "./diagnostics.js";
import { describe } from "./messages.js";
import { Mic } from "./mic.js";
import { realtimeUrl } from "./realtime.js";
import { SourceCards } from "./sources.js";
import { Transcript } from "./transcript.js";
import { LABELS, chooseTransport } from "./transports.js";
import { DocumentUploads } from "./uploads.js";

const $ = (id) => document.getElementById(id);
const config = await loadConfig();
const { avatar, error: avatarError } = await createAvatar($("avatar"), config);
const diag = new Diagnostics(avatar);
const transcript = new Transcript($("transcript"), $("latency"));
const memory = new ConversationMemory("chat"); // a reload resumes the conversation
let client = null;
let ctx = null;
const auth = new Credentials({ required: config.auth, base: serverBase(config), ask: askKey });
auth.adoptFragment();
const sources = new SourceCards($("sources"), () => client?.sink.playing() ?? null);
const uploads = new DocumentUploads($("uploads"), {
  base: serverBase(config),
  headers: () => auth.headers(),
});
uploads.acceptDrops(document.body);
$("add-documents").accept = (config.documents || []).join(","); // the server's file types
$("add-documents").addEventListener("change", (e) => {
  uploads.add([...e.target.files]);
  e.target.value = "";
});
window.zenglow.sources = () => sources.shown();
window.zenglow.uploads = () => uploads.results.slice();

/** Shows the key form and resolves to what is typed (null when it is dismissed). */
function askKey() {
  const form = $("key-form");
  form.hidden = false;
  $("key").value = "";
  $("key").focus();
  return new Promise((resolve) => {
    form.onsubmit = (e) => {
      e.preventDefault();
      form.hidden = true;
      resolve($("key").value.trim() || null);
    };
    form.onreset = () => {
      form.hidden = true;
      resolve(null);
    };
  });
}

function showError(kind, detail) {
  const { title, advice } = describe(kind, detail);
  $("error").hidden = false;
  $("error-title").textContent = title;
  $("error-advice").textContent = advice;
  $("error").dataset.kind = kind;
}

function clearError() {
  $("error").hidden = true;
  delete $("error").dataset.kind;
}

function setConnected(on) {
  $("connect").textContent = on ? "Disconnect" : "Connect";
  $("connect").classList.toggle("on", on);
  $("text").disabled = $("send").disabled = !on;
  $("mute").disabled = !on || !client?.mic.stream;
  document.body.classList.toggle("connected", on);
  $("status").textContent = on ? `Connected${via()}` : "Not connected";
}

/** " (WebRTC)" or " (WebSocket)": the transport in use. */
function via() {
  const kind = client?.transport.kind;
  return kind ? ` (${LABELS[kind]})` : "";
}

function setPersona(persona) {
  const name = persona ? persona[0].toUpperCase() + persona.slice(1) : "";
  $("persona").textContent = name;
  $("persona").dataset.persona = persona || "";
}

async function fillDevices() {
  const select = $("device");
  const current = client?.mic.deviceId;
  select.replaceChildren();
  for (const d of await Mic.devices()) {
    const opt = new Option(d.label || `Microphone ${select.length + 1}`, d.deviceId);
    opt.selected = d.deviceId === current;
    select.add(opt);
  }
  select.disabled = select.length === 0;
}

async function connect() {
  clearError();
  ctx = ctx || new AudioContext({ latencyHint: "interactive" });
  const url = realtimeUrl(location, config.persona, config.server);
  const c = new VoiceClient({
    transport: chooseTransport(config, location, auth, memory),
    ctx,
    deviceId: $("device").value || null,
    turn: config.turn,
    eagerness: config.eagerness,
  });
  client = c;
  diag.attach(c);
  c.onEvent((ev) => {
    memory.handle(ev);
    transcript.handle(ev);
    sources.handle(ev);
    if (ev.type === "zenglow.persona") setPersona(ev.persona);
    if (ev.type === "zenglow.state")
      $("status").textContent = `Connected${via()} · ${ev.state.replace("_", " ")}`;
  });
  c.transport.onClose(({ refused, reason, code }) => {
    if (client !== c) return;
    c.close();
    client = null;
    diag.detach();
    setConnected(false);
    if (memory.lost) connect(); // the saved conversation is gone: start a new one
    else if (refused) showError("refused", reason);
    else if (code !== 1000) showError("lost", reason || `code ${code}`);
  });
  $("connect").disabled = true;
  try {
    await c.connect();
  } catch (err) {
    client = null;
    diag.detach();
    if (err.kind === "gone") {
      memory.forget(); // the saved conversation is gone: start a new one
      $("connect").disabled = false;
      return connect();
    }
    if (err.kind === "refused" || err.kind === "auth") showError(err.kind, err.message);
    else showError("unreachable", url);
    return;
  } finally {
    $("connect").disabled = false;
  }
  setConnected(true);
  try {
    c.mic.setMuted(config.muted);
    showMuted();
    await c.startMic();
    c.mic.onLevel = (level) => ($("level-bar").style.width = `${Math.min(100, level * 400)}%`);
    await fillDevices();
  } catch (err) {
    if (client === c) showError(err.kind || "failed", err.message);
  }
  if (client !== c) c.mic.stop(); // the connection ended while the microphone was starting
  setConnected(client === c);
}

$("connect").addEventListener("click", () => {
  if (client) {
    const c = client;
    client = null;
    c.close();
    diag.detach();
    setConnected(false);
  } else {
    connect();
  }
});

function showMuted() {
  const muted = client?.mic.muted ?? false;
  $("mute").textContent = muted ? "Unmute" : "Mute";
  $("mute").classList.toggle("on", muted);
  if (muted) $("level-bar").style.width = "0%";
}

$("new-conversation").addEventListener("click", () => {
  memory.forget();
  transcript.clear();
  if (!client) return;
  const c = client; // connected: hang up and come back to a new conversation
  client = null;
  c.close();
  diag.detach();
  setConnected(false);
  connect();
});

$("mute").addEventListener("click", () => {
  if (!client) return;
  client.mic.setMuted(!client.mic.muted);
  showMuted();
});

$("device").addEventListener("change", async () => {
  if (!client) return;
  try {
    await client.startMic($("device").value);
    clearError();
  } catch (err) {
    showError(err.kind || "failed", err.message);
  }
});

$("say").addEventListener("submit", (e) => {
  e.preventDefault();
  const text = $("text").value.trim();
  if (!client || !text) return;
  client.say(text);
  $("text").value = "";
});

setConnected(false);
if (!window.isSecureContext) showError("insecure");
if (config.refusedServer) showError("misdirected", config.refusedServer);
if (avatarError) $("status").textContent = avatarError;
fillDevices();
