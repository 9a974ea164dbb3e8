"""Markdown, parsed by markdown-it-py (CommonMark with tables): headings give each block
its heading path; paragraphs, list items, table rows, code and quotes become blocks."""

from __future__ import annotations

from markdown_it import MarkdownIt
from markdown_it.token import Token

from ..documents import Block
from .text import row_text


def _plain(inline: Token) -> str:
    """The readable text of an inline token: markup dropped, link and image text kept."""
    out: list[str] = []
    for child in inline.children or ():
        if child.type in ("text", "code_inline"):
            out.append(child.content)
        elif child.type == "softbreak":  # a wrapped line
            out.append(" ")
        elif child.type == "hardbreak":
            out.append("\n")
        elif child.type == "image":
            out.append(_plain(child) or str(child.attrs.get("alt", "")))
    return "".join(out).strip()


def parse_markdown(text: str) -> tuple[str | None, list[Block]]:
    """The first level-one heading (the title, if any) and the blocks."""
    tokens = MarkdownIt("commonmark").enable("table").parse(text)
    title: str | None = None
    path: list[tuple[int, str]] = []  # (level, heading) from the outermost in
    blocks: list[Block] = []
    header: list[str] = []
    row: list[str] | None = None
    item_depth = 0
    line = 1

    def emit(content: str, at: int) -> None:
        if content.strip():
            blocks.append(Block(content.strip(), tuple(h for _, h in path), line=at))

    for i, tok in enumerate(tokens):
        if tok.map:
            line = tok.map[0] + 1
        if tok.type == "heading_open":
            level = int(tok.tag[1])
            heading = _plain(tokens[i + 1])
            path = [(lv, h) for lv, h in path if lv < level] + [(level, heading)]
            if level == 1 and title is None:
                title = heading
        elif tok.type == "list_item_open":
            item_depth += 1
        elif tok.type == "list_item_close":
            item_depth -= 1
        elif tok.type == "thead_open":
            header = []
        elif tok.type == "tr_open":
            row = []
        elif tok.type == "tr_close" and row is not None:
            if tokens[i - 1].type == "th_close" and not header:
                header = row
            else:
                emit(row_text(row, header), line)
            row = None
        elif tok.type == "inline":
            if row is not None:
                row.append(_plain(tok))
            elif tokens[i - 1].type != "heading_open":
                emit(("- " if item_depth else "") + _plain(tok), line)
        elif tok.type in ("fence", "code_block"):
            emit(tok.content, line)
    return title, blocks
