"""The pages keep their conversation: the chat page resumes it after a reload and shows its
history, "New conversation" starts over, the kiosk resumes its own across reconnects and
starts afresh after a while with nobody there.  Headless Chromium against a real server."""

from __future__ import annotations

import json
import time

from websockets.sync.client import connect as ws_connect

from .server import user_text
from .web_browser import launch, open_page, silence_wav, url, wait_state

SAVED = "JSON.parse(localStorage.getItem('zenglow.conversation.{page}') || 'null')"


def test_a_reload_brings_the_history_back(pw, server, tmp_path):
    ctx = launch(pw, tmp_path / "profile", mic=silence_wav(tmp_path / "s.wav", seconds=60))
    try:
        page = open_page(ctx, url(server, "/"))  # WebRTC, the pages' default
        page.click("#connect")
        wait_state(page, "listening", 60)
        assert page.evaluate("window.zenglow.transport()") == "webrtc"
        page.fill("#text", "My favourite fruit is the mango.")
        page.click("#send")
        reply = page.wait_for_selector(".turn.assistant .text:not(.partial)", timeout=120_000)
        said = reply.inner_text()
        wait_state(page, "listening", 120)
        saved = page.evaluate(SAVED.format(page="chat"))
        assert saved and saved["id"].startswith("conv_")

        page.reload()
        page.wait_for_function("window.zenglow !== undefined", timeout=90_000)
        assert page.query_selector_all(".turn") == []
        page.click("#connect")
        page.wait_for_selector(".turn.assistant .text:not(.partial)", timeout=60_000)
        turns = page.query_selector_all(".turn .text")
        assert [t.inner_text() for t in turns] == ["My favourite fruit is the mango.", said]
        assert page.evaluate(SAVED.format(page="chat"))["id"] == saved["id"]

        page.click("#new-conversation")
        page.wait_for_function(
            f"({SAVED.format(page='chat')} || {{}}).id !== {json.dumps(saved['id'])}"
            f" && window.zenglow.connections() === 2",  # counted since the reload
            timeout=60_000,
        )
        wait_state(page, "listening", 60)
        assert page.query_selector_all(".turn") == []
        assert page.evaluate(SAVED.format(page="chat"))["id"] != saved["id"]
    finally:
        ctx.close()


def seeded(server, text: str) -> str:
    """A conversation holding one thing said, made over the WebSocket: its id.  (The
    synchronous client: Playwright's own loop runs in this thread.)"""
    with ws_connect(server.ws_url) as ws:
        opened = next(e for e in map(json.loads, ws) if e["type"] == "zenglow.conversation")
        ws.send(json.dumps(user_text(text)))
        next(e for e in map(json.loads, ws) if e["type"] == "conversation.item.done")
    return str(opened["id"])


def test_the_kiosk_resumes_its_own_and_starts_afresh_when_idle(pw, server, tmp_path):
    old = seeded(server, "I am the visitor before you.")
    ctx = launch(pw, tmp_path / "profile", mic=silence_wav(tmp_path / "s.wav", seconds=60))
    try:
        page = ctx.pages[0] if ctx.pages else ctx.new_page()
        page.goto(url(server, "/web/config.json"))  # this origin's storage, before the kiosk
        stale = {"id": old, "at": int(time.time() * 1000) - 3_600_000}  # an hour ago
        page.evaluate(
            f"localStorage.setItem('zenglow.conversation.kiosk', {json.dumps(json.dumps(stale))})"
        )
        page = open_page(ctx, url(server, "/kiosk?transport=ws&conversation_idle=4"))
        wait_state(page, "listening", 60)
        fresh = page.evaluate(SAVED.format(page="kiosk"))["id"]
        assert fresh != old  # idle too long: the last visitor's history is not resumed
        assert page.evaluate("window.zenglow.received()").get("conversation.item.done") is None

        recent = seeded(server, "I am talking to the kiosk now.")
        now = {"id": recent, "at": int(time.time() * 1000)}
        page.evaluate(
            f"localStorage.setItem('zenglow.conversation.kiosk', {json.dumps(json.dumps(now))})"
        )
        page.reload()
        wait_state(page, "listening", 60)
        assert page.evaluate(SAVED.format(page="kiosk"))["id"] == recent  # resumed
        assert page.evaluate("window.zenglow.received()")["conversation.item.done"] == 1
        # nobody speaks for conversation_idle seconds: it hangs up and starts a new one
        page.wait_for_function("window.zenglow.connections() === 2", timeout=30_000)
        wait_state(page, "listening", 60)
        assert page.evaluate(SAVED.format(page="kiosk"))["id"] not in (recent, old)
    finally:
        ctx.close()


MEMORY_CHECKS = """async () => {
  const { ConversationMemory } = await import("/web/js/conversation.js");
  const { chooseTransport } = await import("/web/js/transports.js");
  const kept = new Map();
  const storage = {
    getItem: (k) => kept.get(k) ?? null,
    setItem: (k, v) => kept.set(k, v),
    removeItem: (k) => kept.delete(k),
  };
  let now = 1000;
  const m = new ConversationMemory("kiosk", { storage, idleS: 10, now: () => now });
  const out = { empty: m.query() };
  m.handle({ type: "zenglow.conversation", id: "conv_a b", resumed: true, items: 2 });
  m.handle({ type: "conversation.item.done", item: { id: "x" } });
  out.query = m.query();
  out.items = m.items;
  now += 9000;
  out.stillThere = m.id;
  m.handle({ type: "conversation.item.done", item: { id: "y" } }); // talk keeps it alive
  now += 9000;
  out.touched = m.id;
  now += 11000;
  out.idle = m.idle();
  out.expired = m.id;
  m.save("conv_b");
  m.handle({ type: "error", error: { code: "conversation_not_found" } });
  out.lost = [m.lost, m.id];
  m.save("conv_c");
  const loc = { protocol: "http:", host: "h:1" };
  const t = chooseTransport({ persona: "jarvis", transport: "ws" }, loc, null, m);
  out.url = t.url;
  return out;
}"""


def test_the_conversation_memory(pw, server, tmp_path):
    ctx = launch(pw, tmp_path / "profile", mic=None)
    try:
        page = ctx.new_page()
        page.goto(url(server, "/web/package.json"))
        out = page.evaluate(MEMORY_CHECKS)
    finally:
        ctx.close()
    assert out["empty"] == ""
    assert out["query"] == "&conversation=conv_a%20b" and out["items"] == 3
    assert out["stillThere"] == out["touched"] == "conv_a b"
    assert out["idle"] is True and out["expired"] is None  # a new visitor starts afresh
    assert out["lost"] == [True, None]  # erased on the server: forgotten here
    assert out["url"] == "ws://h:1/v1/realtime?model=jarvis&extensions=zenglow&conversation=conv_c"
