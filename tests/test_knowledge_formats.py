"""Reading documents: each format into blocks with their place, and every kind of bad file
refused with a clear reason."""

from __future__ import annotations

import pytest

from tests.knowledge_corpus import CORPUS, MANUAL_PAGES, MANUAL_TITLE, pdf_bytes
from zenglow.knowledge.documents import DocumentError, ParsedDocument
from zenglow.knowledge.formats import parse
from zenglow.knowledge.formats.text import decode

LIMIT = 1 << 20


def read(name: str, data: bytes | None = None, *, max_bytes: int = LIMIT) -> ParsedDocument:
    return parse(data if data is not None else (CORPUS / name).read_bytes(), name,
                 max_bytes=max_bytes, max_pages=50)  # fmt: skip


def test_markdown_blocks_carry_their_heading_path() -> None:
    doc = read("handbook.md")
    assert doc.kind == "md" and doc.title == "Halvorsen & Quist Staff Handbook"
    by_text = {b.text: b for b in doc.blocks}
    leave = next(b for t, b in by_text.items() if t.startswith("Parents receive 18 weeks"))
    assert leave.headings == ("Halvorsen & Quist Staff Handbook", "Leave", "Parental leave")
    assert leave.line is not None and leave.line > 1
    assert "**" not in "".join(by_text) and "|---" not in "".join(by_text)
    row = next(t for t in by_text if "Bryggen 7" in t)
    assert row.startswith("Office: Bergen; Address: Bryggen 7")


def test_html_reads_the_page_and_leaves_out_code_and_navigation() -> None:
    doc = read("garden.html")
    assert doc.kind == "html"
    assert doc.title == "Linnmoor Community Garden - Plot rules and FAQ"
    text = "\n".join(b.text for b in doc.blocks)
    assert "analytics" not in text and "font-family" not in text and "Contact" not in text
    chickens = next(b for b in doc.blocks if b.text.startswith("Bees are welcome"))
    assert chickens.headings == (
        "Linnmoor Community Garden",
        "Frequently asked questions",
        "Can I keep chickens or bees?",
    )
    assert "Plot size: Full plot (100 square metres); Yearly fee: 60 euros" in text
    assert any(b.text.startswith("- No chemical pesticides") for b in doc.blocks)
    assert "between the railway embankment and Linnmoor Brook" in text  # lines joined


def test_text_notes_keep_short_lines_and_join_wrapped_ones() -> None:
    doc = read("notes.txt")
    assert doc.kind == "txt" and doc.title == "Project Kestrel - working notes"
    first = next(b for b in doc.blocks if "Kick-off" in b.text)
    assert first.text.startswith("3 March\nKick-off with the harbour authority in Hammerfest.")
    assert "piers by the end of October" in first.text
    assert first.line == 4


def test_pdf_blocks_carry_page_and_bookmark() -> None:
    doc = read("manual.pdf", pdf_bytes(MANUAL_PAGES, title=MANUAL_TITLE))
    assert doc.kind == "pdf" and doc.title == MANUAL_TITLE
    torque = next(b for b in doc.blocks if "38 newton metres" in b.text)
    assert (torque.page, torque.headings) == (4, ("Calibration",))
    assert {b.page for b in doc.blocks} == {1, 2, 3, 4, 5}


def test_a_pdf_without_a_title_is_named_after_its_file() -> None:
    assert read("buoy notes.pdf", pdf_bytes(MANUAL_PAGES[:1])).title == "buoy notes"


def test_text_encodings() -> None:
    assert decode("Tromsø".encode("utf-16"), "x.txt") == "Tromsø"
    assert decode("Tromsø".encode("cp1252"), "x.txt") == "Tromsø"
    assert decode(b"\xef\xbb\xbfa\r\nb", "x.txt") == "a\nb"


@pytest.mark.parametrize(
    ("name", "data", "reason"),
    [
        ("empty.md", b"", "the file is empty"),
        ("blank.txt", b" \n\n \t\n", "the file is empty"),
        ("image.txt", bytes(range(256)) * 8, "binary data, not text"),
        ("controls.md", b"\x01\x02\x03\x04\x05\x06\x07\x08\x0e\x0f" * 50, "binary data"),
        ("fake.pdf", b"just some words, not a PDF", "not a PDF file"),
        ("broken.pdf", pdf_bytes(MANUAL_PAGES)[:900], "damaged"),
        ("garbled.pdf", b"%PDF-1.7\n" + bytes(range(256)) * 20, "damaged"),
        ("locked.pdf", pdf_bytes(MANUAL_PAGES, password="hunter2"), "password-protected"),
        ("scan.pdf", pdf_bytes([[""]]), "no text found in the file: a scanned PDF needs OCR"),
        ("only-code.html", b"<html><script>var a = 1;</script></html>", "no text found"),
        ("slides.pptx", b"PK\x03\x04", ".pptx files are not supported"),
        ("README", b"hello", "files without an extension are not supported"),
    ],
)
def test_bad_files_are_refused_by_name_and_reason(name: str, data: bytes, reason: str) -> None:
    with pytest.raises(DocumentError, match=reason) as err:
        read(name, data)
    assert str(err.value).startswith(f"{name}: ")
    assert "\n" not in str(err.value)


def test_oversized_files_are_refused_before_parsing() -> None:
    with pytest.raises(DocumentError, match=r"2000 bytes, larger than max_file_bytes \(1000\)"):
        read("big.txt", b"word " * 400, max_bytes=1000)


def test_pdfs_with_too_many_pages_are_refused() -> None:
    data = pdf_bytes([["page"]] * 3)
    with pytest.raises(DocumentError, match=r"3 pages, more than max_pages \(2\)"):
        parse(data, "long.pdf", max_bytes=LIMIT, max_pages=2)


def test_a_pdf_locked_only_against_editing_opens() -> None:
    # An empty user password: anyone may read it, as PDF readers do.
    from io import BytesIO

    from pypdf import PdfReader, PdfWriter

    writer = PdfWriter(clone_from=PdfReader(BytesIO(pdf_bytes(MANUAL_PAGES))))
    writer.encrypt(user_password="", owner_password="owner", algorithm="AES-128")
    out = BytesIO()
    writer.write(out)
    doc = read("owner-locked.pdf", out.getvalue())
    assert any("38 newton metres" in b.text for b in doc.blocks)
