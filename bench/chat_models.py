"""Compare the bundled chat models on the conversational evaluation set (tests/chat_eval.py):
pass rate (tuned part and held-out part apart), format-rule breaches, and per reply the time
to first token, tokens per second and time to the first complete sentence.  The models take
turns case by case, so the machine's noise falls on all of them alike.

    .venv/bin/python bench/chat_models.py [--models qwen2.5-coder-0.5b,gemma3-270m] [--show]
"""

from __future__ import annotations

import argparse
import asyncio
import re
import statistics
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tests.chat_eval import CASES, format_problems

from zenglow.engines.bundled import model_path
from zenglow.engines.llamacpp import LlamaCppChat
from zenglow.settings import load_settings

_SENTENCE = re.compile(r"[.!?](\s|$)")


@dataclass
class Figures:
    passed: list[bool] = field(default_factory=list)
    held: list[bool] = field(default_factory=list)
    clean: list[bool] = field(default_factory=list)
    ttft: list[float] = field(default_factory=list)
    sentence: list[float] = field(default_factory=list)
    tps: list[float] = field(default_factory=list)


async def one(chat: LlamaCppChat, messages, max_tokens: int) -> tuple[str, float, float, float]:
    start = time.perf_counter()
    first = sentence = None
    text = ""
    before = chat.tokens_generated
    async for delta in chat.stream(messages, max_tokens=max_tokens):
        now = time.perf_counter()
        first = first or now
        text += delta
        if sentence is None and _SENTENCE.search(text):
            sentence = now
    end = time.perf_counter()
    tokens = chat.tokens_generated - before
    first = first or end
    tps = (tokens - 1) / (end - first) if tokens > 1 and end > first else 0.0
    return text, first - start, (sentence or end) - start, tps


async def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--models", default="qwen2.5-coder-0.5b,smollm2-135m,gemma3-270m")
    ap.add_argument("--persona", default="jarvis")
    ap.add_argument("--show", action="store_true", help="print every reply")
    ap.add_argument("--threads", type=int, default=None, help="default: llm.n_threads")
    ap.add_argument(
        "--first-chunk-threads",
        default=None,
        help="threads for the first sentence, or several (2,1) to compare; default: the setting",
    )
    ap.add_argument("--repeat-penalty", type=float, default=None)
    args = ap.parse_args()
    settings = load_settings(None)
    persona = settings.persona(args.persona)
    system, max_tokens = persona.system_prompt, persona.chat.max_tokens
    chats: dict[str, LlamaCppChat] = {}
    firsts = [settings.llm.first_chunk_threads]
    if args.first_chunk_threads:
        firsts = [int(n) for n in args.first_chunk_threads.split(",")]
    for model, first in ((m, n) for m in args.models.split(",") for n in firsts):
        name = model if len(firsts) == 1 else f"{model}, first sentence on {first} threads"
        t0 = time.perf_counter()
        chat = LlamaCppChat(
            model_path(model),
            n_threads=args.threads or settings.llm.n_threads,
            first_chunk_threads=first,
            seed=1234,
            temperature=settings.llm.temperature,
        )
        if args.repeat_penalty is not None:
            chat.repeat_penalty = args.repeat_penalty
        chat.load()
        await chat.warm_up(system)
        chats[name] = chat
        print(f"{name}: loaded and warmed up in {time.perf_counter() - t0:.1f} s")
    figures = {name: Figures() for name in chats}
    for case in CASES:
        for name, chat in chats.items():
            text, ttft, sentence, tps = await one(chat, case.messages(system), max_tokens)
            f = figures[name]
            ok, problems = case.accepts(text), format_problems(text)
            (f.held if case.held_out else f.passed).append(ok)
            f.clean.append(not problems)
            f.ttft.append(ttft)
            f.sentence.append(sentence)
            f.tps.append(tps)
            if args.show or not ok or problems:
                mark = ("ok " if ok else "BAD") + (" fmt" if problems else "")
                print(f"  {name:20} {mark:7} {case.turns[-1]!r} -> {text!r} {problems}")
    print(
        "\n| model | tuned | held out | format clean | TTFT | first sentence | tok/s |"
        "\n|---|---|---|---|---|---|---|"
    )
    for name, f in figures.items():
        med = statistics.median
        print(
            f"| {name} | {sum(f.passed)}/{len(f.passed)} | {sum(f.held)}/{len(f.held)} "
            f"| {sum(f.clean)}/{len(f.clean)} | {1000 * med(f.ttft):.0f} ms "
            f"| {1000 * med(f.sentence):.0f} ms | {med(f.tps):.1f} |"
        )


if __name__ == "__main__":
    asyncio.run(main())
