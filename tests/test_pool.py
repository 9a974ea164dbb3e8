"""ChatPool: spreading, slots and queueing, failover, recovery, fallback, cancellation; the
pure pieces (ranking, slots, resume text) without a network."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Callable

import pytest

from zenglow.app import create_app
from zenglow.engines.base import EngineError
from zenglow.engines.endpoint import FLAP_WINDOW_S, Endpoint, NvmlBusy, Slots, failure_kind, rank
from zenglow.engines.llamacpp import LlamaCppChat
from zenglow.engines.loader import build_engines, build_pools, endpoint_chat
from zenglow.engines.openai_compat import OpenAICompatChat
from zenglow.engines.pool import ChatPool, FailoverInfo, NoEndpointError, continuation, joined
from zenglow.ops.metrics import Metrics
from zenglow.settings import EndpointSettings, Settings, load_settings

from .fakes import ScriptedChat
from .ollama_server import OllamaServer, Script, unused_port

WORDS = ("The", " quick", " brown", " fox", " jumps", " over", " the", " lazy", " dog", ".")
SENTENCE = "".join(WORDS)
USER = [{"role": "user", "content": "Say the sentence."}]


@pytest.fixture(scope="module")
def servers():
    with OllamaServer() as a, OllamaServer() as b:
        yield a, b


@pytest.fixture
def a(servers) -> OllamaServer:
    servers[0].reset()
    return servers[0]


@pytest.fixture
def b(servers) -> OllamaServer:
    servers[1].reset()
    return servers[1]


@pytest.fixture
def metrics() -> Metrics:
    return Metrics()


@pytest.fixture
async def make(metrics: Metrics) -> AsyncIterator[Callable[..., ChatPool]]:
    """Build pools of Ollama endpoints; probes stop and connections close afterwards."""
    pools: list[ChatPool] = []

    def build(persona: str, configs: list[EndpointSettings], **kw: object) -> ChatPool:
        endpoints = [Endpoint(endpoint_chat(c, 0.0), c) for c in configs]
        pool = ChatPool(persona, endpoints, metrics=metrics, **kw)  # type: ignore[arg-type]
        pools.append(pool)
        return pool

    yield build
    for pool in pools:
        await pool.aclose()


def cfg(where: OllamaServer | str, name: str, **kw: object) -> EndpointSettings:
    url = where if isinstance(where, str) else where.url
    kw = {"model": "tiny", "first_token_timeout_s": 10.0, "stall_timeout_s": 10.0, **kw}
    return EndpointSettings(kind="ollama", url=url, name=name, **kw)  # type: ignore[arg-type]


def dead_url() -> str:
    return f"http://127.0.0.1:{unused_port()}"


async def collect(pool: ChatPool, text: str = "Say the sentence.", **kw: object) -> str:
    messages = [{"role": "user", "content": text}]
    return "".join([d async for d in pool.stream(messages, max_tokens=50, **kw)])  # type: ignore[arg-type]


async def eventually(predicate: Callable[[], bool], within_s: float = 10.0) -> None:
    """Poll state that other threads (the test servers) or background probes change."""
    async with asyncio.timeout(within_s):
        while not predicate():  # noqa: ASYNC110
            await asyncio.sleep(0.01)


def sample(m: Metrics, name: str, **labels: str) -> float | None:
    return m.registry.get_sample_value(name, labels)


# --- pure pieces --------------------------------------------------------------------------


def endpoint(name: str, *, limit: int = 2, gpu: int | None = None) -> Endpoint:
    config = EndpointSettings(kind="ollama", model="m", name=name, max_in_flight=limit, gpu=gpu)
    return Endpoint(ScriptedChat(["x"]), config)


def test_rank_least_loaded_then_gpu_then_first_token_latency() -> None:
    a, b, c = endpoint("a"), endpoint("b", limit=4), endpoint("c")
    a.slots.in_use, b.slots.in_use = 1, 1  # a is half full, b a quarter
    assert [e.name for e in rank([a, b, c])] == ["c", "b", "a"]
    c.healthy = False
    assert [e.name for e in rank([a, b, c])] == ["b", "a"]
    x, y = endpoint("x", gpu=0), endpoint("y", gpu=1)
    x.observe_first_token(0.1)
    y.observe_first_token(0.5)
    assert [e.name for e in rank([y, x])] == ["x", "y"]  # same load: the faster one
    busy = {0: 0.93, 1: 0.12}
    assert [e.name for e in rank([x, y], busy.get)] == ["y", "x"]  # x's GPU is busy
    y.slots.in_use = 1
    assert [e.name for e in rank([x, y], busy.get)] == ["x", "y"]  # load comes first


def test_nvml_utilisation_is_a_ratio_or_unknown_and_cached() -> None:
    now = [0.0]
    busy = NvmlBusy(max_age_s=1.0, clock=lambda: now[0])
    first = busy(0)  # None without an NVIDIA driver
    assert first is None or 0.0 <= first <= 1.0
    assert busy._read[0] == (0.0, first)
    now[0] = 0.5
    assert busy(0) == first and busy._read[0][0] == 0.0  # within max_age_s: not read again
    now[0] = 2.0
    busy(0)
    assert busy._read[0][0] == 2.0


def test_first_token_latency_is_a_moving_average() -> None:
    e = endpoint("a")
    e.observe_first_token(1.0)
    e.observe_first_token(2.0)
    assert e.ttft_ewma == pytest.approx(1.3)


@pytest.mark.parametrize(
    ("message", "kind"),
    [
        ("cannot reach Ollama at http://x: is `ollama serve` running?", "unreachable"),
        ("the connection to Ollama at http://x broke during a reply", "unreachable"),
        ("model 'm' is not available on http://x: run `ollama pull m`", "model_missing"),
        ("Ollama at http://x answered HTTP 500: boom", "http"),
        ("Ollama at http://x sent nothing for 60 s while answering", "timeout"),
        ("Ollama at http://x ended the reply early", "other"),
    ],
)
def test_failure_kinds(message: str, kind: str) -> None:
    assert failure_kind(EngineError(message)) == kind


def test_resume_sends_the_said_text_as_an_assistant_prefix() -> None:
    assert continuation(USER, "") == USER  # type: ignore[arg-type]
    resumed = continuation(USER, "The quick")  # type: ignore[arg-type]
    assert resumed == [*USER, {"role": "assistant", "content": "The quick"}]
    assert joined("The quick ", " brown") == "brown" and joined("The quick", " brown") == " brown"
    assert joined("", " Hi") == " Hi"


async def test_slots_are_fifo_bounded_and_cancellation_safe() -> None:
    slots = Slots(limit=1, max_queue=2)
    assert slots.try_take() and not slots.try_take()
    order: list[str] = []

    async def waiter(name: str) -> None:
        await slots.take()
        order.append(name)

    w1, w2 = asyncio.create_task(waiter("w1")), asyncio.create_task(waiter("w2"))
    await asyncio.sleep(0)
    assert slots.waiting == 2 and not slots.has_room
    w1.cancel()
    await asyncio.sleep(0)
    assert slots.waiting == 1 and slots.in_use == 1  # the cancelled waiter left the queue
    slots.release()
    await w2
    assert order == ["w2"] and slots.in_use == 1
    # granted a slot and cancelled before it could run: the slot is handed back
    w3 = asyncio.create_task(waiter("w3"))
    await asyncio.sleep(0)
    slots.release()
    assert slots.in_use == 1  # granted to w3
    w3.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await w3
    assert slots.in_use == 0 and slots.waiting == 0 and order == ["w2"]
    with pytest.raises(asyncio.CancelledError):
        await w1


# --- spreading and queueing ----------------------------------------------------------------


async def test_concurrent_replies_spread_over_the_least_loaded(a, b, make, metrics) -> None:
    for s in (a, b):
        s.script = Script(tokens=WORDS, first_token_delay=1.0, token_delay=0.01)
    pool = make("jarvis", [cfg(a, "a", max_in_flight=2), cfg(b, "b", max_in_flight=2)])
    tasks = [asyncio.create_task(collect(pool, f"q{i}")) for i in range(6)]
    await eventually(lambda: sum(e.in_flight + e.queued for e in pool.endpoints) == 6)
    assert [(e.in_flight, e.queued) for e in pool.endpoints] == [(2, 1), (2, 1)]
    assert sample(metrics, "zenglow_llm_in_flight", persona="jarvis", endpoint="a") == 2
    assert sample(metrics, "zenglow_llm_queue_depth", persona="jarvis", endpoint="b") == 1
    assert await asyncio.gather(*tasks) == [SENTENCE] * 6
    assert (len(a.chats()), len(b.chats())) == (3, 3)
    assert all(e.in_flight == 0 and e.queued == 0 for e in pool.endpoints)
    first = sample(
        metrics, "zenglow_llm_time_to_first_token_seconds_count", persona="jarvis", endpoint="a"
    )
    assert first == 3
    speed = sample(metrics, "zenglow_llm_tokens_per_second_count", persona="jarvis", endpoint="b")
    assert speed == 3


async def test_requests_over_the_limit_queue_in_order_and_past_the_bound_fail_at_once(
    a, make
) -> None:
    a.script = Script(tokens=WORDS, first_token_delay=0.5, token_delay=0.02)
    pool = make("jarvis", [cfg(a, "a", max_in_flight=1, max_queue=3)])
    finished: list[str] = []

    async def ask(q: str) -> None:
        assert await collect(pool, q) == SENTENCE
        finished.append(q)

    tasks = [asyncio.create_task(ask(f"q{i}")) for i in range(4)]
    await eventually(lambda: pool.endpoints[0].queued == 3)
    with pytest.raises(EngineError, match="persona jarvis is busy: 3 waiting"):
        await collect(pool, "one too many")
    assert not any(t.done() for t in tasks)  # refused at once, not after waiting
    await asyncio.gather(*tasks)
    assert finished == ["q0", "q1", "q2", "q3"]
    assert [c.body["messages"][-1]["content"] for c in a.chats()] == finished


# --- failover ------------------------------------------------------------------------------


async def test_death_mid_reply_continues_on_the_other_endpoint(a, b, make, metrics) -> None:
    a.script = Script(tokens=WORDS, die_after=3)
    b.script = Script(tokens=WORDS[3:])  # the continuation of "The quick brown"
    pool = make("jarvis", [cfg(a, "a"), cfg(b, "b")], probe_first_s=60)
    moves: list[FailoverInfo] = []
    assert await collect(pool, on_failover=moves.append) == SENTENCE
    [sent] = b.chats()
    said = "".join(WORDS[:3])
    assert sent.body["messages"][-1] == {"role": "assistant", "content": said}
    assert sent.body["messages"][:-1] == [{"role": "user", "content": "Say the sentence."}]
    assert sent.body["options"]["num_predict"] == 50 - 3
    [move] = moves
    assert (move.persona, move.from_endpoint, move.to_endpoint, move.to_persona) == (
        "jarvis",
        "a",
        "b",
        "jarvis",
    )
    labels = {"persona": "jarvis", "from_endpoint": "a", "to_endpoint": "b"}
    assert sample(metrics, "zenglow_llm_failovers_total", **labels) == 1
    assert sample(metrics, "zenglow_llm_endpoint_up", persona="jarvis", endpoint="a") == 0
    assert sample(metrics, "zenglow_llm_endpoint_up", persona="jarvis", endpoint="b") == 1
    assert not pool.endpoints[0].healthy and "broke" in (pool.endpoints[0].down_reason or "")
    kind = {"persona": "jarvis", "endpoint": "a", "kind": "unreachable"}
    assert sample(metrics, "zenglow_llm_failures_total", **kind) == 1
    assert all(e.in_flight == 0 for e in pool.endpoints)


async def test_requests_waiting_on_an_endpoint_that_goes_down_move_on(a, b, make) -> None:
    a.script = Script(tokens=WORDS, first_token_delay=0.5, die_after=2)
    b.script = Script(tokens=WORDS[2:], first_token_delay=0.5)
    pool = make("jarvis", [cfg(a, "a", max_in_flight=1), cfg(b, "b", max_in_flight=1)])
    pool.probe_first_s = 60
    tasks = [asyncio.create_task(collect(pool, f"r{i}")) for i in range(3)]
    await eventually(lambda: pool.endpoints[0].queued == 1)  # r0 on a, r1 on b, r2 waits on a
    rest = "".join(WORDS[2:])
    assert await asyncio.gather(*tasks) == [SENTENCE, rest, rest]
    assert [c.body["messages"][0]["content"] for c in a.chats()] == ["r0"]
    assert sorted(c.body["messages"][0]["content"] for c in b.chats()) == ["r0", "r1", "r2"]
    assert all(e.in_flight == 0 and e.queued == 0 for e in pool.endpoints)


async def test_slow_first_token_fails_over(a, b, make, metrics) -> None:
    a.script = Script(tokens=WORDS, first_token_delay=30)
    b.script = Script(tokens=WORDS)
    pool = make("jarvis", [cfg(a, "a", first_token_timeout_s=0.3), cfg(b, "b")], probe_first_s=60)
    moves: list[FailoverInfo] = []
    assert await collect(pool, on_failover=moves.append) == SENTENCE
    assert [m.reason for m in moves] == ["no first token within 0.3 s"]
    kind = {"persona": "jarvis", "endpoint": "a", "kind": "timeout"}
    assert sample(metrics, "zenglow_llm_failures_total", **kind) == 1
    [abandoned] = a.chats()
    await eventually(lambda: abandoned.client_closed)  # the slow request was closed
    assert b.chats()[0].body["messages"] == USER  # nothing was said: a plain retry


async def test_stall_mid_reply_fails_over(a, b, make, metrics) -> None:
    a.script = Script(tokens=WORDS, stall_after=2)
    b.script = Script(tokens=WORDS[2:])
    pool = make("jarvis", [cfg(a, "a", stall_timeout_s=1.0), cfg(b, "b")], probe_first_s=60)
    assert await collect(pool) == SENTENCE
    kind = {"persona": "jarvis", "endpoint": "a", "kind": "stall"}
    assert sample(metrics, "zenglow_llm_failures_total", **kind) == 1
    assert b.chats()[0].body["messages"][-1]["content"] == "The quick"


async def test_a_recovered_endpoint_is_probed_back_up_and_gets_traffic(b, make) -> None:
    port = unused_port()
    url = f"http://127.0.0.1:{port}"
    b.script = Script(tokens=WORDS, token_delay=0.05)
    pool = make(
        "jarvis",
        [cfg(url, "c", max_in_flight=1), cfg(b, "b", max_in_flight=1)],
        probe_first_s=0.05,
        probe_max_s=0.2,
    )
    moves: list[FailoverInfo] = []
    assert await collect(pool, on_failover=moves.append) == SENTENCE  # c is not running yet
    assert [(m.from_endpoint, m.to_endpoint) for m in moves] == [("c", "b")]
    c = pool.endpoints[0]
    assert not c.healthy and "cannot reach" in (c.down_reason or "")
    with OllamaServer(Script(tokens=WORDS, token_delay=0.05), port=port) as restarted:
        await eventually(lambda: c.healthy)
        assert [restarted.exchanges[0].path] == ["/api/show"]  # the probe's check
        texts = await asyncio.gather(collect(pool, "one"), collect(pool, "two"))
        assert texts == [SENTENCE, SENTENCE]
        assert len(restarted.chats()) == 1  # back in the rotation


async def test_all_endpoints_down_fails_fast_naming_them(make, metrics) -> None:
    pool = make("jarvis", [cfg(dead_url(), "x"), cfg(dead_url(), "y")], probe_first_s=60)
    for _ in range(2):  # the second time, nothing is tried: both are known to be down
        async with asyncio.timeout(10):
            with pytest.raises(NoEndpointError) as err:
                await collect(pool)
        msg = str(err.value)
        assert "jarvis/x (cannot reach" in msg and "jarvis/y (cannot reach" in msg
    for name in ("x", "y"):
        kind = {"persona": "jarvis", "endpoint": name, "kind": "unreachable"}
        assert sample(metrics, "zenglow_llm_failures_total", **kind) == 1


async def test_a_pool_with_nothing_up_hands_the_reply_to_its_fallback(b, make, metrics) -> None:
    b.script = Script(tokens=WORDS)
    leonardo = make("leonardo", [cfg(b, "b")])
    jarvis = make("jarvis", [cfg(dead_url(), "x")], fallback=leonardo, probe_first_s=60)
    moves: list[FailoverInfo] = []
    assert await collect(jarvis, on_failover=moves.append) == SENTENCE
    [move] = moves
    assert (move.persona, move.from_endpoint, move.to_persona, move.to_endpoint) == (
        "jarvis",
        "x",
        "leonardo",
        "b",
    )
    assert "cannot reach" in move.reason
    labels = {"persona": "jarvis", "from_endpoint": "x", "to_endpoint": "leonardo/b"}
    assert sample(metrics, "zenglow_llm_failovers_total", **labels) == 1
    # with the fallback down too, the error names everything that is down
    leonardo.endpoints[0].healthy = False
    leonardo.endpoints[0].down_reason = "scripted outage"
    with pytest.raises(NoEndpointError, match=r"jarvis/x \(cannot reach .*leonardo/b \(scripted"):
        await collect(jarvis)


async def test_the_fallback_continues_a_reply_cut_mid_stream(a, b, make) -> None:
    a.script = Script(tokens=WORDS, die_after=4)
    b.script = Script(tokens=WORDS[4:])
    leonardo = make("leonardo", [cfg(b, "b")])
    jarvis = make("jarvis", [cfg(a, "a")], fallback=leonardo, probe_first_s=60)
    moves: list[FailoverInfo] = []
    assert await collect(jarvis, on_failover=moves.append) == SENTENCE
    assert [(m.to_persona, m.to_endpoint) for m in moves] == [("leonardo", "b")]
    assert b.chats()[0].body["messages"][-1]["content"] == "".join(WORDS[:4])


# --- cancellation, checks, warm-up -------------------------------------------------------


async def test_cancelled_consumers_free_their_slots(a, make) -> None:
    a.script = Script(tokens=WORDS * 20, token_delay=0.05)
    pool = make("jarvis", [cfg(a, "a", max_in_flight=1, max_queue=2)])
    e = pool.endpoints[0]
    got: list[str] = []

    async def consume() -> None:
        async for delta in pool.stream(USER, max_tokens=500):  # type: ignore[arg-type]
            got.append(delta)

    running = asyncio.create_task(consume())
    await eventually(lambda: bool(got))
    waiting = asyncio.create_task(collect(pool))
    await eventually(lambda: e.queued == 1)
    waiting.cancel()
    await asyncio.gather(waiting, return_exceptions=True)
    assert (e.in_flight, e.queued) == (1, 0)
    running.cancel()
    await asyncio.gather(running, return_exceptions=True)
    assert (e.in_flight, e.queued) == (0, 0)
    await eventually(lambda: a.chats()[0].client_closed)
    async with contextlib.aclosing(pool.stream(USER)) as stream:  # type: ignore[arg-type]
        async for _ in stream:
            break  # a consumer that stops early
    assert e.in_flight == 0 and e.healthy


async def test_check_and_warm_up_per_endpoint(a, b, make) -> None:
    pool = make("jarvis", [cfg(a, "a"), cfg(b, "b", model="missing:7b")], probe_first_s=60)
    problems = await pool.check()
    assert problems["a"] is None and "ollama pull missing:7b" in (problems["b"] or "")
    warmed = await pool.warm_up()
    assert warmed["a"] is None and "ollama pull missing:7b" in (warmed["b"] or "")
    [load] = a.chats()
    assert load.body["messages"] == [] and load.body["keep_alive"] == "30m"
    assert [e.healthy for e in pool.endpoints] == [True, False]
    e = pool.endpoints[1]
    assert (e.name, e.kind, e.model, e.url, e.gpu) == ("b", "ollama", "missing:7b", b.url, None)


# --- runtime wiring --------------------------------------------------------------------------


def test_runtime_builds_a_pool_per_persona_with_fallbacks() -> None:
    base = Settings()
    jarvis = base.personas["jarvis"].model_copy(
        update={
            "chat": base.personas["jarvis"].chat.model_copy(
                update={
                    "endpoints": [
                        cfg("http://gpu1:11434", "gpu1", gpu=1),
                        EndpointSettings(kind="openai", model="m", url="http://gpu0:8001/v1"),
                    ]
                }
            )
        }
    )
    ada = base.personas["leonardo"].model_copy(update={"display_name": "Ada"})
    personas = {**base.personas, "jarvis": jarvis, "ada": ada}
    pools = build_pools(base.model_copy(update={"personas": personas}), Metrics())
    assert pools["jarvis"].fallback is pools["leonardo"]
    assert pools["leonardo"].fallback is pools["jarvis"]
    assert pools["ada"].fallback is pools["jarvis"]
    gpu1, openai = pools["jarvis"].endpoints
    assert (gpu1.name, gpu1.gpu, openai.name) == ("gpu1", 1, "openai@gpu0:8001")
    assert isinstance(openai.chat, OpenAICompatChat) and openai.chat.url == "http://gpu0:8001/v1"
    [leo], [ada_ep] = pools["leonardo"].endpoints, pools["ada"].endpoints
    assert isinstance(leo.chat, LlamaCppChat)
    assert leo.chat is ada_ep.chat and leo.slots is ada_ep.slots  # one model in the process
    assert leo.slots.limit == 1


async def test_a_plain_chat_model_still_works_as_a_persona_chat() -> None:
    eng = build_engines(Settings())  # nothing is loaded until load() or warm_up()
    assert isinstance(eng.chat_for("jarvis"), ChatPool)
    assert len(eng.embedded_models()) == 1
    eng.chats = {name: ScriptedChat(["Hi", "!"]) for name in eng.settings.personas}
    assert eng.embedded_models() == []
    chat = eng.chat_for("jarvis")
    assert "".join([d async for d in chat.stream(USER)]) == "Hi!"  # type: ignore[arg-type]


async def test_an_app_that_built_its_engines_stops_their_probes_when_it_stops() -> None:
    up = OllamaServer(Script(tokens=["Hi", "."], models=("phi3:mini",))).start()
    dead = f"http://127.0.0.1:{unused_port()}"
    endpoints = [
        {"kind": "ollama", "model": "phi3:mini", "url": up.url, "name": "up"},
        {"kind": "ollama", "model": "phi3:mini", "url": dead, "name": "dead"},
    ]
    persona = {"system_prompt": "Be brief.", "chat": {"endpoints": endpoints}}
    settings = load_settings(None, personas={"jarvis": persona, "leonardo": persona})
    try:
        app = create_app(settings)
        async with app.router.lifespan_context(app):
            pools = app.state.runtime.engines.chats
            assert app.state.runtime.ready
            assert all(pool.probing == {"dead"} for pool in pools.values())
        assert not app.state.runtime.ready
        await asyncio.sleep(0)
        assert all(not pool.probing for pool in pools.values())  # cancelled at shutdown
    finally:
        up.stop()


def test_an_endpoint_that_keeps_failing_soon_after_recovering_is_probed_later() -> None:
    e = Endpoint(ScriptedChat(["x"]), cfg(dead_url(), "a"))
    assert e.first_probe_delay(0.5, 30.0, now=100.0) == 0.5  # never recovered before
    e.recovered_at = 100.0
    assert e.first_probe_delay(0.5, 30.0, now=110.0) == 1.0  # down 10 s after coming back
    e.recovered_at = 120.0
    assert e.first_probe_delay(0.5, 30.0, now=121.0) == 2.0
    e.recovered_at = 130.0
    assert [e.first_probe_delay(0.5, 30.0, now=131.0) for _ in range(6)][-1] == 30.0  # capped
    assert e.first_probe_delay(0.5, 30.0, now=130.0 + FLAP_WINDOW_S) == 0.5  # it held a while
