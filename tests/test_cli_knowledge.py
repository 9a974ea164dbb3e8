"""`zenglow ingest`, `zenglow reindex` and `zenglow documents`, run as the console script."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest

from tests.knowledge_corpus import MANUAL_PAGES, pdf_bytes, write_corpus
from tests.test_cli import clean_env, zenglow_command


def run(index: Path, *args: str | Path, **env: str) -> subprocess.CompletedProcess[str]:
    done = subprocess.run(
        [*zenglow_command(), *map(str, args)],
        env={**clean_env(), "ZENGLOW_KNOWLEDGE__DATA_DIR": str(index), **env},
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert "Traceback" not in done.stderr, done.stderr
    return done


def listed(index: Path) -> list[dict[str, object]]:
    done = run(index, "documents", "list", "--json")
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)


@pytest.fixture
def folder(tmp_path: Path) -> Path:
    docs = write_corpus(tmp_path / "docs")
    (docs / "archive" / ".git").mkdir(parents=True)
    (docs / "archive" / ".git" / "notes.txt").write_text("hidden, never ingested")
    (docs / "archive" / "old-manual.pdf").write_bytes(pdf_bytes(MANUAL_PAGES[:2]))
    (docs / "archive" / "photo.jpg").write_bytes(b"\xff\xd8\xff")
    return docs


def test_ingest_a_folder_then_list_search_and_delete(tmp_path: Path, folder: Path) -> None:
    index = tmp_path / "index"
    done = run(index, "ingest", folder)
    assert done.returncode == 0, done.stderr
    assert "5 files: 5 added;" in done.stderr
    docs = listed(index)
    assert sorted(Path(str(d["source"])).name for d in docs) == [
        "garden.html", "handbook.md", "manual.pdf", "notes.txt", "old-manual.pdf"
    ]  # fmt: skip
    again = run(index, "ingest", folder / "handbook.md", folder / "notes.txt")
    assert again.returncode == 0 and "2 files: 2 unchanged; 0 passages" in again.stderr

    found = run(index, "documents", "search", "How", "long", "is", "parental", "leave?")
    assert found.returncode == 0
    first = found.stdout.splitlines()[0]
    assert "Halvorsen & Quist Staff Handbook [" in first and "Parental leave]" in first
    assert "18 weeks" in found.stdout
    nothing = run(index, "documents", "search", "Who won the world cup in 1998?")
    assert nothing.returncode == 0 and nothing.stdout == ""
    assert "nothing relevant found" in nothing.stderr

    manual = next(d for d in docs if str(d["source"]).endswith("old-manual.pdf"))
    deleted = run(index, "documents", "delete", str(manual["id"]))
    assert deleted.returncode == 0 and f"deleted {manual['id']}" in deleted.stdout
    assert len(listed(index)) == 4


def test_bad_files_are_reported_and_the_rest_ingested(tmp_path: Path, folder: Path) -> None:
    (folder / "locked.pdf").write_bytes(pdf_bytes(MANUAL_PAGES, password="secret"))
    (folder / "empty.md").write_bytes(b"")
    done = run(tmp_path / "index", "ingest", folder)
    assert done.returncode == 2
    assert "zenglow ingest: empty.md: the file is empty" in done.stderr
    assert "zenglow ingest: locked.pdf: the PDF is password-protected" in done.stderr
    assert "7 files: 5 added, 2 refused;" in done.stderr
    assert len(listed(tmp_path / "index")) == 5


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("ingest", "missing-folder"), "zenglow ingest: no such file or folder: missing-folder"),
        (("ingest", "{tmp}/slides.pptx"), ".pptx files are not supported"),
        (("ingest", "{tmp}/nothing"), "zenglow ingest: no documents in"),
        (("documents", "delete", "0123456789abcdef"), "no document with id '0123456789abcdef'"),
        (("documents", "delete"), "documents delete needs document ids"),
        (("documents", "list", "extra"), "documents list takes no arguments"),
    ],
)
def test_bad_input_gives_one_clear_line(
    tmp_path: Path, args: tuple[str, ...], message: str
) -> None:
    (tmp_path / "slides.pptx").write_bytes(b"PK")
    (tmp_path / "nothing").mkdir()
    done = run(tmp_path / "index", *(a.format(tmp=tmp_path) for a in args))
    assert done.returncode == 2
    assert message in done.stderr
    assert len(done.stderr.strip().splitlines()) == 1, done.stderr


def test_another_embedder_needs_reindex(tmp_path: Path) -> None:
    index = tmp_path / "index"
    (tmp_path / "note.md").write_text("# Note\n\nThe lighthouse keeper is Sigrun Vatne.\n")
    assert run(index, "ingest", tmp_path / "note.md").returncode == 0
    # Another model: the index built with MiniLM cannot answer its questions.
    other = {"ZENGLOW_KNOWLEDGE__EMBEDDER__KIND": "ollama",
             "ZENGLOW_KNOWLEDGE__EMBEDDER__MODEL": "nomic-embed-text",
             "ZENGLOW_KNOWLEDGE__EMBEDDER__URL": "http://127.0.0.1:9"}  # fmt: skip
    refused = run(index, "documents", "search", "lighthouse", **other)
    assert refused.returncode == 2
    assert "run `zenglow reindex`" in refused.stderr
    assert len(refused.stderr.strip().splitlines()) == 1
    unreachable = run(index, "reindex", **other)
    assert unreachable.returncode == 2 and "cannot reach Ollama" in unreachable.stderr
    done = run(index, "reindex")
    assert done.returncode == 0
    assert "reindexed 1 passages with embedded:all-MiniLM-L6-v2-int8" in done.stderr
