"""Plain text: bytes to `str` (refusing binary data), and notes cut into paragraphs."""

from __future__ import annotations

import codecs
import itertools
import re
from collections.abc import Sequence

from ..documents import Block, DocumentError

_BOMS = (
    (codecs.BOM_UTF8, "utf-8-sig"),
    (codecs.BOM_UTF32_LE, "utf-32"),
    (codecs.BOM_UTF32_BE, "utf-32"),
    (codecs.BOM_UTF16_LE, "utf-16"),
    (codecs.BOM_UTF16_BE, "utf-16"),
)
# C0 controls other than tab, line feed, form feed and carriage return, and DEL.
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0e-\x1f\x7f]")
_PARAGRAPH_BREAK = re.compile(r"\n[ \t]*\n")
_LIST_ITEM = re.compile(r"^(?:[-*+•–]|\d{1,3}[.)]|[a-zA-Z][.)])\s")


def decode(data: bytes, filename: str) -> str:
    """The text of a file: UTF-8 (or UTF-16/32 with a byte order mark), else Windows-1252.
    Data with NUL bytes or many control characters is binary and refused."""
    for bom, encoding in _BOMS:
        if data.startswith(bom):
            try:
                return _checked(data.decode(encoding), filename)
            except UnicodeDecodeError:
                raise DocumentError(f"{filename}: not valid {encoding} text") from None
    if b"\x00" in data:
        raise DocumentError(f"{filename}: binary data, not text")
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        text = data.decode("cp1252", errors="replace")
    return _checked(text, filename)


def _checked(text: str, filename: str) -> str:
    sample = text[:65536]
    if sample and len(_CONTROL.findall(sample)) > max(8, len(sample) // 100):
        raise DocumentError(f"{filename}: binary data, not text")
    return text.replace("\r\n", "\n").replace("\r", "\n")


def paragraphs(text: str) -> list[tuple[int, str]]:
    """The paragraphs of `text` (blank-line separated, unwrapped), with their first line."""
    found: list[tuple[int, str]] = []
    offset = 0
    lengths = sorted(len(line.strip()) for line in text.splitlines())
    width = lengths[int(0.95 * (len(lengths) - 1))] if lengths else 0
    for part in _PARAGRAPH_BREAK.split(text):
        start = text.index(part, offset) if part else offset
        offset = start + len(part)
        joined = unwrap([line.strip() for line in part.splitlines() if line.strip()], width)
        if joined:
            leading = len(part) - len(part.lstrip("\n \t"))
            found.append((text.count("\n", 0, start + leading) + 1, joined))
    return found


def unwrap(lines: list[str], width: int) -> str:
    """One paragraph's lines as text: lines wrapped near `width` (the text's line length)
    are joined into one; a short line (a date, a name, a heading) and a list item keep
    their line breaks."""
    if not lines:
        return ""
    text = lines[0]
    for before, line in itertools.pairwise(lines):
        wrapped = len(before) >= 0.6 * width and not _LIST_ITEM.match(line)
        text += (" " if wrapped else "\n") + line
    return text


def parse_text(text: str) -> tuple[str | None, list[Block]]:
    """A title (the first line, when it is short and no sentence) and the paragraphs."""
    found = paragraphs(text)
    first = found[0][1].split("\n", 1)[0] if found else ""
    title = first if len(first) <= 80 and not first.endswith(tuple(".,;:!?")) else None
    return title, [Block(p, line=line) for line, p in found]


def row_text(cells: Sequence[str], header: Sequence[str]) -> str:
    """A table row as text; with a header, each cell is named by its column."""
    if header and len(header) == len(cells) and list(cells) != list(header):
        return "; ".join(f"{h}: {c}" if h else c for h, c in zip(header, cells, strict=True))
    return " | ".join(cells)
