// The live transcript: both sides, partial words in grey until final, who spoke, and each
// reply's latency from zenglow.turn_metrics.

const STAGES = [
  ["endpoint_ms", "end of turn"],
  ["stt_ms", "transcript"],
  ["llm_first_token_ms", "first token"],
  ["tts_first_audio_ms", "first audio"],
];

export class Transcript {
  constructor(list, latency) {
    this.list = list;
    this.latency = latency;
    this.entries = new Map(); // item_id -> {li, text}
    this.responses = new Map(); // response_id -> item_id
    this.persona = null;
  }

  entry(itemId, role) {
    let e = this.entries.get(itemId);
    if (!e) {
      const li = document.createElement("li");
      li.className = `turn ${role}`;
      li.dataset.item = itemId;
      const who = document.createElement("span");
      who.className = "who";
      who.textContent = role === "user" ? "You" : this.personaName();
      const text = document.createElement("span");
      text.className = "text partial";
      li.append(who, text);
      if (role === "assistant") li.dataset.persona = this.persona || "";
      this.list.append(li);
      e = { li, text, words: "" };
      this.entries.set(itemId, e);
    }
    return e;
  }

  /** Forgets every entry: a new conversation starts. */
  clear() {
    this.list.replaceChildren();
    this.entries.clear();
    this.responses.clear();
    this.latency.textContent = "";
  }

  /** An item told done that the page has not shown (a resumed conversation's): shown whole. */
  restore(item) {
    if (this.entries.has(item.id) || !["user", "assistant"].includes(item.role)) return;
    const part = item.content?.[0] || {};
    const e = this.entry(item.id, item.role);
    this.set(e, part.text ?? part.transcript ?? "", true);
    if (item.status === "incomplete") e.li.classList.add("cut");
  }

  personaName() {
    return this.persona ? this.persona[0].toUpperCase() + this.persona.slice(1) : "Assistant";
  }

  set(e, words, final) {
    e.words = words;
    e.text.textContent = words;
    e.text.classList.toggle("partial", !final);
    this.list.scrollTop = this.list.scrollHeight;
  }

  handle(ev) {
    switch (ev.type) {
      case "conversation.item.added": {
        const item = ev.item;
        const typed = item.content?.find((c) => c.type === "input_text");
        if (item.role === "user" && typed) this.set(this.entry(item.id, "user"), typed.text, true);
        break;
      }
      case "conversation.item.done":
        this.restore(ev.item);
        break;
      case "conversation.item.input_audio_transcription.delta": {
        const e = this.entry(ev.item_id, "user");
        this.set(e, e.words + ev.delta, false);
        break;
      }
      case "conversation.item.input_audio_transcription.completed":
        this.set(this.entry(ev.item_id, "user"), ev.transcript, true);
        break;
      case "zenglow.persona":
        this.persona = ev.persona;
        break;
      case "response.output_item.added":
        this.responses.set(ev.response_id, ev.item.id);
        this.entry(ev.item.id, "assistant");
        break;
      case "response.output_audio_transcript.delta":
      case "response.output_text.delta": {
        const e = this.entry(ev.item_id, "assistant");
        this.set(e, e.words + ev.delta, false);
        break;
      }
      case "response.done": {
        const item = ev.response?.output?.find((o) => o.type === "message"); // not a call
        if (!item) break;
        const e = this.entry(item.id, "assistant");
        const heard = item.content?.[0]?.transcript ?? item.content?.[0]?.text ?? e.words;
        this.set(e, heard, true);
        if (ev.response.status === "cancelled") e.li.classList.add("cut");
        break;
      }
      case "zenglow.turn_metrics":
        this.metrics(ev);
        break;
    }
  }

  metrics(ev) {
    const m = ev.metrics || {};
    const fmt = (v) => (v == null ? "–" : `${Math.round(v)} ms`);
    const parts = STAGES.filter(([k]) => m[k] != null).map(([k, name]) => `${name} ${fmt(m[k])}`);
    const summary = `voice to voice ${fmt(m.voice_to_voice_ms)}`;
    this.latency.textContent = `Last turn: ${summary}${parts.length ? ` (${parts.join(" · ")})` : ""}`;
    const itemId = this.responses.get(ev.response_id);
    const e = itemId && this.entries.get(itemId);
    if (e) {
      const tag = document.createElement("span");
      tag.className = "latency";
      tag.textContent = m.voice_to_voice_ms != null ? fmt(m.voice_to_voice_ms) : fmt(m.first_audio_sent_ms);
      tag.title = parts.join("\n");
      e.li.append(tag);
    }
  }
}
