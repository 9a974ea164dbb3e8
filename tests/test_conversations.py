"""Durable conversations on a real server: resumed over the official SDK and over WebRTC,
replayed to the client, listed, read, exported and erased over REST, and kept apart by key."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterator, Sequence
from typing import Any

import httpx
import pytest
from pydantic import SecretStr

from zenglow.app import create_app
from zenglow.engines.base import ChatMessage
from zenglow.engines.loader import Engines
from zenglow.settings import AuthSettings

from .conftest import engines_with
from .server import LoopbackServer, connect, user_text
from .webrtc_peer import Peer

KEY = "conversation-key-0123456789ab"
OTHER = "conversation-key-other-01234"
TEXT_ONLY = {
    "type": "session.update",
    "session": {"type": "realtime", "output_modalities": ["text"]},
}


class Recording:
    """The real chat model, with the messages of each request kept."""

    def __init__(self, chat: Any) -> None:
        self.chat = chat
        self.calls: list[list[ChatMessage]] = []

    def __getattr__(self, name: str) -> Any:
        return getattr(self.chat, name)

    async def stream(self, messages: Sequence[ChatMessage], **kw: Any) -> AsyncIterator[str]:
        self.calls.append(list(messages))
        async for delta in self.chat.stream(messages, **kw):
            yield delta


@pytest.fixture(scope="module")
def keyed(engines: Engines) -> Iterator[tuple[LoopbackServer, dict[str, Recording]]]:
    eng = engines_with(engines, auth=AuthSettings(api_keys=[SecretStr(KEY), SecretStr(OTHER)]))
    chats = {name: Recording(chat) for name, chat in engines.chats.items()}
    eng.chats = chats  # type: ignore[assignment]
    with LoopbackServer(create_app(eng.settings, eng)) as srv:
        yield srv, chats


def rest(srv: LoopbackServer, key: str = KEY) -> httpx.Client:
    return httpx.Client(
        base_url=f"http://127.0.0.1:{srv.port}",
        headers={"Authorization": f"Bearer {key}"},
        timeout=30,
    )


async def sdk_turn(srv: LoopbackServer, text: str, query: dict[str, str]) -> list[Any]:
    """One typed turn over the official SDK; every event up to its response.done."""
    from openai import AsyncOpenAI

    client = AsyncOpenAI(api_key=KEY, websocket_base_url=f"ws://127.0.0.1:{srv.port}/v1")
    events: list[Any] = []
    async with client.realtime.connect(model="jarvis", extra_query=query) as conn:
        await conn.session.update(session={"type": "realtime", "output_modalities": ["text"]})
        await conn.conversation.item.create(
            item={
                "type": "message",
                "role": "user",
                "content": [{"type": "input_text", "text": text}],
            }
        )
        await conn.response.create()
        async with asyncio.timeout(120):
            async for event in conn:
                events.append(event)
                if event.type == "response.done":
                    break
    return events


async def test_resume_over_the_official_sdk(keyed: Any) -> None:
    srv, chats = keyed
    first = await sdk_turn(srv, "My name is Ada and I keep bees.", {})
    reply = first[-1].response.output[0].content[0].text
    assert first[-1].response.status == "completed" and reply.strip()
    with rest(srv) as http:
        listed = http.get("/v1/conversations", params={"limit": 1}).json()
    conversation = listed["data"][0]
    assert conversation["items"] == 2 and conversation["preview"].startswith("My name is Ada")

    second = await sdk_turn(srv, "What is my name?", {"conversation": conversation["id"]})
    replayed = [
        e for e in second if e.type in ("conversation.item.added", "conversation.item.done")
    ]
    restored = [e.item.id for e in replayed[:4]]
    assert [e.type for e in replayed[:4]] == [
        "conversation.item.added",
        "conversation.item.done",
    ] * 2
    assert restored[0] == restored[1] and restored[2] == restored[3]
    assert replayed[3].item.content[0].text == reply  # the reply, as it was told
    context = [m["content"] for m in chats["jarvis"].calls[-1] if m["role"] != "system"]
    assert context == ["My name is Ada and I keep bees.", reply, "What is my name?"]

    with rest(srv) as http:
        got = http.get(f"/v1/conversations/{conversation['id']}").json()
        exported = http.get(f"/v1/conversations/{conversation['id']}/export")
    assert [(i["role"], i["status"]) for i in got["data"]] == [
        ("user", "completed"), ("assistant", "completed"),
    ] * 2  # fmt: skip
    assert got["data"][2]["text"] == "What is my name?" and got["data"][1]["persona"] == "jarvis"
    assert "attachment" in exported.headers["content-disposition"]
    assert exported.json()["format"].startswith("zenglow.conversation.export")
    assert exported.json()["data"] == got["data"]


async def test_the_conversation_is_announced_to_clients_that_ask(keyed: Any) -> None:
    srv, _ = keyed
    url = f"ws://127.0.0.1:{srv.port}/v1/realtime?extensions=zenglow"
    headers = {"Authorization": f"Bearer {KEY}"}
    async with connect(url, additional_headers=headers) as client:
        await client.wait_for("session.created")
        opened = await client.wait_for("zenglow.conversation")
        await client.send(TEXT_ONLY)
        await client.send(user_text("Remember the word marmalade."))
        await client.wait_for("conversation.item.done")
    assert client.events[1]["type"] == "zenglow.conversation"  # right after session.created
    assert opened["resumed"] is False and opened["items"] == 0
    async with connect(f"{url}&conversation={opened['id']}", additional_headers=headers) as again:
        reopened = await again.wait_for("zenglow.conversation")
        done = await again.wait_for("conversation.item.done")
    assert reopened == {**reopened, "id": opened["id"], "resumed": True, "items": 1}
    assert done["item"]["content"][0]["text"] == "Remember the word marmalade."


async def test_one_key_cannot_read_resume_or_delete_another_keys(keyed: Any) -> None:
    srv, _ = keyed
    url = f"ws://127.0.0.1:{srv.port}/v1/realtime?extensions=zenglow"
    async with connect(url, additional_headers={"Authorization": f"Bearer {KEY}"}) as client:
        opened = await client.wait_for("zenglow.conversation")
        await client.send(user_text("Only mine."))
        await client.wait_for("conversation.item.done")
    cid = opened["id"]
    with rest(srv, OTHER) as other:
        assert other.get(f"/v1/conversations/{cid}").status_code == 404
        assert other.get(f"/v1/conversations/{cid}/export").status_code == 404
        assert other.delete(f"/v1/conversations/{cid}").status_code == 404
        assert cid not in [c["id"] for c in other.get("/v1/conversations").json()["data"]]
        assert other.delete("/v1/conversations").json()["deleted"] == 0  # theirs only
    other_headers = {"Authorization": f"Bearer {OTHER}"}
    async with connect(f"{url}&conversation={cid}", additional_headers=other_headers) as client:
        refused = await client.wait_for("error")
    assert refused["error"]["code"] == "conversation_not_found"
    with rest(srv) as mine:
        assert mine.get(f"/v1/conversations/{cid}").json()["data"][0]["text"] == "Only mine."
        assert mine.delete(f"/v1/conversations/{cid}").json()["deleted"] is True
        assert mine.get(f"/v1/conversations/{cid}").status_code == 404


def test_listing_pages_and_an_owner_can_erase_all(keyed: Any) -> None:
    srv, _ = keyed
    with rest(srv) as http:
        assert http.get("/v1/conversations", params={"limit": 0}).status_code == 400
        everything = http.get("/v1/conversations", params={"limit": 100}).json()["data"]
        pages, after = [], None
        while True:
            params: dict[str, Any] = {"limit": 1, **({"after": after} if after else {})}
            page = http.get("/v1/conversations", params=params).json()
            pages += [c["id"] for c in page["data"]]
            if not page["has_more"]:
                break
            after = page["last_id"]
        assert pages == [c["id"] for c in everything] and len(pages) >= 1
        assert http.delete("/v1/conversations").json()["deleted"] == len(everything)
        assert http.get("/v1/conversations").json()["data"] == []


async def test_a_webrtc_call_resumes_a_conversation(server: LoopbackServer) -> None:
    base = f"http://127.0.0.1:{server.port}"
    async with connect(server.ws_url) as client:
        opened = await client.wait_for("zenglow.conversation")
        await client.send(user_text("We spoke about tides."))
        await client.wait_for("conversation.item.done")
    peer = Peer()
    try:
        missing = await peer.call(base, query="?extensions=zenglow&conversation=conv_unknown")
        assert missing.status_code == 404
        assert missing.json()["error"]["code"] == "conversation_not_found"
    finally:
        await peer.close()
    peer = Peer()
    try:
        answered = await peer.call(base, query=f"?extensions=zenglow&conversation={opened['id']}")
        assert answered.status_code == 201
        reopened = await peer.wait_for("zenglow.conversation", timeout=30)
        done = await peer.wait_for("conversation.item.done", timeout=30)
    finally:
        await peer.close()
    assert reopened["id"] == opened["id"] and reopened["resumed"] is True
    assert done["item"]["content"][0]["text"] == "We spoke about tides."


def test_ready_says_the_server_is_persisting(server: LoopbackServer) -> None:
    body = httpx.get(f"http://127.0.0.1:{server.port}/ready").json()
    assert body["storage"] == {"persisting": True}
    metrics = httpx.get(f"http://127.0.0.1:{server.port}/metrics").text
    assert "zenglow_storage_persisting 1.0" in metrics
