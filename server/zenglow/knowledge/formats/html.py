"""HTML, parsed by selectolax (the Lexbor engine): the page is walked in reading order;
block elements (paragraphs, list items, table rows, ...) become blocks under the heading path
that `h1`-`h6` give them; scripts, styles, forms and navigation are left out."""

from __future__ import annotations

import re

from selectolax.lexbor import LexborHTMLParser, LexborNode

from ..documents import Block
from .text import row_text

_SKIP = frozenset(
    "script style noscript template svg canvas iframe object head nav form button select "
    "textarea input".split()
)
_HEADINGS = {f"h{n}": n for n in range(1, 7)}
_BLOCKS = frozenset(
    "address article aside blockquote body caption center dd details dialog div dl dt "
    "fieldset figcaption figure footer header hgroup hr html li main menu ol p section "
    "summary table tbody thead tfoot ul".split()
)
_SPACES = re.compile(r"[ \t\r\f\v\u00a0]+")


def _clean(text: str) -> str:
    lines = (_SPACES.sub(" ", line).strip() for line in text.split("\n"))
    return "\n".join(line for line in lines if line)


class _Walker:
    def __init__(self) -> None:
        self.blocks: list[Block] = []
        self.path: list[tuple[int, str]] = []
        self.first_h1: str | None = None
        self._buf: list[str] = []
        self._header: list[str] = []

    def flush(self) -> None:
        text = _clean("".join(self._buf))
        self._buf.clear()
        if text:
            self.blocks.append(Block(text, tuple(h for _, h in self.path)))

    def walk(self, node: LexborNode) -> None:
        for child in node.iter(include_text=True):
            tag = child.tag
            if child.is_text_node:
                self._buf.append((child.text_content or "").replace("\n", " "))
            elif tag in _SKIP or child.is_comment_node:
                continue
            elif tag in _HEADINGS:
                self.heading(_HEADINGS[tag], _clean(child.text(separator=" ")))
            elif tag == "br":
                self._buf.append("\n")
            elif tag == "pre":
                self.flush()
                self._buf.append(child.text())
                self.flush()
            elif tag == "tr":
                self.row(child)
            elif tag in _BLOCKS:
                self.flush()
                if tag == "table":
                    self._header = []
                elif tag == "li":
                    self._buf.append("- ")
                self.walk(child)
                self.flush()
            else:  # inline: its text joins the block around it
                self.walk(child)

    def heading(self, level: int, text: str) -> None:
        self.flush()
        if not text:
            return
        self.path = [(lv, h) for lv, h in self.path if lv < level] + [(level, text)]
        if level == 1 and self.first_h1 is None:
            self.first_h1 = text

    def row(self, tr: LexborNode) -> None:
        self.flush()
        cells = tr.css("th, td")
        texts = [_clean(c.text(separator=" ")).replace("\n", " ") for c in cells]
        if not any(texts):
            return
        if all(c.tag == "th" for c in cells) and not self._header:
            self._header = texts
            return
        self.blocks.append(Block(row_text(texts, self._header), tuple(h for _, h in self.path)))


def parse_html(text: str) -> tuple[str | None, list[Block]]:
    """The page's title (`<title>`, else the first `h1`) and its blocks."""
    tree = LexborHTMLParser(text)
    title_node = tree.css_first("head > title") or tree.css_first("title")
    title = _clean(title_node.text()) if title_node is not None else ""
    walker = _Walker()
    root = tree.body or tree.root
    if root is not None:
        walker.walk(root)
        walker.flush()
    return title or walker.first_h1, walker.blocks
