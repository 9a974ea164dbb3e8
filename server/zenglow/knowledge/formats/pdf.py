"""PDF, read by pypdf: the text of each page, cut into paragraphs, with the page number and
(when the file has an outline) the bookmark path the page falls under.  Encrypted files open
only when they need no password; scanned pages without a text layer yield nothing."""

from __future__ import annotations

import io
import logging
import re
from typing import Any

from pypdf import PdfReader
from pypdf.errors import FileNotDecryptedError, PyPdfError

from ..documents import Block, DocumentError
from .text import paragraphs

log = logging.getLogger(__name__)

# What pypdf raises on damaged files besides its own errors.
_BROKEN = (PyPdfError, ValueError, KeyError, TypeError, AttributeError, IndexError, OSError)
_HYPHENATED = re.compile(r"(\w)-\n(\w)")
_LAYOUT_BREAK = re.compile(r"(?<=[.!?:;])\n(?=[A-Z0-9\u2022•\-])")


def _outline_headings(reader: PdfReader) -> list[tuple[int, tuple[str, ...]]]:
    """(first page index, bookmark path) for each outline entry, in page order."""
    found: list[tuple[int, tuple[str, ...]]] = []

    def visit(items: list[Any], path: tuple[str, ...]) -> None:
        last: tuple[str, ...] = path
        for item in items:
            if isinstance(item, list):
                visit(item, last)
                continue
            page = reader.get_destination_page_number(item)
            last = (*path, str(item.title).strip())
            if page is not None and page >= 0:
                found.append((page, last))

    try:
        visit(reader.outline, ())
    except _BROKEN as exc:  # a damaged outline is no reason to refuse the text
        log.debug("PDF outline unreadable: %s", exc)
        return []
    return sorted(found, key=lambda e: e[0])


def _page_paragraphs(text: str) -> list[str]:
    """Paragraphs of a page's extracted text: blank lines and sentence-ending line breaks
    separate them; other line breaks are layout and become spaces."""
    text = _HYPHENATED.sub(r"\1\2", text.replace("\r\n", "\n"))
    text = _LAYOUT_BREAK.sub("\n\n", text)
    return [" ".join(p.split()) for _, p in paragraphs(text)]


def parse_pdf(data: bytes, filename: str, *, max_pages: int) -> tuple[str | None, list[Block]]:
    """The document title (from its metadata) and its blocks."""
    if not data.lstrip()[:1024].startswith(b"%PDF-") and b"%PDF-" not in data[:1024]:
        raise DocumentError(f"{filename}: not a PDF file (no %PDF header): corrupt or mislabelled")
    try:
        reader = PdfReader(io.BytesIO(data), strict=False)
        if reader.is_encrypted and not reader.decrypt(""):
            raise DocumentError(
                f"{filename}: the PDF is password-protected: save a copy without the password"
            )
        count = len(reader.pages)
        if count > max_pages:
            raise DocumentError(f"{filename}: {count} pages, more than max_pages ({max_pages})")
        headings = _outline_headings(reader)
        blocks: list[Block] = []
        for index, page in enumerate(reader.pages):
            path = next((p for first, p in reversed(headings) if first <= index), ())
            for para in _page_paragraphs(page.extract_text() or ""):
                blocks.append(Block(para, path, page=index + 1))
        title = reader.metadata.title if reader.metadata else None
    except FileNotDecryptedError:
        raise DocumentError(
            f"{filename}: the PDF is password-protected: save a copy without the password"
        ) from None
    except DocumentError:
        raise
    except _BROKEN as exc:
        raise DocumentError(f"{filename}: the PDF is damaged and cannot be read ({exc})") from None
    if count == 0:
        raise DocumentError(f"{filename}: the PDF has no pages")
    return (str(title).strip() or None) if title else None, blocks
