// Leonardo's sources: when he answers from the user's documents, a card per document with
// where the passage stands and the key points he speaks from it. Each `zenglow.citations`
// event waits until the reply's audio reaches its `audio_offset_ms` (at once in a text
// reply), so a card appears as he says what it backs.

const PASSAGE_CHARS = 280;
const TICK_MS = 80;

export class SourceCards {
  /** root: the element that holds the cards; playing(): {responseId, ms} of the audio heard now. */
  constructor(root, playing = () => null) {
    this.root = root;
    this.playing = playing;
    this.pending = [];
    this.response = null;
    this.cards = new Map(); // document_id -> card element
    this.heard = new Set(); // responses whose audio has been heard playing
    this.done = new Set(); // responses whose audio has all arrived (response.done)
    this.timer = null;
  }

  handle(ev) {
    if (ev.type === "zenglow.citations") {
      this.pending.push(ev);
      this.tick();
      if (this.pending.length && !this.timer) this.timer = setInterval(() => this.tick(), TICK_MS);
    } else if (ev.type === "response.done") {
      this.done.add(ev.response.id);
      this.tick();
    } else if (ev.type === "zenglow.state" && ev.state === "interrupted") {
      this.pending = []; // what was not heard is not shown
    }
  }

  tick() {
    const now = this.playing();
    if (now) this.heard.add(now.responseId);
    const waiting = [];
    for (const ev of this.pending) {
      const here = now && now.responseId === ev.response_id;
      // its audio played and ended: not a gap while the next sentence is still on its way
      const past = !here && this.heard.has(ev.response_id) && this.done.has(ev.response_id);
      if (ev.audio_offset_ms == null || (here && now.ms >= ev.audio_offset_ms) || past) this.show(ev);
      else waiting.push(ev);
    }
    this.pending = waiting;
    if (!waiting.length && this.timer) {
      clearInterval(this.timer);
      this.timer = null;
    }
  }

  show(ev) {
    if (ev.response_id !== this.response) this.clear(ev.response_id);
    for (const source of ev.sources) {
      let card = this.cards.get(source.document_id);
      if (!card) {
        card = this.card(source);
        this.cards.set(source.document_id, card);
        this.root.append(card);
      }
      const points = card.querySelector(".points");
      if (![...points.children].some((li) => li.textContent === ev.text)) {
        const li = document.createElement("li");
        li.textContent = ev.text;
        points.append(li);
      }
    }
    this.root.hidden = this.cards.size === 0;
    document.body.classList.toggle("has-sources", this.cards.size > 0);
  }

  card(source) {
    const card = document.createElement("article");
    card.className = "source-card";
    card.dataset.documentId = source.document_id;
    const title = document.createElement("h3");
    title.textContent = source.title;
    const where = document.createElement("p");
    where.className = "locator";
    where.textContent = source.locator || "";
    const quote = document.createElement("blockquote");
    const text = source.text.trim();
    quote.textContent = text.length > PASSAGE_CHARS ? `${text.slice(0, PASSAGE_CHARS)}…` : text;
    const points = document.createElement("ul");
    points.className = "points";
    card.append(title, where, quote, points);
    return card;
  }

  clear(responseId = null) {
    this.response = responseId;
    this.cards.clear();
    this.root.replaceChildren();
    this.root.hidden = true;
    document.body.classList.remove("has-sources");
  }

  /** What is shown, for tests: [{title, locator, points: [...]}]. */
  shown() {
    return [...this.cards.values()].map((card) => ({
      title: card.querySelector("h3").textContent,
      locator: card.querySelector(".locator").textContent,
      points: [...card.querySelectorAll(".points li")].map((li) => li.textContent),
    }));
  }
}
