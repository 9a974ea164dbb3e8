"""The process-wide engines, built from settings: loaded once, shared by all sessions."""

from __future__ import annotations

import asyncio
import logging
import time
from dataclasses import dataclass, field

import numpy as np

from ..metrics import Metrics
from ..settings import PersonaSettings, Settings
from .base import ChatMessage, ChatModel, Voice
from .llamacpp import LlamaCppChat
from .ollama import OllamaChat
from .piper import PiperTTS
from .silero import SileroModel, SileroVAD, shared_model
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

    def chat_for(self, persona: str) -> ChatModel:
        return self.chats[persona]

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
        seen: set[int] = set()
        for name, chat in self.chats.items():
            if isinstance(chat, LlamaCppChat) and id(chat) not in seen:
                seen.add(id(chat))
                timed(f"llm:{name}", chat.load)

    async def warm_up(self) -> None:
        """Load everything off the event loop, then run each engine once so the first
        turn does not pay for lazy initialisation; Ollama models are loaded with keep_alive."""
        await asyncio.to_thread(self.load)
        await self.stt.transcribe(np.zeros(self.stt.sample_rate, np.float32))
        for name, persona in self.settings.personas.items():
            async for _ in self.tts.synthesize("Hello.", voice=voice_of(persona)):
                pass
            chat = self.chats[name]
            if isinstance(chat, (OllamaChat, LlamaCppChat)):
                if isinstance(chat, LlamaCppChat):
                    await chat.warm_up(persona.system_prompt)
                else:
                    await chat.warm_up()


def build_engines(settings: Settings) -> Engines:
    s = settings
    stt = FasterWhisperSTT(
        s.stt.model,
        device=s.stt.device,
        compute_type=s.stt.compute_type,
        language=s.stt.language,
        beam_size=s.stt.beam_size,
        initial_prompt=s.stt.initial_prompt,
        cpu_threads=s.stt.cpu_threads,
    )
    embedded: LlamaCppChat | None = None
    chats: dict[str, ChatModel] = {}
    for name, persona in s.personas.items():
        c = persona.chat
        if c.backend == "ollama":
            assert c.model is not None
            options = {"temperature": c.temperature, **c.options}
            chats[name] = OllamaChat(
                c.model, host=c.host, keep_alive=c.keep_alive, options=options, name=name
            )
        else:
            if embedded is None:
                embedded = LlamaCppChat(s.llm.model, n_ctx=s.llm.n_ctx, n_threads=s.llm.n_threads)
            chats[name] = embedded
    return Engines(settings=s, stt=stt, tts=PiperTTS(), vad_model=shared_model(), chats=chats)
