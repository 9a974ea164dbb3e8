// API keys on the pages. With keys on (the page config says `auth: true`), the page keeps the
// key in this browser's storage and, before every connection, trades it for a short-lived
// client secret (POST /v1/realtime/client_secrets), which opens that one Realtime session.
// The chat page asks for the key once; a kiosk is started as /kiosk#key=KEY (the fragment
// never reaches a server; the page stores the key and takes it out of the address bar).

const STORE = "zenglow.apiKey";

export class AuthError extends Error {
  constructor(message) {
    super(message);
    this.kind = "auth";
  }
}

/** The `key` in a URL fragment such as `#key=...`, or null. */
export function keyFromFragment(loc = window.location) {
  const params = new URLSearchParams(loc.hash.replace(/^#/, ""));
  return params.get("key") || null;
}

export class Credentials {
  /**
   * required: the server needs a key; base: the server's http(s) origin;
   * ask(): resolves to a key typed by the person at the page (or null).
   */
  constructor({ required, base, ask = async () => null, storage = window.localStorage }) {
    this.required = Boolean(required);
    this.base = base.replace(/\/$/, "");
    this.ask = ask;
    this.storage = storage;
  }

  get key() {
    try {
      return this.storage.getItem(STORE);
    } catch {
      return null;
    }
  }

  set key(value) {
    try {
      if (value) this.storage.setItem(STORE, value);
      else this.storage.removeItem(STORE);
    } catch {
      // storage is off: the key lives as long as the page
    }
    this.memory = value || null;
  }

  /** Takes a `#key=` from the address into storage and out of the address bar. */
  adoptFragment(loc = window.location, history = window.history) {
    const key = keyFromFragment(loc);
    if (!key) return;
    this.key = key;
    history.replaceState(null, "", loc.pathname + loc.search);
  }

  /** The key's Authorization header, or {} when none is needed or known. */
  headers() {
    const key = this.key || this.memory;
    return key ? { Authorization: `Bearer ${key}` } : {};
  }

  /** A fresh client secret for one connection; null when the server needs no key. */
  async secret() {
    if (!this.required) return null;
    for (let tries = 0; tries < 3; tries++) {
      if (!this.key && !this.memory) {
        const typed = await this.ask();
        if (!typed) throw new AuthError("this server needs an API key");
        this.key = typed.trim();
      }
      const res = await fetch(`${this.base}/v1/realtime/client_secrets`, {
        method: "POST",
        headers: { ...this.headers(), "Content-Type": "application/json" },
        body: "{}",
      });
      if (res.ok) return (await res.json()).value;
      const body = await res.json().catch(() => ({}));
      if (res.status !== 401 && res.status !== 403) {
        throw new AuthError(body.error?.message || `HTTP ${res.status} from the server`);
      }
      this.key = null; // a wrong or revoked key: ask again
    }
    throw new AuthError("the API key was refused");
  }
}
