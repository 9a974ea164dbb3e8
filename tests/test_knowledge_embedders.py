"""Embedders: the embedded MiniLM for real, and Ollama's `/api/embed` and the
OpenAI-compatible `/v1/embeddings` against a scripted server speaking their protocols."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

from tests.embed_server import EmbedScript, EmbedServer, word_vector
from tests.ollama_server import unused_port
from zenglow.knowledge.documents import EmbedderError
from zenglow.knowledge.embedders import FailoverEmbedder, embedder_from
from zenglow.knowledge.embedders import minilm as minilm_module
from zenglow.knowledge.embedders.minilm import MiniLmEmbedder
from zenglow.knowledge.embedders.ollama import OllamaEmbedder
from zenglow.knowledge.embedders.openai import OpenAIEmbedder
from zenglow.settings.knowledge import EmbedderSettings


@pytest.fixture(scope="module")
def running_server() -> Iterator[EmbedServer]:
    with EmbedServer() as server:
        yield server


@pytest.fixture
def server(running_server: EmbedServer) -> EmbedServer:
    running_server.reset()
    return running_server


# --- MiniLM, the embedded model -----------------------------------------------------------


@pytest.fixture(scope="module")
def minilm() -> MiniLmEmbedder:
    embedder = MiniLmEmbedder(batch_size=4)
    embedder.load()
    return embedder


async def test_minilm_gives_unit_vectors_that_rank_paraphrases_first(
    minilm: MiniLmEmbedder,
) -> None:
    passages = [
        "Employees get 27 days of paid holiday every year.",
        "The canteen serves mushroom soup on Tuesdays.",
        "Fault code E22 means water has entered the electronics housing.",
    ]
    docs = await minilm.embed_documents(passages)
    assert docs.shape == (3, 384) and docs.dtype == np.float32
    assert np.allclose(np.linalg.norm(docs, axis=1), 1.0, atol=1e-5)
    for question, expected in [
        ("How much annual leave do staff have?", 0),
        ("What is for lunch midweek?", 1),
        ("What does error E22 mean?", 2),
    ]:
        q = await minilm.embed_query(question)
        assert q.shape == (384,)
        assert int(np.argmax(docs @ q)) == expected, question


async def test_minilm_batches_give_the_vectors_of_single_texts(minilm: MiniLmEmbedder) -> None:
    texts = ["short", "a somewhat longer sentence about buoys and their batteries", "x " * 300]
    together = await minilm.embed_documents(texts)
    alone = np.stack([await minilm.embed_query(t) for t in texts])
    assert np.allclose(together, alone, atol=1e-4)
    assert (await minilm.embed_documents([])).shape == (0, 384)


def test_minilm_refuses_a_model_file_that_is_not_the_pinned_one(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    fake = tmp_path / "model.onnx"
    fake.write_bytes(b"not the model")
    monkeypatch.setattr(minilm_module, "model_file", lambda: fake)
    with pytest.raises(EmbedderError, match="sha256 differs"):
        MiniLmEmbedder().load()
    monkeypatch.setattr(minilm_module, "model_file", lambda: tmp_path / "gone.onnx")
    with pytest.raises(EmbedderError, match="missing"):
        MiniLmEmbedder().load()


def test_the_pinned_files_are_the_installed_ones() -> None:
    assert minilm_module._sha256(minilm_module.model_file()) == minilm_module.MODEL_SHA256
    tokenizer = minilm_module.tokenizer_file()
    assert minilm_module._sha256(tokenizer) == minilm_module.TOKENIZER_SHA256
    assert (tokenizer.parent / "NOTICE").is_file()


# --- Ollama /api/embed ------------------------------------------------------------------------


async def test_ollama_batches_and_prefixes_for_nomic(server: EmbedServer) -> None:
    embedder = OllamaEmbedder("nomic-embed-text", host=server.url, batch_size=2, keep_alive="5m")
    texts = ["first passage", "second passage", "third passage"]
    vectors = await embedder.embed_documents(texts)
    query = await embedder.embed_query("which passage?")
    await embedder.aclose()
    assert vectors.shape == (3, 64) and embedder.dimension == 64
    assert np.allclose(np.linalg.norm(vectors, axis=1), 1.0)
    expected = np.asarray(word_vector("search_document: first passage", 64))
    assert np.allclose(vectors[0], expected / np.linalg.norm(expected))
    inputs = [e.body["input"] for e in server.embeds()]
    assert inputs == [
        ["search_document: first passage", "search_document: second passage"],
        ["search_document: third passage"],
        ["search_query: which passage?"],
    ]
    body = server.embeds()[0].body
    assert body["model"] == "nomic-embed-text" and body["truncate"] is True
    assert body["keep_alive"] == "5m"
    assert query.shape == (64,)
    assert embedder.id == "ollama:nomic-embed-text:latest"


async def test_ollama_prefixes_can_be_set_and_change_the_space(server: EmbedServer) -> None:
    plain = OllamaEmbedder("nomic-embed-text", host=server.url, document_prefix="")
    other = OllamaEmbedder("other-model", host=server.url)
    assert plain.id != OllamaEmbedder("nomic-embed-text", host=server.url).id
    assert (other.document_prefix, other.query_prefix) == ("", "")
    await plain.aclose()
    await other.aclose()


async def test_ollama_missing_model_says_how_to_pull_it(server: EmbedServer) -> None:
    embedder = OllamaEmbedder("mxbai-embed-large", host=server.url)
    with pytest.raises(EmbedderError, match=r"ollama pull mxbai-embed-large"):
        await embedder.embed_documents(["text"])
    await embedder.aclose()


@pytest.mark.parametrize(
    ("script", "message"),
    [
        (EmbedScript(fail_status=500, fail_message="out of memory"), "HTTP 500: out of memory"),
        (EmbedScript(drop_one=True), "1 embeddings for 2 texts"),
        (EmbedScript(not_json=True), "broken embedding reply"),
    ],
)
async def test_ollama_failures_are_embedder_errors(
    server: EmbedServer, script: EmbedScript, message: str
) -> None:
    server.reset(script)
    embedder = OllamaEmbedder("nomic-embed-text", host=server.url)
    with pytest.raises(EmbedderError, match=message):
        await embedder.embed_documents(["one", "two"])
    await embedder.aclose()


async def test_ollama_unreachable_says_so() -> None:
    embedder = OllamaEmbedder("nomic-embed-text", host=f"http://127.0.0.1:{unused_port()}")
    with pytest.raises(EmbedderError, match="cannot reach Ollama"):
        await embedder.embed_query("hello")
    await embedder.aclose()


# --- OpenAI-compatible /v1/embeddings -------------------------------------------------------


async def test_openai_asks_for_floats_and_orders_by_index(server: EmbedServer) -> None:
    embedder = OpenAIEmbedder(
        "text-embedding-3-small", url=server.url, api_key="sk-test", batch_size=8
    )
    texts = ["alpha beta", "gamma delta", "epsilon"]
    vectors = await embedder.embed_documents(texts)
    await embedder.aclose()
    expected = np.stack([np.asarray(word_vector(t, 64)) for t in texts])
    expected /= np.linalg.norm(expected, axis=1, keepdims=True)
    assert np.allclose(vectors, expected, atol=1e-6)
    [request] = server.embeds()
    assert request.path == "/v1/embeddings"
    assert request.body == {
        "model": "text-embedding-3-small",
        "input": texts,
        "encoding_format": "float",
    }
    assert embedder.id == "openai:text-embedding-3-small"


@pytest.mark.parametrize(
    ("script", "model", "message"),
    [
        (EmbedScript(), "no-such-model", "does not serve the model 'no-such-model'"),
        (EmbedScript(fail_status=429, fail_message="slow down"), "text-embedding-3-small",
         "HTTP 429: slow down"),
        (EmbedScript(not_json=True), "text-embedding-3-small", "not an embedding list"),
        (EmbedScript(drop_one=True), "text-embedding-3-small", "1 embeddings for 2 texts"),
    ],
)  # fmt: skip
async def test_openai_failures_are_embedder_errors(
    server: EmbedServer, script: EmbedScript, model: str, message: str
) -> None:
    server.reset(script)
    embedder = OpenAIEmbedder(model, url=f"{server.url}/v1")
    with pytest.raises(EmbedderError, match=message):
        await embedder.embed_documents(["one", "two"])
    await embedder.aclose()


# --- fallback servers and settings ----------------------------------------------------------


async def test_a_dead_server_falls_back_to_the_next(server: EmbedServer) -> None:
    dead = f"http://127.0.0.1:{unused_port()}"
    now = [0.0]
    seen: list[str] = []
    settings = EmbedderSettings(
        kind="ollama", model="nomic-embed-text", url=dead, fallback_urls=[server.url]
    )
    embedder = embedder_from(settings, observe=lambda name, s: seen.append(name))
    assert isinstance(embedder, FailoverEmbedder)
    embedder._clock = lambda: now[0]
    await embedder.embed_query("first")
    assert embedder._down_until[0] == 30.0  # the dead one failed, and waits 30 s
    await embedder.embed_query("second")
    assert embedder._down_until[0] == 30.0  # skipped: not tried again yet
    now[0] = 31.0
    await embedder.embed_query("third")
    assert embedder._down_until[0] == 61.0  # tried again first, and failed again
    port = server.url.rsplit(":", 1)[1]
    assert seen == [f"ollama@127.0.0.1:{port}"] * 3
    assert len(server.embeds()) == 3
    await embedder.aclose()


async def test_when_every_server_fails_the_error_names_each() -> None:
    urls = [f"http://127.0.0.1:{unused_port()}" for _ in range(2)]
    settings = EmbedderSettings(kind="openai", model="m", url=urls[0], fallback_urls=urls[1:])
    embedder = embedder_from(settings)
    with pytest.raises(EmbedderError, match="every embedding server failed") as err:
        await embedder.embed_query("hello")
    assert all(u.removeprefix("http://") in str(err.value) for u in urls)
    await embedder.aclose()


def test_embedder_settings_are_checked() -> None:
    with pytest.raises(ValueError, match="needs a model"):
        EmbedderSettings(kind="ollama")
    with pytest.raises(ValueError, match="needs a url"):
        EmbedderSettings(kind="openai", model="m")
    with pytest.raises(ValueError, match="do not apply to the embedded"):
        EmbedderSettings(model="nomic-embed-text")
    with pytest.raises(ValueError, match="must look like"):
        EmbedderSettings(kind="ollama", model="m", url="gpu2:11434")
    assert EmbedderSettings(kind="ollama", model="m").urls() == ["http://127.0.0.1:11434"]
