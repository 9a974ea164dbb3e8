"""The process-wide engines, built from settings: loaded once, shared by all sessions."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ..knowledge import Knowledge, KnowledgeError
from ..ops.metrics import Metrics
from ..settings import EndpointSettings, PersonaSettings, Settings
from ..tools.registry import ServerTools
from .base import ChatMessage, ChatModel, EngineError, Voice
from .bundled import NAMES, model_path
from .endpoint import Endpoint, NvmlBusy
from .llamacpp import LlamaCppChat
from .ollama import OllamaChat
from .openai_compat import OpenAICompatChat
from .piper import PiperTTS
from .pool import ChatPool
from .silero import SileroModel, SileroVAD, shared_model
from .smart_turn import SmartTurnModel
from .smart_turn import shared_model as shared_turn_model
from .whisper import FasterWhisperSTT

log = logging.getLogger(__name__)


def voice_of(persona: PersonaSettings) -> Voice:
    v = persona.voice
    return Voice(model=str(v.model) if v.model else None, speaker=v.speaker, speed=v.speed)


@dataclass
class Engines:
    settings: Settings
    stt: FasterWhisperSTT
    tts: PiperTTS
    vad_model: SileroModel
    chats: dict[str, ChatModel]
    metrics: Metrics = field(default_factory=Metrics)
    load_seconds: dict[str, float] = field(default_factory=dict)
    turn_model: SmartTurnModel | None = None  # semantic_vad's turn-end model
    knowledge: Knowledge | None = None  # the user's documents, which ground Leonardo
    tools: ServerTools | None = None  # the server-side tools (built-in, MCP servers)

    def chat_for(self, persona: str) -> ChatModel:
        return self.chats[persona]

    def problems(self, wedged_s: float) -> list[str]:
        """Why a turn could not be served now: the default persona has no chat endpoint
        up (nor its fallback), or the speech-to-text worker is stuck on one job."""
        found = []
        chat = self.chats.get(self.settings.default_persona)
        if isinstance(chat, ChatPool):
            reachable = [chat, chat.fallback] if chat.fallback is not None else [chat]
            if not any(e.healthy for p in reachable for e in p.endpoints):
                found.append(f"no chat endpoint is up for {chat.name}")
        busy = self.stt.busy_for
        if busy > wedged_s:
            found.append(f"the speech-to-text worker has been on one job for {busy:.0f} s")
        return found

    def embedded_models(self) -> list[LlamaCppChat]:
        """The in-process chat models (one, shared by every persona that uses it)."""
        found: dict[int, LlamaCppChat] = {}
        for chat in self.chats.values():
            models = [e.chat for e in chat.endpoints] if isinstance(chat, ChatPool) else [chat]
            found |= {id(m): m for m in models if isinstance(m, LlamaCppChat)}
        return list(found.values())

    def new_vad(self) -> SileroVAD:
        return SileroVAD(self.vad_model)

    def system_messages(self, persona: str, instructions: str | None = None) -> list[ChatMessage]:
        prompt = instructions or self.settings.persona(persona).system_prompt
        return [{"role": "system", "content": prompt}]

    def load(self) -> None:
        """Load every engine (blocking).  Raises EngineError naming what failed."""

        def timed(name: str, fn) -> None:  # type: ignore[no-untyped-def]
            t0 = time.perf_counter()
            fn()
            self.load_seconds[name] = time.perf_counter() - t0

        timed("stt", self.stt.load)
        for name, persona in self.settings.personas.items():
            timed(f"tts:{name}", lambda p=persona: self.tts.load(voice_of(p)))
        for chat in self.embedded_models():
            timed(f"llm:{chat.name}", chat.load)

    async def warm_up(self) -> None:
        """Load everything off the event loop, then run each engine once so the first
        turn does not pay for lazy initialisation; Ollama models are loaded with keep_alive.

        A chat endpoint that fails to warm up is marked down and probed until it recovers;
        only a persona left with no endpoint up (nor a fallback's) stops the start."""
        await asyncio.to_thread(self.load)
        await self.stt.transcribe(np.zeros(self.stt.sample_rate, np.float32))
        pools: dict[str, ChatPool] = {}
        for name, persona in self.settings.personas.items():
            async for _ in self.tts.synthesize("Hello.", voice=voice_of(persona)):
                pass
            chat = self.chats[name]
            if isinstance(chat, ChatPool):
                pools[name] = chat
                for endpoint, problem in (await chat.warm_up(persona.system_prompt)).items():
                    if problem:
                        log.warning("chat endpoint %s/%s: %s", name, endpoint, problem)
            elif isinstance(chat, LlamaCppChat):
                await chat.warm_up(persona.system_prompt)
            elif isinstance(chat, (OllamaChat, OpenAICompatChat)):
                await chat.warm_up()
        await self._warm_knowledge()
        for name, pool in pools.items():
            reachable = [pool, pool.fallback] if pool.fallback is not None else [pool]
            if not any(e.healthy for p in reachable for e in p.endpoints):
                raise EngineError(
                    f"persona {name} has no chat endpoint up: "
                    + "; ".join(
                        f"{p.name}/{e.name}: {e.down_reason}"
                        for p in reachable
                        for e in p.endpoints
                    )
                )
        if self.tools is not None:  # MCP servers that are down are retried meanwhile
            await self.tools.start()

    async def _warm_knowledge(self) -> None:
        """The embedding model and the index, loaded now; a problem with them (an index
        that needs `zenglow reindex`, an embedding server down) leaves Leonardo without his
        documents until it is fixed, and the server serves on."""
        if self.knowledge is None:
            return
        try:
            await self.knowledge.warm_up()
        except KnowledgeError as exc:
            log.warning("documents: %s; answers are not grounded until this is fixed", exc)

    async def aclose(self) -> None:
        """Stop the chat pools' health probes and close their connections; close the
        document index."""
        for chat in self.chats.values():
            if isinstance(chat, ChatPool):
                await chat.aclose()
        if self.tools is not None:
            await self.tools.aclose()
        if self.knowledge is not None:
            await self.knowledge.aclose()


def stt_from(settings: Settings) -> FasterWhisperSTT:
    c = settings.stt
    return FasterWhisperSTT(
        c.model,
        device=c.device,
        compute_type=c.compute_type,
        language=c.language,
        beam_size=c.beam_size,
        initial_prompt=c.initial_prompt,
        cpu_threads=c.cpu_threads,
        min_window_s=c.min_window_s,
    )


def build_engines(settings: Settings) -> Engines:
    s = settings
    stt = stt_from(s)
    metrics = Metrics()
    tts = PiperTTS()

    def busy() -> bool:  # other work needs the cores: speech, or other conversations
        return tts.synthesising or metrics.open_sessions > 1

    chats: dict[str, ChatModel] = dict(build_pools(s, metrics, busy=busy))
    knowledge = Knowledge(s.knowledge, metrics=metrics)
    return Engines(
        settings=s,
        stt=stt,
        tts=tts,
        vad_model=shared_model(),
        chats=chats,
        metrics=metrics,
        turn_model=shared_turn_model(),
        knowledge=knowledge,
        tools=ServerTools(s.tools, knowledge=knowledge),  # search_documents searches it
    )


def endpoint_chat(endpoint: EndpointSettings, temperature: float) -> ChatModel:
    """The adapter for an Ollama or OpenAI-compatible endpoint."""
    if not endpoint.model or not endpoint.url:
        raise EngineError(f"chat endpoint {endpoint.name} needs a model and a url")
    if endpoint.kind == "ollama":
        options = {"temperature": temperature, **endpoint.options}
        return OllamaChat(
            endpoint.model,
            host=endpoint.url,
            keep_alive=endpoint.keep_alive,
            options=options,
            name=endpoint.name,
        )
    return OpenAICompatChat(
        endpoint.model,
        url=endpoint.url,
        api_key=endpoint.api_key,
        temperature=temperature,
        extra=endpoint.options,
        name=endpoint.name,
    )


def build_pools(
    settings: Settings, metrics: Metrics, busy: Callable[[], bool] | None = None
) -> dict[str, ChatPool]:
    """One `ChatPool` per persona.  The embedded endpoints of personas that name the same
    model share one in-process instance and one set of slots; each pool falls back to another
    persona's pool (see `link_fallbacks`).  `busy`: whether other work needs the CPU now
    (the embedded models then write a reply's first chunk on their usual threads)."""
    s = settings
    embedded: dict[str, Endpoint] = {}  # model -> its first endpoint
    configs = {name: p.chat.pool() for name, p in s.personas.items()}
    wants_gpu = any(e.gpu is not None for pool in configs.values() for e in pool)
    gpu_busy = NvmlBusy() if wants_gpu else None
    pools: dict[str, ChatPool] = {}
    for name, endpoints in configs.items():
        members = []
        for config in endpoints:
            if config.kind != "embedded":
                chat = endpoint_chat(config, s.personas[name].chat.temperature)
                members.append(Endpoint(chat, config))
                continue
            which = str(s.llm.model or s.personas[name].chat.embedded_model)
            if which not in embedded:
                model = LlamaCppChat(
                    embedded_path(which),
                    n_ctx=s.llm.n_ctx,
                    n_threads=s.llm.n_threads,
                    first_chunk_threads=s.llm.first_chunk_threads,
                    busy=busy,
                    temperature=s.llm.temperature,
                )
                embedded[which] = Endpoint(model, config)
            first = embedded[which]
            members.append(Endpoint(first.chat, config, first.slots))
        pools[name] = ChatPool(name, members, metrics=metrics, gpu_busy=gpu_busy)
    link_fallbacks(pools, s.default_persona)
    return pools


def embedded_path(which: str) -> Callable[[], Path]:
    """Where a persona's embedded model is: a bundled model's name, or a GGUF path.  Found
    when the model loads (a bundled one may first be assembled and checked)."""
    if which in NAMES:
        return lambda: model_path(which)
    path = Path(which)
    return lambda: path


def link_fallbacks(pools: dict[str, ChatPool], default: str) -> None:
    """Each pool falls back to the default persona's pool; the default persona's pool
    falls back to the first other persona's (Jarvis <-> Leonardo)."""
    others = [name for name in pools if name != default]
    for name, pool in pools.items():
        if name != default:
            pool.fallback = pools.get(default)
        else:
            pool.fallback = pools[others[0]] if others else None
