// The conversation a page belongs to, kept in localStorage, so that a reload or a reconnect
// resumes it (`?conversation=ID`; the server replays its items). `forget()` starts over;
// with `idleS` (the kiosk), a conversation untouched that long is forgotten by itself, so a
// new visitor does not hear the last one's history.
const PREFIX = "zenglow.conversation.";

export class ConversationMemory {
  constructor(page, { storage = globalThis.localStorage, idleS = null, now = () => Date.now() } = {}) {
    this.key = PREFIX + page;
    this.storage = storage;
    this.idleS = idleS;
    this.now = now;
    this.items = 0; // items the conversation holds, as far as this page was told
    this.lost = false; // the server did not know the saved conversation (erased, expired)
  }

  read() {
    try {
      return JSON.parse(this.storage.getItem(this.key)) || null;
    } catch {
      return null;
    }
  }

  /** The saved conversation's id, or null (none, or idle too long). */
  get id() {
    const saved = this.read();
    if (!saved) return null;
    if (this.idle()) {
      this.forget();
      return null;
    }
    return saved.id;
  }

  /** Whether the saved conversation has been untouched for longer than `idleS`. */
  idle() {
    const saved = this.read();
    return Boolean(saved && this.idleS && this.now() - saved.at > this.idleS * 1000);
  }

  /** `&conversation=ID` for a connection URL that already has a query, or "". */
  query() {
    const id = this.id;
    return id ? `&conversation=${encodeURIComponent(id)}` : "";
  }

  save(id) {
    this.storage.setItem(this.key, JSON.stringify({ id, at: this.now() }));
  }

  touch() {
    const saved = this.read();
    if (saved) this.save(saved.id);
  }

  forget() {
    this.storage.removeItem(this.key);
    this.items = 0;
  }

  handle(ev) {
    if (ev.type === "zenglow.conversation") {
      this.save(ev.id);
      this.items = ev.items;
      this.lost = false;
    } else if (ev.type === "conversation.item.done") {
      this.items += 1;
      this.touch();
    } else if (ev.type === "error" && ev.error?.code === "conversation_not_found") {
      this.forget();
      this.lost = true;
    }
  }
}
