"""Retrieval over a corpus of facts no model knows, on the real embedded MiniLM: paraphrased
questions find the passage that answers them, off-topic questions find nothing."""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.embed_server import EmbedServer
from tests.knowledge_corpus import FILES, QUESTIONS, UNANSWERED, write_corpus
from zenglow.knowledge import Knowledge, Passage
from zenglow.ops.metrics import Metrics
from zenglow.settings.knowledge import EmbedderSettings, KnowledgeSettings


def answers(passage: Passage, sources: dict[str, str], file: str, fact: str) -> bool:
    return sources[passage.document_id].endswith(file) and fact.lower() in passage.text.lower()


async def _ingest_corpus(knowledge: Knowledge, folder: Path) -> dict[str, str]:
    for name in FILES:
        result = await knowledge.ingest(folder / name)
        assert result.status == "added" and result.document.chunks > 0
    return {d.id: d.source for d in await knowledge.documents()}


@pytest.fixture(scope="module")
def corpus(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_corpus(tmp_path_factory.mktemp("corpus"))


@pytest.fixture(scope="module")
def indexed(
    corpus: Path, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[Knowledge, dict[str, str]]]:
    metrics = Metrics()
    knowledge = Knowledge(
        KnowledgeSettings(data_dir=tmp_path_factory.mktemp("index")), metrics=metrics
    )
    sources = asyncio.run(_ingest_corpus(knowledge, corpus))
    yield knowledge, sources
    asyncio.run(knowledge.aclose())


async def test_recall_at_5_on_paraphrased_questions(
    indexed: tuple[Knowledge, dict[str, str]],
) -> None:
    knowledge, sources = indexed
    found: Counter[str] = Counter()
    missed = []
    for question, file, fact in QUESTIONS:
        passages = await knowledge.search(question, 5)
        assert len(passages) <= 5
        if any(answers(p, sources, file, fact) for p in passages):
            found[file] += 1
        else:
            missed.append(question)
    recall = sum(found.values()) / len(QUESTIONS)
    per_file = {f: found[f] / sum(q[1] == f for q in QUESTIONS) for f in FILES}
    print(f"recall@5 {recall:.3f}", per_file, "missed:", missed)
    assert recall >= 0.9, missed
    assert min(per_file.values()) >= 0.8, per_file  # every format holds up, not just most


async def test_questions_the_documents_do_not_answer_find_nothing(
    indexed: tuple[Knowledge, dict[str, str]],
) -> None:
    knowledge, _ = indexed
    found = {q: await knowledge.search(q, 5) for q in UNANSWERED}
    answered = [q for q, passages in found.items() if passages]
    assert len(answered) <= len(UNANSWERED) // 10, answered
    assert await knowledge.search("   ") == []


async def test_a_passage_names_its_document_and_place(
    indexed: tuple[Knowledge, dict[str, str]],
) -> None:
    knowledge, sources = indexed
    [best, *_] = await knowledge.search("What torque do the mast bolts need?")
    assert sources[best.document_id].endswith("manual.pdf")
    assert best.title == "Orrery-7 Buoy Field Maintenance Manual"
    assert best.locator == "p. 4, Calibration"
    assert "38 newton metres" in best.text
    assert 0.2 <= best.score <= 1.0
    [leave, *_] = await knowledge.search("How long is the paid leave for new parents?")
    assert leave.locator == "Halvorsen & Quist Staff Handbook > Leave > Parental leave"


async def test_passages_come_best_first_and_k_limits_them(
    indexed: tuple[Knowledge, dict[str, str]],
) -> None:
    knowledge, _ = indexed
    question = "What are the rules for the community garden plots?"
    five, two = await knowledge.search(question, 5), await knowledge.search(question, 2)
    assert len(five) >= 2 and two == five[:2]
    assert len({p.chunk_id for p in five}) == len(five)


async def test_metrics_count_documents_passages_and_latency(
    indexed: tuple[Knowledge, dict[str, str]],
) -> None:
    knowledge, _ = indexed
    await knowledge.search("How often is data sent to the harbour server?")
    metrics = knowledge.metrics
    assert metrics is not None
    text = metrics.render()[0].decode()
    chunks = sum(d.chunks for d in await knowledge.documents())
    assert "zenglow_knowledge_documents 4.0" in text
    assert f"zenglow_knowledge_chunks {float(chunks)}" in text
    assert 'zenglow_embed_request_seconds_count{endpoint="embedded"}' in text
    count = next(
        line
        for line in text.splitlines()
        if line.startswith("zenglow_knowledge_search_seconds_count")
    )
    assert float(count.split()[-1]) >= 1


async def test_the_same_corpus_through_an_ollama_embedder(corpus: Path, tmp_path: Path) -> None:
    with EmbedServer() as server:
        settings = KnowledgeSettings(
            data_dir=tmp_path,
            embedder=EmbedderSettings(kind="ollama", model="nomic-embed-text", url=server.url),
            min_similarity=0.3,  # word-count vectors are no neural model: their own threshold
            min_similarity_with_keywords=0.1,
        )
        knowledge = Knowledge(settings)
        sources = await _ingest_corpus(knowledge, corpus)
        # Word-count vectors: a question with the passage's own words finds it.
        passages = await knowledge.search("Fault code E22 water electronics housing")
        await knowledge.aclose()
        texts = [e.body["input"] for e in server.embeds()]
    assert answers(passages[0], sources, "manual.pdf", "water has entered")
    assert all(t.startswith("search_document: ") for batch in texts[:-1] for t in batch)
    assert texts[-1] == ["search_query: Fault code E22 water electronics housing"]
