"""What grounding adds to a turn once documents are ingested: the search every turn now makes
(small talk included, to learn whether a passage comes close), and for an answer from the
documents the choice of the sentence to read out (its sentences embedded).

The test corpus (tests/knowledge_corpus.py) is ingested with the configured embedder; small
talk, unanswered questions and the corpus questions are each asked `--runs` times, interleaved.
Medians and 95th percentiles in ms.

    .venv/bin/python bench/grounding.py [--runs 5] [--json OUT]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from tests.knowledge_corpus import FILES, QUESTIONS, UNANSWERED, write_corpus  # noqa: E402

from zenglow.conversation.grounding import answering_sentence  # noqa: E402
from zenglow.knowledge import Knowledge  # noqa: E402
from zenglow.settings import load_settings  # noqa: E402

SMALL_TALK = [
    "How are you today?", "Tell me a joke", "What's the weather like?", "Good morning!",
    "What time is it?", "I'm feeling a bit tired today", "Can you play some music?",
    "Thanks, that was helpful", "What's your name?", "Do you like cats?",
]  # fmt: skip


def summary(samples: list[float]) -> dict[str, float]:
    ordered = sorted(samples)
    p95 = ordered[min(len(ordered) - 1, round(0.95 * (len(ordered) - 1)))]
    return {"p50_ms": round(statistics.median(ordered), 1), "p95_ms": round(p95, 1)}


async def measure(runs: int) -> dict[str, object]:
    folder = Path(tempfile.mkdtemp(prefix="zenglow-grounding-"))
    corpus = write_corpus(folder / "corpus")
    settings = load_settings(None).knowledge.model_copy(update={"data_dir": folder / "index"})
    knowledge = Knowledge(settings)
    for name in FILES:
        await knowledge.ingest(corpus / name)
    await knowledge.warm_up()
    talk, unanswered, search, choose = [], [], [], []
    routed = 0
    for _ in range(runs):
        for group, out in ((SMALL_TALK, talk), (UNANSWERED, unanswered)):
            for text in group:
                t0 = time.perf_counter()
                await knowledge.passage_count()
                await knowledge.search(text)
                out.append(1000 * (time.perf_counter() - t0))
        for question, _, _ in QUESTIONS:
            t0 = time.perf_counter()
            await knowledge.passage_count()
            found = await knowledge.search(question)
            t1 = time.perf_counter()
            search.append(1000 * (t1 - t0))
            if found:
                await answering_sentence(knowledge, question, found[0])
                choose.append(1000 * (time.perf_counter() - t1))
                routed += found[0].score >= knowledge.route_similarity
    await knowledge.aclose()
    return {
        "small talk: search": summary(talk),
        "unanswered question: search": summary(unanswered),
        "document question: search": summary(search),
        "document question: sentence to read out": summary(choose),
        "document questions routed unasked": round(routed / (runs * len(QUESTIONS)), 3),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()
    figures = asyncio.run(measure(args.runs))
    for name, value in figures.items():
        print(f"{name:45} {value}")
    if args.json:
        args.json.write_text(json.dumps(figures, indent=2))


if __name__ == "__main__":
    main()
