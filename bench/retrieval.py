"""Retrieval figures at scale: search latency and recall@5 with 100k passages in the index.

The test corpus (tests/knowledge_corpus.py: a handbook, notes, a web page and a PDF of facts
no model knows) is ingested with the configured embedder (the embedded MiniLM unless
ZENGLOW_KNOWLEDGE__EMBEDDER__* say otherwise).  Then distractors fill the index up to
`--chunks`: real English paragraphs (the docstrings of Python's standard library, embedded
for real) and, beyond `--real` of them, synthetic passages made of their sentences with
vectors mixed from theirs, so the vectors and the words of the crowd look like real ones.
The corpus questions are then asked against that crowd:

- `exact`: every vector scored (one matrix product), keyword search, fusion;
- `graph`: the HNSW graph (usearch) instead, as the index uses beyond
  `knowledge.exact_search_max_chunks`;

each with the question's vector given (retrieval alone), and end to end with the question
embedded too.  Medians and 95th percentiles in ms, recall@5 beside them, and how many of the
exact top 50 the graph finds.

    .venv/bin/python bench/retrieval.py [--chunks 100000] [--real 2000] [--runs 3] [--json OUT]
"""

from __future__ import annotations

import argparse
import ast
import asyncio
import json
import os
import random
import statistics
import sysconfig
import tempfile
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
import sys  # noqa: E402

sys.path.insert(0, str(REPO))

from tests.knowledge_corpus import QUESTIONS, write_corpus  # noqa: E402

from zenglow.knowledge import Knowledge  # noqa: E402
from zenglow.knowledge.chunking import sentences  # noqa: E402
from zenglow.knowledge.documents import Chunk  # noqa: E402
from zenglow.settings import load_settings  # noqa: E402


def stdlib_paragraphs(limit: int, seed: int) -> list[str]:
    """Paragraphs of 200-700 characters from the standard library's docstrings (read with
    `ast`, nothing imported)."""
    found: list[str] = []
    files = sorted(Path(sysconfig.get_paths()["stdlib"]).rglob("*.py"))
    random.Random(seed).shuffle(files)
    for path in files:
        if {"test", "tests", "idlelib", "site-packages", "dist-packages"} & set(path.parts):
            continue
        if len(found) >= 2 * limit:
            break
        try:
            tree = ast.parse(path.read_text(encoding="utf-8"))
        except (SyntaxError, UnicodeDecodeError, OSError):
            continue
        for node in ast.walk(tree):
            if isinstance(node, ast.Module | ast.ClassDef | ast.FunctionDef):
                doc = ast.get_docstring(node) or ""
                for para in doc.split("\n\n"):
                    text = " ".join(para.split())
                    if 200 <= len(text) <= 700 and not text.startswith((">>>", "-", "*")):
                        found.append(text)
    found = list(dict.fromkeys(found))
    random.Random(seed).shuffle(found)
    return found[:limit]


def synthetic(texts: list[str], vectors: np.ndarray, count: int, seed: int):
    """Passages made of real sentences, with vectors mixed from those of real passages."""
    rng = np.random.default_rng(seed)
    pool = [s for t in texts for s in sentences(t, 400)]
    for _ in range(count):
        picks = rng.integers(0, len(texts), 3)
        weights = rng.dirichlet([1.0, 1.0, 1.0])
        v = weights @ vectors[picks] + rng.normal(0, 0.02, vectors.shape[1])
        text = " ".join(pool[i] for i in rng.integers(0, len(pool), 4))
        yield text, (v / np.linalg.norm(v)).astype(np.float32)


def ms(values: list[float]) -> str:
    p50 = statistics.median(values) * 1000
    p95 = statistics.quantiles(values, n=20, method="inclusive")[18] * 1000
    return f"{p50:7.2f} / {p95:7.2f}"


async def fill(knowledge: Knowledge, args: argparse.Namespace) -> float:
    corpus = write_corpus(Path(tempfile.mkdtemp()) / "docs")
    for path in sorted(corpus.iterdir()):
        await knowledge.ingest(path)
    have = sum(d.chunks for d in await knowledge.documents())
    wanted = max(args.chunks - have, 0)
    real = stdlib_paragraphs(min(args.real, wanted), args.seed)
    started = time.perf_counter()
    vectors = await knowledge.embedder.embed_documents(real)
    embed_s = (time.perf_counter() - started) / max(len(real), 1)
    print(f"embedded {len(real)} real distractors: {embed_s * 1000:.1f} ms per passage")
    rows = list(zip(real, vectors, strict=True))
    rows += list(synthetic(real, vectors, wanted - len(real), args.seed))
    store = knowledge._db()
    for start in range(0, len(rows), 5000):
        part = rows[start : start + 5000]
        store.put(
            source=f"distractors-{start}",
            title="Python standard library",
            kind="txt",
            content_hash=str(start),
            size_bytes=0,
            chunks=[Chunk(t) for t, _ in part],
            vectors=np.stack([v for _, v in part]),
            embedder=knowledge.embedder.id,
        )
    return embed_s


def timed_searches(knowledge: Knowledge, vectors: dict[str, np.ndarray], runs: int):
    sources = {d.id: d.source for d in knowledge._db().documents()}
    times: list[float] = []
    hits = 0
    results: dict[str, list[int]] = {}
    for run in range(runs):
        for question, file, fact in QUESTIONS:
            started = time.perf_counter()
            found = knowledge.search_vector(vectors[question], question, 5, knowledge.relevance)
            times.append(time.perf_counter() - started)
            if run == 0:
                results[question] = [p.chunk_id for p in found]
                hits += any(
                    sources[p.document_id].endswith(file) and fact.lower() in p.text.lower()
                    for p in found
                )
    return times, hits / len(QUESTIONS), results


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--chunks", type=int, default=100_000)
    parser.add_argument("--real", type=int, default=2000, help="distractors embedded for real")
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--json", help="write the figures here")
    parser.add_argument("--keep", help="build the index in this folder, and reuse it next time")
    args = parser.parse_args()
    settings = load_settings(None).knowledge
    folder = Path(args.keep or tempfile.mkdtemp(prefix="zenglow-retrieval-"))
    exact = Knowledge(
        settings.model_copy(update={"data_dir": folder, "exact_search_max_chunks": 10**9})
    )
    started = time.perf_counter()
    embed_s = 0.0
    if exact._db().chunk_count() < args.chunks:
        embed_s = await fill(exact, args)
    count = exact._db().chunk_count()
    print(f"index of {count} passages filled in {time.perf_counter() - started:.0f} s")

    vectors = {q: await exact.embedder.embed_query(q) for q, _, _ in QUESTIONS}
    query_times = []
    for _ in range(args.runs):
        for q, _, _ in QUESTIONS:
            t0 = time.perf_counter()
            await exact.embedder.embed_query(q)
            query_times.append(time.perf_counter() - t0)
    exact.search_vector(vectors[QUESTIONS[0][0]], "warm up", 5, exact.relevance)
    exact_times, exact_recall, exact_results = timed_searches(exact, vectors, args.runs)

    graph = Knowledge(
        settings.model_copy(update={"data_dir": folder, "exact_search_max_chunks": 20000})
    )
    t0 = time.perf_counter()
    graph.search_vector(vectors[QUESTIONS[0][0]], "warm up", 5, graph.relevance)
    build_s = time.perf_counter() - t0
    graph_times, graph_recall, graph_results = timed_searches(graph, vectors, args.runs)
    overlap = []
    for q, _, _ in QUESTIONS:
        truth, _ = exact._index.search(vectors[q], 50)
        approx, _ = graph._index.search(vectors[q], 50)
        overlap.append(len(set(truth.tolist()) & set(approx.tolist())) / 50)
    same = sum(exact_results[q] == graph_results[q] for q, _, _ in QUESTIONS) / len(QUESTIONS)
    end_to_end = []
    for q, _, _ in QUESTIONS:
        t0 = time.perf_counter()
        await graph.search(q)
        end_to_end.append(time.perf_counter() - t0)

    cores = len(os.sched_getaffinity(0))
    print(f"\n{count} passages, {cores} cores, embedder {exact.embedder.id}")
    print(f"{'':34} p50 / p95 ms   recall@5")
    print(f"{'question embedding':34} {ms(query_times)}")
    print(f"{'retrieval, exact search':34} {ms(exact_times)}   {exact_recall:.3f}")
    print(f"{'retrieval, HNSW graph':34} {ms(graph_times)}   {graph_recall:.3f}")
    print(f"{'end to end (embed + graph)':34} {ms(end_to_end)}")
    print(f"graph: built in {build_s:.1f} s; finds {statistics.mean(overlap):.3f} of the exact "
          f"top 50; same top 5 as exact for {same:.2f} of the questions")  # fmt: skip
    if args.json:
        figures = {
            "chunks": count, "cores": cores, "embedder": exact.embedder.id,
            "embed_passage_ms": embed_s * 1000,
            "query_embed_ms": [t * 1000 for t in query_times],
            "exact_ms": [t * 1000 for t in exact_times], "exact_recall5": exact_recall,
            "graph_ms": [t * 1000 for t in graph_times], "graph_recall5": graph_recall,
            "end_to_end_ms": [t * 1000 for t in end_to_end], "graph_build_s": build_s,
            "graph_top50_overlap": statistics.mean(overlap), "same_top5": same,
        }  # fmt: skip
        await asyncio.to_thread(Path(args.json).write_text, json.dumps(figures, indent=1))
    await exact.aclose()
    await graph.aclose()


if __name__ == "__main__":
    asyncio.run(main())
