"""`zenglow doctor`: is every engine, model, chat endpoint and GPU this config needs there?

Each check yields a `Check` row (component, OK/WARN/FAIL, detail).  The rows about devices
are computed by plain functions from what was found (`Gpu` records, CTranslate2's device
count), so they are tested without a GPU; the shell around them loads the models, asks each
chat endpoint, and reads NVML.
"""

from __future__ import annotations

import asyncio
import functools
import json
import time
from collections.abc import Awaitable, Callable, Iterable, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Literal
from urllib.parse import urlsplit

import numpy as np

from ..engines.base import EngineError, Voice
from ..settings import Settings, SettingsError, check_environment, cuda_device_count, load_settings

Status = Literal["OK", "WARN", "FAIL"]
_LOOPBACK = {"127.0.0.1", "localhost", "::1", "0.0.0.0", ""}
_GIB = float(1 << 30)
LOW_FREE_RATIO = 0.1  # under this share of free memory a GPU gets a warning


@dataclass(frozen=True)
class Check:
    component: str
    status: Status
    detail: str


@dataclass(frozen=True)
class Gpu:
    index: int
    name: str
    total_bytes: int
    used_bytes: int


@dataclass(frozen=True)
class EndpointGpu:
    label: str  # e.g. "chat:leonardo/ollama@gpu0:11434"
    gpu: int
    url: str | None


# --- pure: rows from what was found ---------------------------------------------------


def gpu_checks(gpus: Sequence[Gpu] | None, ct2_devices: int, cuda_wanted: bool) -> list[Check]:
    if gpus is None:
        need = "CUDA is configured" if cuda_wanted else "CPU only"
        rows = [Check("gpu", "WARN" if cuda_wanted else "OK", f"no NVIDIA driver or NVML; {need}")]
    else:
        rows = [Check("gpu", "OK" if gpus else "WARN", f"NVML sees {len(gpus)} GPU(s)")]
    for g in gpus or ():
        free = g.total_bytes - g.used_bytes
        low = g.total_bytes > 0 and free < LOW_FREE_RATIO * g.total_bytes
        detail = f"{g.name}: {g.used_bytes / _GIB:.1f} of {g.total_bytes / _GIB:.1f} GiB used"
        detail += f", {free / _GIB:.1f} GiB free" + (" (models may fail to load)" if low else "")
        rows.append(Check(f"gpu:{g.index}", "WARN" if low else "OK", detail))
    seen = len(gpus or ())
    ct2_status: Status = "WARN" if seen > ct2_devices else "OK"
    hint = " (check the CUDA 12 driver and NVIDIA_VISIBLE_DEVICES)" if seen > ct2_devices else ""
    rows.append(Check("gpu:ctranslate2", ct2_status, f"{ct2_devices} CUDA device(s){hint}"))
    return rows


def device_checks(
    stt_device: str,
    fallback: bool,
    endpoints: Iterable[EndpointGpu],
    gpus: Sequence[Gpu] | None,
    ct2_devices: int,
) -> list[Check]:
    """The configured devices against the ones this machine has."""
    names = {g.index: g.name for g in gpus or ()}
    rows: list[Check] = []
    index = int(stt_device.partition(":")[2] or 0)
    found = f"{stt_device} configured, {ct2_devices} CUDA device(s) here"
    if stt_device == "cpu" or index < ct2_devices:
        where = f" ({names[index]})" if stt_device != "cpu" and index in names else ""
        rows.append(Check("device:stt", "OK", f"{stt_device}{where}"))
    elif fallback:
        rows.append(Check("device:stt", "WARN", f"{found}: Whisper falls back to the CPU"))
    else:
        rows.append(Check("device:stt", "FAIL", f"{found}: fix stt.device or the GPU mapping"))
    for e in endpoints:
        host = (urlsplit(e.url).hostname or "") if e.url else ""
        component = f"device:{e.label}"
        if host not in _LOOPBACK:
            rows.append(Check(component, "OK", f"GPU {e.gpu} of {host} (not visible from here)"))
        elif e.gpu in names:
            rows.append(Check(component, "OK", f"GPU {e.gpu} ({names[e.gpu]})"))
        else:
            seen = f"{len(names)} GPU(s) here" if gpus is not None else "no GPU visible (NVML)"
            msg = f"GPU {e.gpu} configured, {seen}: the label may be wrong"
            rows.append(Check(component, "WARN", msg))
    return rows


def exit_status(checks: Sequence[Check]) -> int:
    return 1 if any(c.status == "FAIL" for c in checks) else 0


def render_table(checks: Sequence[Check]) -> str:
    width = max([len("COMPONENT"), *(len(c.component) for c in checks)])
    lines = [f"{'COMPONENT':<{width}}  STATUS  DETAIL"]
    lines += [f"{c.component:<{width}}  {c.status:<6}  {c.detail}" for c in checks]
    counts = {s: sum(c.status == s for c in checks) for s in ("OK", "WARN", "FAIL")}
    lines.append(", ".join(f"{n} {s}" for s, n in counts.items()))
    return "\n".join(lines)


def to_json(checks: Sequence[Check]) -> dict[str, Any]:
    return {"ok": exit_status(checks) == 0, "checks": [asdict(c) for c in checks]}


# --- the shell: load, ask, read -------------------------------------------------------


def read_gpus() -> list[Gpu] | None:
    """The GPUs NVML sees, or None when there is no NVML (package or driver)."""
    try:
        import pynvml
    except ImportError:
        return None
    try:
        pynvml.nvmlInit()
        gpus = []
        for i in range(pynvml.nvmlDeviceGetCount()):
            h = pynvml.nvmlDeviceGetHandleByIndex(i)
            mem, name = pynvml.nvmlDeviceGetMemoryInfo(h), pynvml.nvmlDeviceGetName(h)
            name = name.decode() if isinstance(name, bytes) else str(name)
            gpus.append(Gpu(i, name, int(mem.total), int(mem.used)))
        return gpus
    except pynvml.NVMLError:
        return None


def _timed(component: str, work: Callable[[], str]) -> Check:
    t0 = time.perf_counter()
    try:
        detail = work()
    except (EngineError, RuntimeError, OSError, ValueError) as exc:
        return Check(component, "FAIL", str(exc).splitlines()[0] if str(exc) else repr(exc))
    return Check(component, "OK", f"{detail} ({time.perf_counter() - t0:.1f} s)")


def engine_checks(s: Settings) -> list[Check]:
    """Whisper, Silero and each persona's Piper voice: found, loaded and run once (blocking)."""
    from ..engines.loader import stt_from, voice_of
    from ..engines.piper import PiperTTS
    from ..engines.silero import shared_model

    def whisper() -> str:
        stt = stt_from(s)
        stt.load()
        stt.transcribe_sync(np.zeros(stt.sample_rate, np.float32), words=False)
        where = f"{stt.model_path.parent.name}/{stt.model_path.name}"
        return f"{where} on {s.stt.device} ({s.stt.compute_type}), loads and runs"

    rows = [_timed("stt", whisper), _timed("vad", lambda: f"Silero {shared_model().path.name}")]
    tts = PiperTTS()

    def piper(voice: Voice) -> str:
        loaded = tts.load(voice)
        speakers = max(1, loaded.config.num_speakers)
        if voice.speaker is not None and voice.speaker >= speakers:
            raise EngineError(f"speaker {voice.speaker} configured, the voice has {speakers}")
        timing = "aligned visemes" if tts.aligned(voice) else "visemes spread evenly"
        path = tts.model_path(voice).name
        return f"{path}: {loaded.config.sample_rate} Hz, {speakers} speaker(s), {timing}"

    for name, persona in s.personas.items():
        rows.append(_timed(f"tts:{name}", functools.partial(piper, voice_of(persona))))
    return rows


def embedded_model_check(s: Settings) -> Check:
    from ..engines.loader import embedded_path

    def assemble() -> str:
        path = embedded_path(str(s.llm.model or s.persona(s.default_persona).chat.embedded_model))()
        if not Path(path).is_file():
            raise EngineError(f"chat model file not found: {path}")
        return f"{Path(path).name}, {Path(path).stat().st_size / 1e6:.0f} MB"

    return _timed("llm:embedded", assemble)


async def _ask(
    component: str, describe: str, check: Callable[[], Awaitable[str | None]], timeout_s: float
) -> Check:
    try:
        problem = await asyncio.wait_for(check(), timeout_s)
    except TimeoutError:
        return Check(component, "FAIL", f"{describe}: no answer within {timeout_s:g} s")
    except EngineError as exc:
        problem = str(exc)
    if problem:
        return Check(component, "FAIL", f"{describe}: {problem}")
    return Check(component, "OK", f"{describe}: ready")


async def chat_checks(s: Settings, timeout_s: float) -> tuple[list[Check], list[EndpointGpu], bool]:
    """Ask every persona's chat endpoints; returns rows, endpoint GPUs, and whether the
    embedded model is in use."""
    from ..engines.loader import build_engines

    try:
        engines = build_engines(s)
    except (EngineError, SettingsError) as exc:
        return [Check("chat", "FAIL", str(exc))], [], False
    asks: list[Awaitable[Check]] = []
    gpus: list[EndpointGpu] = []
    embedded = False
    for persona in s.personas:
        chat: Any = engines.chat_for(persona)
        for ep in getattr(chat, "endpoints", None) or ():
            label = f"chat:{persona}/{ep.name}"
            where = " ".join(str(x) for x in (ep.kind, ep.model, ep.url and f"at {ep.url}") if x)
            if ep.kind == "embedded":
                embedded, where = True, "embedded, in-process"
            if ep.gpu is not None:
                gpus.append(EndpointGpu(label, ep.gpu, ep.url))
            wait = timeout_s * 6 if ep.kind == "embedded" else timeout_s  # loads the model
            asks.append(_ask(label, where, ep.check, wait))
        if getattr(chat, "endpoints", None):
            continue
        if hasattr(chat, "check"):
            asks.append(_ask(f"chat:{persona}", chat.name, chat.check, timeout_s))
        else:
            embedded = True
            load = getattr(chat, "load", None)

            async def loads(load: Any = load) -> str | None:
                if load is not None:
                    await asyncio.to_thread(load)
                return None

            asks.append(_ask(f"chat:{persona}", "embedded, in-process", loads, timeout_s * 6))
    rows = list(await asyncio.gather(*asks))
    close = getattr(engines, "aclose", None)  # stops the pools' probes, closes connections
    if close is not None:
        await close()
    return rows, gpus, embedded


async def tool_checks(s: Settings, timeout_s: float) -> list[Check]:
    """Each MCP server's tools (a server that is down is a warning: the rest still runs),
    and persona tool names that nothing offers."""
    from ..tools.registry import ServerTools

    tools = ServerTools(s.tools)
    rows: list[Check] = []
    try:
        await tools.start(wait_s=timeout_s)
        for name, server in tools.servers.items():
            if server.up:
                detail = f"{len(server.tools)} tools: {', '.join(server.tools) or 'none'}"
                rows.append(Check(f"mcp:{name}", "OK", detail))
            else:
                rows.append(Check(f"mcp:{name}", "WARN", f"down: {server.problem}"))
        for persona, p in s.personas.items():
            offered = {t.name for t in tools.for_persona(p.tools)}
            unknown = [t for t in p.tools if t not in offered and not t.startswith("mcp")]
            unknown = [t for t in unknown if t != "search_documents"]  # needs the documents
            if unknown:
                detail = f"no tool named {', '.join(unknown)}: check personas.{persona}.tools"
                rows.append(Check(f"tools:{persona}", "WARN", detail))
    finally:
        await tools.aclose()
    return rows


async def knowledge_check(s: Settings, timeout_s: float) -> Check:
    """The document index opens, its embedding model answers and built it (else: reindex)."""
    from ..knowledge import Knowledge, KnowledgeError

    knowledge = Knowledge(s.knowledge)
    where = f"{knowledge.embedder.name} at {s.knowledge.data_dir}"
    try:
        await asyncio.wait_for(knowledge.warm_up(), timeout_s * 6)
        docs, passages = len(await knowledge.documents()), await knowledge.passage_count()
    except TimeoutError:
        return Check("documents", "FAIL", f"{where}: no answer within {timeout_s * 6:g} s")
    except KnowledgeError as exc:
        return Check("documents", "FAIL", f"{where}: {exc}")
    finally:
        await knowledge.aclose()
    return Check("documents", "OK", f"{where}: {docs} documents, {passages} passages")


async def diagnose(s: Settings, *, timeout_s: float = 10.0) -> list[Check]:
    ct2 = cuda_device_count()
    device = s.stt.device
    if device != "cpu" and int(device.partition(":")[2] or 0) >= ct2 and s.allow_device_fallback:
        stt = s.stt.model_copy(update={"device": "cpu", "compute_type": "int8"})
        rows = await asyncio.to_thread(engine_checks, s.model_copy(update={"stt": stt}))
    else:
        rows = await asyncio.to_thread(engine_checks, s)
    chats, endpoint_gpus, embedded = await chat_checks(s, timeout_s)
    if embedded:
        rows.append(await asyncio.to_thread(embedded_model_check, s))
    rows += chats
    rows.append(await knowledge_check(s, timeout_s))
    rows += await tool_checks(s, timeout_s)
    gpus = await asyncio.to_thread(read_gpus)
    cuda_wanted = s.stt.device != "cpu" or bool(endpoint_gpus)
    rows += gpu_checks(gpus, ct2, cuda_wanted)
    rows += device_checks(s.stt.device, s.allow_device_fallback, endpoint_gpus, gpus, ct2)
    return rows


def run_doctor(config: str | None, *, as_json: bool, timeout: float) -> int:
    """Print the table (or JSON) for the config; 0 when nothing failed, 1 otherwise."""
    try:
        s = load_settings(config)
    except SettingsError as exc:
        rows = [Check("config", "FAIL", " ".join(str(exc).split()))]
    else:
        source = config or "defaults and environment"
        rows = [Check("config", "OK", f"{source}, personas: {', '.join(s.personas)}")]
        try:
            check_environment(s, cuda_devices=10**6)  # devices are checked below, row by row
        except SettingsError as exc:
            rows.append(Check("config:paths", "FAIL", " ".join(str(exc).split())))
        rows += asyncio.run(diagnose(s, timeout_s=timeout))
    print(json.dumps(to_json(rows), indent=2) if as_json else render_table(rows))
    return exit_status(rows)
