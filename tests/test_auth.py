"""API keys, client secrets and origins on a real server: every route of the app's table is
walked, so a route added later without the door fails here."""

from __future__ import annotations

import asyncio
import json
import re
from collections.abc import Iterator

import httpx
import pytest
import websockets
from fastapi.routing import APIRoute, APIWebSocketRoute
from pydantic import SecretStr
from starlette.routing import Mount, Route, WebSocketRoute

from zenglow.app import create_app
from zenglow.engines.loader import Engines
from zenglow.settings import AuthSettings, ServerSettings

from .conftest import engines_with
from .server import LoopbackServer, connect

KEY = "test-key-0123456789abcdef"
OTHER = "other-key-0123456789abcdef"
METRICS_KEY = "metrics-key-0123456789abc"
# Open without a key: liveness, readiness, and the pages (they hold no data; the page asks
# for a key before it connects).  Anything else added to the app must need one.
PUBLIC = {"/health", "/ready", "/", "/kiosk", "/web/config.json", "/web"}


@pytest.fixture(scope="module")
def keyed(engines: Engines) -> Iterator[LoopbackServer]:
    auth = AuthSettings(
        api_keys=[SecretStr(KEY), SecretStr(OTHER)], metrics_key=SecretStr(METRICS_KEY)
    )
    server = ServerSettings(allowed_origins=["https://kiosk.example.com"])
    eng = engines_with(engines, auth=auth, server=server)
    with LoopbackServer(create_app(eng.settings, eng)) as srv:
        yield srv


def http(srv: LoopbackServer, path: str) -> str:
    return f"http://127.0.0.1:{srv.port}{path}"


def concrete(path: str) -> str:
    """A route's path with its parameters filled in."""
    return re.sub(r"\{(\w+)(:\w+)?\}", lambda m: "jarvis" if m[1] == "persona" else "x1", path)


def routes(srv: LoopbackServer) -> list[tuple[str, str]]:
    """(method or "WS", path template) for every route the app has."""
    return walk(srv.server.config.app.routes, "")


def walk(table: list[object], prefix: str) -> list[tuple[str, str]]:
    found: list[tuple[str, str]] = []
    for r in table:
        if isinstance(r, APIWebSocketRoute | WebSocketRoute):
            found.append(("WS", prefix + r.path))
        elif isinstance(r, APIRoute | Route):
            found += [(m, prefix + r.path) for m in sorted(r.methods or ()) if m != "HEAD"]
        elif isinstance(r, Mount):
            found.append(("GET", prefix + r.path))
        elif hasattr(r, "original_router"):  # an included router, as FastAPI keeps it
            context = r.include_context  # type: ignore[attr-defined]
            found += walk(r.original_router.routes, prefix + context.prefix)  # type: ignore[attr-defined]
        else:  # a kind of route this test does not know: teach it first
            pytest.fail(f"unknown route type {type(r).__name__} at {getattr(r, 'path', '?')}")
    return found


async def handshake_status(url: str, **kwargs: object) -> int:
    try:
        async with websockets.connect(url, **kwargs):  # type: ignore[arg-type]
            return 101
    except websockets.InvalidStatus as exc:
        return exc.response.status_code


def test_every_route_but_the_public_ones_needs_a_key(keyed: LoopbackServer) -> None:
    table = routes(keyed)
    assert len(table) > 10 and ("WS", "/v1/realtime") in table
    assert {p for _, p in table} >= PUBLIC
    with httpx.Client(timeout=30) as client:
        for method, path in table:
            url = http(keyed, concrete(path))
            if method == "WS":
                ws = url.replace("http", "ws", 1)
                status = asyncio.run(handshake_status(ws))
                assert status == (101 if path in PUBLIC else 401), (method, path, status)
                continue
            if path == "/web":
                url = http(keyed, "/web/js/chat.js")
            r = client.request(method, url)
            if path in PUBLIC:
                assert r.status_code != 401, (method, path)
                continue
            assert r.status_code == 401, (method, path, r.status_code)
            assert r.headers["www-authenticate"].startswith("Bearer")
            wrong = client.request(method, url, headers={"Authorization": "Bearer nope"})
            assert wrong.status_code == 401, (method, path)
            right = client.request(method, url, headers={"Authorization": f"Bearer {KEY}"})
            assert right.status_code not in (401, 403), (method, path, right.text)


def test_openai_shaped_errors_under_v1(keyed: LoopbackServer) -> None:
    r = httpx.post(http(keyed, "/v1/realtime/calls"), content="v=0")
    assert r.status_code == 401
    assert r.json()["error"]["code"] == "missing_api_key"
    r = httpx.post(http(keyed, "/jarvis/speak"), json={"text": "hi"})
    assert r.status_code == 401 and "API key" in r.json()["detail"]


def test_metrics_take_their_own_key_and_only_there(keyed: LoopbackServer) -> None:
    auth = {"Authorization": f"Bearer {METRICS_KEY}"}
    assert httpx.get(http(keyed, "/metrics"), headers=auth).status_code == 200
    assert httpx.get(http(keyed, "/v1/personas"), headers=auth).status_code == 401
    assert httpx.get(http(keyed, "/docs"), headers=auth).status_code == 401


def test_the_page_config_says_a_key_is_needed_and_which_origins_are_allowed(
    keyed: LoopbackServer,
) -> None:
    r = httpx.get(http(keyed, "/web/config.json"))
    assert r.status_code == 200
    assert r.json()["auth"] is True
    assert r.json()["allowed_origins"] == ["https://kiosk.example.com"]


async def test_websocket_with_a_key_in_the_header_or_the_subprotocol(
    keyed: LoopbackServer,
) -> None:
    headers = {"Authorization": f"Bearer {KEY}"}
    async with connect(keyed.ws_url, additional_headers=headers) as client:
        created = await client.wait_for("session.created")
        assert created["session"]["model"] == "jarvis"
    protocols = ["realtime", f"openai-insecure-api-key.{KEY}"]
    async with connect(keyed.ws_url, subprotocols=protocols) as client:
        await client.wait_for("session.created")
        assert client.ws.subprotocol == "realtime"  # the key is never echoed back
    status = await handshake_status(keyed.ws_url, subprotocols=["openai-insecure-api-key.bad"])
    assert status == 401


def secret(srv: LoopbackServer, body: object = None, key: str = KEY) -> httpx.Response:
    return httpx.post(
        http(srv, "/v1/realtime/client_secrets"),
        headers={"Authorization": f"Bearer {key}"},
        json=body if body is not None else {},
        timeout=30,
    )


async def test_a_client_secret_opens_one_session_with_its_config(keyed: LoopbackServer) -> None:
    r = secret(keyed, {"session": {"type": "realtime", "instructions": "Answer in French."}})
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["value"].startswith("ek_") and body["session"]["model"] == "jarvis"
    assert body["expires_at"] > 0
    protocols = ["realtime", f"openai-insecure-api-key.{body['value']}"]
    async with connect(keyed.ws_url, subprotocols=protocols) as client:
        created = await client.wait_for("session.created")
        assert created["session"]["instructions"] == "Answer in French."
        assert not client.of("session.updated")  # configured before it was announced
    assert await handshake_status(keyed.ws_url, subprotocols=protocols) == 401  # used up
    # a client secret is no API key
    ek = secret(keyed).json()["value"]
    async with httpx.AsyncClient() as h:
        r = await h.get(http(keyed, "/v1/personas"), headers={"Authorization": f"Bearer {ek}"})
    assert r.status_code == 403
    assert secret(keyed, key=ek).status_code in (401, 403)


async def test_an_expired_client_secret_is_refused(keyed: LoopbackServer) -> None:
    ek = secret(keyed, {"expires_after": {"anchor": "created_at", "seconds": 10}}).json()["value"]
    store = keyed.server.config.app.state.runtime.client_secrets
    real = store.clock
    store.clock = lambda: real() + 11
    try:
        status = await handshake_status(
            keyed.ws_url, additional_headers={"Authorization": f"Bearer {ek}"}
        )
    finally:
        store.clock = real
    assert status == 401


def test_client_secret_requests_are_checked(keyed: LoopbackServer) -> None:
    for body, code in [
        ({"expires_after": {"seconds": 5}}, "invalid_value"),
        ({"expires_after": {"anchor": "now"}}, "invalid_value"),
        ({"session": {"audio": {"output": {"speed": 9}}}}, "invalid_session"),
        ({"session": "x"}, "invalid_value"),
    ]:
        r = secret(keyed, body)
        assert r.status_code == 400 and r.json()["error"]["code"] == code, (body, r.text)
    r = httpx.post(
        http(keyed, "/v1/realtime/client_secrets"),
        headers={"Authorization": f"Bearer {KEY}"},
        content="{nope",
    )
    assert r.status_code == 400 and r.json()["error"]["code"] == "invalid_json"


async def test_the_official_sdk_with_its_api_key(keyed: LoopbackServer) -> None:
    from openai import AsyncOpenAI

    base = f"ws://127.0.0.1:{keyed.port}/v1"
    client = AsyncOpenAI(api_key=KEY, websocket_base_url=base)
    async with client.realtime.connect(model="jarvis") as conn:
        await conn.session.update(session={"type": "realtime", "output_modalities": ["text"]})
        await conn.conversation.item.create(
            item={
                "type": "message",
                "role": "user",
                "content": [{"type": "input_text", "text": "Hi!"}],
            }
        )
        await conn.response.create()
        async for event in conn:
            if event.type == "response.done":
                assert event.response.status == "completed"
                break
    refused = AsyncOpenAI(api_key="sk-wrong-key-0123456789", websocket_base_url=base)
    with pytest.raises(Exception, match="401"):
        async with refused.realtime.connect(model="jarvis") as conn:
            await conn.recv()


async def test_other_origins_are_refused_at_the_handshake_and_on_posts(
    keyed: LoopbackServer,
) -> None:
    headers = {"Authorization": f"Bearer {KEY}", "Origin": "https://evil.example"}
    assert await handshake_status(keyed.ws_url, additional_headers=headers) == 403
    async with httpx.AsyncClient() as h:
        r = await h.post(http(keyed, "/jarvis/speak"), headers=headers, json={"text": "hi"})
    assert r.status_code == 403 and "allowed_origins" in r.json()["detail"]
    for origin in (
        "https://kiosk.example.com",
        f"http://127.0.0.1:{keyed.port}",
        "http://localhost:3000",
    ):
        ok = {**headers, "Origin": origin}
        assert await handshake_status(keyed.ws_url, additional_headers=ok) == 101, origin


def test_cors_headers_only_for_allowed_origins(keyed: LoopbackServer) -> None:
    preflight = {
        "Access-Control-Request-Method": "POST",
        "Access-Control-Request-Headers": "authorization",
    }
    good = httpx.options(
        http(keyed, "/v1/realtime/calls"),
        headers={**preflight, "Origin": "https://kiosk.example.com"},
    )
    assert good.status_code == 200
    assert good.headers["access-control-allow-origin"] == "https://kiosk.example.com"
    bad = httpx.options(
        http(keyed, "/v1/realtime/calls"), headers={**preflight, "Origin": "https://evil.example"}
    )
    assert "access-control-allow-origin" not in bad.headers


def test_with_auth_off_a_borrowed_host_name_is_refused(server: LoopbackServer) -> None:
    """DNS rebinding: a page on evil.example whose name now points at this machine."""
    r = httpx.post(
        http(server, "/jarvis/speak"),
        headers={
            "Host": f"evil.example:{server.port}",
            "Origin": f"http://evil.example:{server.port}",
        },
        json={"text": "hi"},
    )
    assert r.status_code == 403 and "allowed_origins" in r.json()["detail"]
    ok = httpx.get(http(server, "/v1/personas"), headers={"Host": f"localhost:{server.port}"})
    assert ok.status_code == 200 and json.loads(ok.text)["default"] == "jarvis"
