"""File formats: txt, md, pdf and html bytes in, a `ParsedDocument` (title and blocks) out.

`parse()` refuses, with a `DocumentError` that names the file and says why: other formats,
files over the size limit, empty files and files with no text, binary data posing as text,
damaged or password-protected PDFs.
"""

from __future__ import annotations

from pathlib import PurePath
from typing import Literal

from ..documents import DocumentError, ParsedDocument
from .text import decode, parse_text

Kind = Literal["txt", "md", "pdf", "html"]
SUFFIXES: dict[str, Kind] = {
    ".txt": "txt",
    ".text": "txt",
    ".md": "md",
    ".markdown": "md",
    ".pdf": "pdf",
    ".html": "html",
    ".htm": "html",
    ".xhtml": "html",
}


def kind_of(filename: str) -> Kind:
    """The format a file name says, or a `DocumentError` for the formats not read."""
    suffix = PurePath(filename).suffix.lower()
    try:
        return SUFFIXES[suffix]
    except KeyError:
        known = ", ".join(sorted({f".{k}" for k in SUFFIXES.values()}))
        what = f"{suffix} files" if suffix else "files without an extension"
        raise DocumentError(f"{filename}: {what} are not supported (only {known})") from None


def parse(data: bytes, filename: str, *, max_bytes: int, max_pages: int) -> ParsedDocument:
    kind = kind_of(filename)
    if len(data) > max_bytes:
        raise DocumentError(
            f"{filename}: {len(data)} bytes, larger than max_file_bytes ({max_bytes})"
        )
    if not data.strip():
        raise DocumentError(f"{filename}: the file is empty")
    title: str | None = None
    if kind == "pdf":
        from .pdf import parse_pdf

        title, blocks = parse_pdf(data, filename, max_pages=max_pages)
    else:
        text = decode(data, filename)
        if kind == "md":
            from .markdown import parse_markdown

            title, blocks = parse_markdown(text)
        elif kind == "html":
            from .html import parse_html

            title, blocks = parse_html(text)
        else:
            title, blocks = parse_text(text)
    if not blocks:
        hint = ": a scanned PDF needs OCR first" if kind == "pdf" else ""
        raise DocumentError(f"{filename}: no text found in the file{hint}")
    return ParsedDocument(title or PurePath(filename).stem, kind, tuple(blocks))
