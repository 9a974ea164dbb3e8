"""The document index: a changed file replaces its document, bad files and failures leave
nothing half-stored, another embedder is refused until `reindex`, the HNSW graph answers
like exact search, and writes from another process are seen."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from tests.embed_server import EmbedServer
from tests.knowledge_corpus import MANUAL_PAGES, QUESTIONS, pdf_bytes, write_corpus
from zenglow.knowledge import (
    DocumentError,
    DocumentNotFound,
    EmbedderMismatch,
    Knowledge,
)
from zenglow.knowledge import store as store_module
from zenglow.knowledge.vectors import VectorIndex
from zenglow.settings.knowledge import EmbedderSettings, KnowledgeSettings

POLICY = "# Policy\n\n## Leave\n\nStaff receive {days} days of leave. Ask the {who} team.\n"


def knowledge(folder: Path, **settings: object) -> Knowledge:
    return Knowledge(KnowledgeSettings(data_dir=folder, **settings))  # type: ignore[arg-type]


async def stored(k: Knowledge) -> tuple[int, int]:
    """(documents, passages) in the index, passages counted in the database itself."""
    docs = await k.documents()
    return len(docs), await k._on_worker(lambda: k._db().chunk_count())


async def test_a_changed_file_replaces_its_document(tmp_path: Path) -> None:
    k = knowledge(tmp_path / "index")
    path = tmp_path / "policy.md"
    path.write_text(POLICY.format(days=27, who="zebrafinch"))
    first = await k.ingest(path)
    again = await k.ingest(path)
    path.write_text(POLICY.format(days=31, who="kingfisher"))
    changed = await k.ingest(path)
    assert (first.status, again.status, changed.status) == ("added", "unchanged", "replaced")
    assert first.document.id == again.document.id == changed.document.id
    assert first.document.content_hash != changed.document.content_hash
    assert await stored(k) == (1, 1)
    [hit] = await k.search("How many days of leave do staff get?")
    assert "31 days" in hit.text
    # The old words are gone from the keyword index too.
    assert await k._on_worker(lambda: k._db().keyword_search(["zebrafinch"], 5)) == []
    assert await k._on_worker(lambda: k._db().keyword_search(["kingfisher"], 5)) != []
    await k.aclose()


async def test_bytes_are_ingested_by_name_listed_and_deleted(tmp_path: Path) -> None:
    k = knowledge(tmp_path)
    data = POLICY.format(days=27, who="people").encode()
    result = await k.ingest(data, "upload.md")
    assert result.document.source == "upload.md" and result.document.title == "Policy"
    assert (await k.document(result.document.id)).chunks == 1
    [passage] = await k.passages_of(result.document.id)
    assert passage.headings == ("Policy", "Leave")
    assert (await k.ingest(data, "upload.md")).status == "unchanged"
    await k.delete(result.document.id)
    assert await stored(k) == (0, 0)
    assert await k.search("How many days of leave?") == []
    with pytest.raises(DocumentNotFound):
        await k.delete(result.document.id)
    with pytest.raises(DocumentNotFound):
        await k.document("nope")
    with pytest.raises(DocumentError, match="needs a file name"):
        await k.ingest(data, "")
    await k.aclose()


@pytest.mark.parametrize(
    ("name", "data", "reason"),
    [
        ("broken.pdf", pdf_bytes(MANUAL_PAGES)[:700], "damaged"),
        ("locked.pdf", pdf_bytes(MANUAL_PAGES, password="pw"), "password-protected"),
        ("empty.txt", b"", "empty"),
        ("photo.md", bytes(range(256)) * 4, "binary"),
        ("big.txt", b"words " * 4000, "larger than max_file_bytes"),
    ],
)
async def test_bad_files_leave_nothing_stored(
    tmp_path: Path, name: str, data: bytes, reason: str
) -> None:
    k = knowledge(tmp_path / "index", max_file_bytes=20000)
    await k.ingest(b"A note about the harbour.", "good.txt")
    with pytest.raises(DocumentError, match=reason):
        await k.ingest(data, name)
    (tmp_path / name).write_bytes(data)
    with pytest.raises(DocumentError, match=reason):
        await k.ingest(tmp_path / name)
    assert await stored(k) == (1, 1)
    await k.aclose()


async def test_missing_and_unsupported_paths_are_refused(tmp_path: Path) -> None:
    k = knowledge(tmp_path)
    with pytest.raises(DocumentError, match="no such file"):
        await k.ingest(tmp_path / "gone.md")
    with pytest.raises(DocumentError, match=r"\.docx files are not supported"):
        await k.ingest(tmp_path / "report.docx")
    await k.aclose()


async def test_a_failure_while_storing_leaves_nothing_half_stored(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    k = knowledge(tmp_path, chunk_chars=200, chunk_overlap_chars=0)
    text = "\n\n".join(
        f"Paragraph {i} about the buoy, with enough words to fill." * 3 for i in range(6)
    )
    calls = 0
    real_dumps = json.dumps

    def failing_dumps(value: object, **kw: object) -> str:
        nonlocal calls
        calls += 1
        if calls == 3:  # the third passage's row
            raise OSError("disk full")
        return real_dumps(value, **kw)  # type: ignore[arg-type]

    monkeypatch.setattr(store_module.json, "dumps", failing_dumps)
    with pytest.raises(OSError, match="disk full"):
        await k.ingest(text.encode(), "long.txt")
    monkeypatch.setattr(store_module.json, "dumps", real_dumps)
    assert await stored(k) == (0, 0)
    assert await k._on_worker(lambda: k._db().keyword_search(["buoy"], 5)) == []
    assert (await k.ingest(text.encode(), "long.txt")).document.chunks > 2
    await k.aclose()


async def test_another_embedder_is_refused_until_reindex(tmp_path: Path) -> None:
    first = knowledge(tmp_path)
    await first.ingest(POLICY.format(days=27, who="people").encode(), "policy.md")
    await first.aclose()
    with EmbedServer() as server:
        embedder = EmbedderSettings(kind="ollama", model="nomic-embed-text", url=server.url)
        other = knowledge(tmp_path, embedder=embedder, min_similarity=0.1)
        for attempt in (other.search("leave days"), other.ingest(b"More.", "more.txt")):
            with pytest.raises(EmbedderMismatch, match="run `zenglow reindex`") as err:
                await attempt
            assert "embedded:all-MiniLM-L6-v2-int8" in str(err.value)
            assert "ollama:nomic-embed-text:latest" in str(err.value)
        assert await other.reindex() == 1
        [hit] = await other.search("How many days of leave do staff receive?")
        assert "27 days" in hit.text
        await other.aclose()
    back = knowledge(tmp_path)
    with pytest.raises(EmbedderMismatch):
        await back.search("leave")
    assert await back.reindex() == 1
    assert len(await back.search("How many days of leave do staff receive?")) == 1
    await back.aclose()


async def test_the_graph_index_finds_what_exact_search_finds(tmp_path: Path) -> None:
    corpus = write_corpus(tmp_path / "docs")
    exact = knowledge(tmp_path / "index")
    for path in sorted(corpus.iterdir()):
        await exact.ingest(path)
    await exact.aclose()
    graph = knowledge(tmp_path / "index", exact_search_max_chunks=10)
    exact = knowledge(tmp_path / "index")
    for question, _, _ in QUESTIONS[::4]:
        assert await graph.search(question) == await exact.search(question), question
    assert graph._index.uses_graph and not exact._index.uses_graph
    await graph.ingest(b"The lighthouse keeper is called Sigrun Vatne.", "keeper.txt")
    [hit] = await graph.search("Who keeps the lighthouse?")
    assert "Sigrun Vatne" in hit.text
    await graph.aclose()  # saves the graph with the generation it reflects
    await exact.aclose()
    assert (tmp_path / "index" / "vectors.usearch").is_file()
    reopened = knowledge(tmp_path / "index", exact_search_max_chunks=10)
    built: list[int] = []
    original = VectorIndex._build
    VectorIndex._build = lambda self, space: built.append(1) or original(self, space)  # type: ignore[method-assign]
    try:
        [hit] = await reopened.search("Who keeps the lighthouse?")
    finally:
        VectorIndex._build = original  # type: ignore[method-assign]
    assert "Sigrun Vatne" in hit.text and built == []  # loaded, not built again
    await reopened.aclose()


async def test_writes_from_another_process_are_seen(tmp_path: Path) -> None:
    server_side = knowledge(tmp_path)
    assert await server_side.search("Who keeps the lighthouse?") == []
    command_line = knowledge(tmp_path)  # another Knowledge on the same folder
    await command_line.ingest(b"The lighthouse keeper is called Sigrun Vatne.", "keeper.txt")
    [hit] = await server_side.search("Who keeps the lighthouse?")
    assert "Sigrun Vatne" in hit.text
    await command_line.delete(hit.document_id)
    assert await server_side.search("Who keeps the lighthouse?") == []
    await command_line.aclose()
    await server_side.aclose()


async def test_a_graph_in_memory_follows_other_processes_without_rebuilding(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    server_side = knowledge(tmp_path, exact_search_max_chunks=1)
    await server_side.ingest(POLICY.format(days=27, who="people").encode(), "policy.md")
    await server_side.ingest(b"The harbour office opens at eight.", "harbour.txt")
    await server_side.warm_up()
    assert server_side._index.uses_graph

    def no_rebuild(self: VectorIndex, space: str) -> object:
        raise AssertionError("the graph was built again")

    monkeypatch.setattr(VectorIndex, "_build", no_rebuild)
    command_line = knowledge(tmp_path)
    added = await command_line.ingest(b"The lighthouse keeper is Sigrun Vatne.", "keeper.txt")
    [hit] = await server_side.search("Who keeps the lighthouse?")
    assert "Sigrun Vatne" in hit.text
    await command_line.delete(added.document.id)
    assert await server_side.search("Who keeps the lighthouse?") == []
    await command_line.aclose()
    await server_side.aclose()


def test_vector_index_exact_search_orders_by_cosine() -> None:
    index = VectorIndex(exact_max=100)
    m = np.eye(4, dtype=np.float32)
    index.load(np.array([3, 5, 8, 9]), m, 1, "space")
    ids, sims = index.search(np.array([0.1, 0.9, 0.0, 0.4], dtype=np.float32), 2)
    assert ids.tolist() == [5, 9] and np.allclose(sims, [0.9, 0.4])
    index.apply([5], [12], np.array([[0, 1, 0, 0]], dtype=np.float32), 2)
    assert index.ids.tolist() == [3, 8, 9, 12] and index.generation == 2
    assert index.similarity(np.array([0, 1, 0, 0], np.float32), np.array([12, 5])).tolist() == [
        1.0,
        -1.0,
    ]


def test_the_graph_library_and_onnx_runtime_load_in_either_order() -> None:
    # usearch 2.26.2 to 2.26.6 crash the process when ONNX Runtime is imported after them.
    for first, then in (("usearch.index", "onnxruntime"), ("onnxruntime", "usearch.index")):
        done = subprocess.run(
            [sys.executable, "-c", f"import {first}; import {then}"], capture_output=True
        )
        assert done.returncode == 0, (first, then, done.returncode)


def test_keyword_search_leaves_out_words_found_everywhere(tmp_path: Path) -> None:
    from zenglow.knowledge import keywords
    from zenglow.knowledge.documents import Chunk
    from zenglow.knowledge.store import Store

    store = Store(tmp_path)
    texts = [f"The common harbour report number {i}." for i in range(keywords.BUDGET + 10)]
    texts += ["The common harbour keeper is Sigrun Vatne."]
    store.put(source="many", title="t", kind="txt", content_hash="h", size_bytes=0,
              chunks=[Chunk(t) for t in texts], vectors=np.ones((len(texts), 2), np.float32),
              embedder="e")  # fmt: skip
    [only] = store.keyword_search(["common", "harbour", "keeper", "vatne"], 10)
    assert store.passages([only])[only][2].text == texts[-1]
    assert store.keyword_search(["common", "harbour"], 10) == []  # too common to score
    store.close()
