"""`/v1/documents` on a real server with the real MiniLM: upload, list, read, replace and
delete documents; bad files get a clear error and leave nothing behind; the metrics count."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from zenglow.app import create_app
from zenglow.engines.loader import Engines
from zenglow.knowledge import Knowledge
from zenglow.settings import ServerSettings
from zenglow.settings.knowledge import KnowledgeSettings

from .conftest import engines_with
from .knowledge_corpus import FILES, MANUAL_PAGES, pdf_bytes, write_corpus
from .server import LoopbackServer

MAX_FILE = 200_000  # knowledge.max_file_bytes here
MAX_BODY = 400_000  # server.max_upload_bytes here


def serve_documents(engines: Engines, folder: Path, **changes: object) -> LoopbackServer:
    """A server on the real engines over an index of its own in `folder`."""
    eng = engines_with(engines, **changes)
    eng.knowledge = Knowledge(
        KnowledgeSettings(data_dir=folder, max_file_bytes=MAX_FILE), metrics=eng.metrics
    )
    return LoopbackServer(create_app(eng.settings, eng))


@pytest.fixture(scope="module")
def docs(engines: Engines, tmp_path_factory: pytest.TempPathFactory) -> Iterator[LoopbackServer]:
    server = ServerSettings(max_upload_bytes=MAX_BODY)
    with serve_documents(engines, tmp_path_factory.mktemp("index"), server=server) as srv:
        yield srv


@pytest.fixture(scope="module")
def corpus(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_corpus(tmp_path_factory.mktemp("corpus"))


def api(srv: LoopbackServer) -> httpx.Client:
    return httpx.Client(base_url=f"http://127.0.0.1:{srv.port}", timeout=120)


def upload(client: httpx.Client, name: str, data: bytes) -> httpx.Response:
    return client.post("/v1/documents", files={"file": (name, data)})


def test_upload_list_read_replace_and_delete(docs: LoopbackServer, corpus: Path) -> None:
    with api(docs) as client:
        ids = {}
        for name in FILES:
            r = upload(client, name, (corpus / name).read_bytes())
            assert r.status_code == 201, r.text
            body = r.json()
            assert body["chunks"] > 0 and body["title"] and body["id"]
            assert body["status"] == "added"
            ids[name] = body["id"]
        listed = client.get("/v1/documents").json()
        assert listed["object"] == "list"
        assert {d["id"] for d in listed["data"]} >= set(ids.values())

        one = client.get(f"/v1/documents/{ids['manual.pdf']}").json()
        assert one["kind"] == "pdf" and len(one["passages"]) == one["chunks"]
        assert any("p. 3" in p["locator"] for p in one["passages"])
        assert any("38 newton metres" in p["text"] for p in one["passages"])

        # the same file again changes nothing; a changed file of the same name replaces it
        same = upload(client, "notes.txt", (corpus / "notes.txt").read_bytes())
        assert same.status_code == 200 and same.json()["status"] == "unchanged"
        changed = upload(client, "notes.txt", b"Kestrel notes\n\nThe buoy is now painted teal.")
        assert changed.status_code == 201 and changed.json()["status"] == "replaced"
        texts = [
            p["text"]
            for p in client.get(f"/v1/documents/{changed.json()['id']}").json()["passages"]
        ]
        assert any("teal" in t for t in texts) and not any("Skua-3" in t for t in texts)
        titles = [d["source"] for d in client.get("/v1/documents").json()["data"]]
        assert titles.count("notes.txt") == 1

        gone = client.delete(f"/v1/documents/{ids['garden.html']}")
        assert gone.status_code == 200 and gone.json()["deleted"] is True
        missing = client.get(f"/v1/documents/{ids['garden.html']}")
        assert missing.status_code == 404
        assert missing.json()["error"]["code"] == "document_not_found"
        assert client.delete(f"/v1/documents/{ids['garden.html']}").status_code == 404

        metrics = client.get("/metrics").text
        assert "zenglow_knowledge_documents 3.0" in metrics
        assert 'zenglow_embed_request_seconds_count{endpoint="embedded"}' in metrics


@pytest.mark.parametrize(
    ("name", "data", "status", "says"),
    [
        ("empty.txt", b"", 400, "empty"),
        ("binary.txt", bytes(range(256)) * 40, 400, "binary"),
        ("broken.pdf", b"%PDF-1.7\n" + b"\x00garbage" * 50, 400, "pdf"),
        ("locked.pdf", pdf_bytes(MANUAL_PAGES[:1], password="secret"), 400, "password"),
        ("report.docx", b"PK\x03\x04 not read here", 415, "not supported"),
        ("big.txt", b"word " * (MAX_FILE // 5 + 10), 413, "max_file_bytes"),
        ("huge.txt", b"word " * (MAX_BODY // 5 + 10), 413, "too large"),
    ],
)
def test_bad_files_are_refused_and_leave_nothing(
    docs: LoopbackServer, name: str, data: bytes, status: int, says: str
) -> None:
    with api(docs) as client:
        before = client.get("/v1/documents").json()["data"]
        r = upload(client, name, data)
        assert r.status_code == status, r.text
        assert says.lower() in r.json()["error"]["message"].lower()
        assert client.get("/v1/documents").json()["data"] == before
        assert client.get("/health").status_code == 200  # the server serves on


def test_an_upload_needs_a_file_field(docs: LoopbackServer) -> None:
    with api(docs) as client:
        r = client.post("/v1/documents", data={"text": "no file here"})
        assert r.status_code == 422
        assert "file" in r.text
