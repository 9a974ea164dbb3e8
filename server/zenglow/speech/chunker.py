"""Streaming sentence chunker: a chat model's text deltas in, speakable chunks out.

Feed `add(delta)` with the streamed text and get back every chunk that is complete; call
`finish()` at the end of the reply for the rest.  A chunk is cut only once enough of the
following text has arrived to be sure, so the chunks are the same however the text was split
into deltas.  Chunks are cut only at whitespace and only whitespace is dropped; markup is kept.

Rules, applied in the order they are met scanning left to right:

* A line break always ends a chunk: paragraphs, list items and headings are spoken apart.
* `.` `!` `?` `…` and runs of them, with any closing quotes, brackets or emphasis marks right
  after, end a sentence when whitespace follows and the next word settles it:
  - `!` and `?`: unless the next word starts lowercase (`"Why?" she asked.` stays whole).
  - an ellipsis (`...`, `…`): only before a capitalised word (`Well... maybe` stays whole,
    `Wait... Really?` splits).
  - `.`: unless the next word starts lowercase, or the word before it is a title or Latin
    abbreviation (`Dr.`, `St.`, `vs.`, `e.g.`, `Jan.`), an initial (`J.`), a dotted acronym
    (`U.S.`), a list marker opening the chunk (`1.`, `a.`, `iv.`), a number label before a
    number (`No. 5`, `p. 12`), or a closing abbreviation (`etc.`, `a.m.`, `Inc.`) not followed
    by a capitalised word.
  Dots inside a word end nothing: decimals, versions, URLs and emails are safe.
* The first chunk of a reply may also end at a clause mark (`,` `;` `:` or a dash) followed by
  whitespace once it holds `first_clause_min_words` words, so speech starts sooner.  A very
  large value turns this off.
* A chunk reaching `max_chars` without an end is cut at its last whitespace (an end mark whose
  next word would start past `max_chars` counts as an end); a single word longer than that is
  kept whole and cut at the whitespace after it.  So every chunk, `finish()` included, fits in
  `max_chars` unless it is one word.
"""

from __future__ import annotations

import re

_ENDS = ".!?…"
_BREAKS = "\n\u2028\u2029"
_CLOSERS = "\"'”’»)]}*_`"
_OPENERS = "\"'“‘«([{*_`¿¡"
_CLAUSE_MARKS = ",;:"
_DASHES = "-–—"

# Never end a sentence, in any case.
_TITLES = frozenset(
    "mr mrs ms mx dr prof messrs mme mlle jr sr vs e.g i.e cf viz approx esp".split()
)
# Never end a sentence when capitalised (lowercase they are ordinary words: "sat.", "art.").
_CAPITALISED = frozenset(
    "st mt ft rev hon gen col capt lt sgt cpl pvt adm cmdr gov sen rep pres supt fr dept univ "
    "jan feb mar apr jun jul aug sep sept oct nov dec".split()
)
# Do not end a sentence when a number follows ("No. 5", "p. 12"); otherwise ordinary words.
_NUMBER_LABELS = frozenset(
    "no nos nr fig figs vol vols ch chap sec sect pp p art op pt eq ex".split()
)
# Often end a sentence: they do when a capitalised word follows.
_CLOSING = frozenset("etc inc ltd co corp bros a.m p.m".split())

_DOTTED = re.compile(r"(?:[^\W\d_]\.)+[^\W\d_]")
_LIST_MARKER = re.compile(r"\d{1,3}|[^\W\d_]|[ivx]{1,4}|[IVX]{1,4}")

# A candidate end: (True, cut here), (False, resume scanning here), or (None, index the
# candidate reaches at least) when more text must arrive before deciding.
_Verdict = tuple[bool | None, int]


class SentenceChunker:
    """Turns streamed text into chunks for speech; see the module docstring for the rules."""

    def __init__(self, *, first_clause_min_words: int = 4, max_chars: int = 300) -> None:
        if max_chars < 1:
            raise ValueError(f"max_chars must be at least 1, got {max_chars}")
        self._min_words = first_clause_min_words
        self._max_chars = max_chars
        self._buf = ""  # undecided text; empty or starting with non-whitespace
        self._pos = 0  # everything in _buf before this index is known not to end a chunk
        self._emitted = False  # whether this reply has produced a chunk yet

    def add(self, delta: str) -> list[str]:
        """Take the next piece of text; return every chunk that is complete now."""
        self._buf = self._buf + delta if self._buf else delta.lstrip()
        chunks: list[str] = []
        while (chunk := self._next_chunk()) is not None:
            chunks.append(chunk)
        return chunks

    def finish(self) -> str:
        """End the reply: return the remaining text stripped ("" if none) and start afresh."""
        rest = self._buf.strip()
        self._buf = ""
        self._pos = 0
        self._emitted = False
        return rest

    # --- scanning ---------------------------------------------------------------------

    def _next_chunk(self) -> str | None:
        buf = self._buf
        n = len(buf)
        i = self._pos
        while i < n:
            if i >= self._max_chars:
                return self._force(buf, i)
            c = buf[i]
            if c in _BREAKS:
                return self._cut(i, i + 1)
            if c in _ENDS:
                verdict, end = self._sentence_end(buf, i)
            elif not self._emitted and (c in _CLAUSE_MARKS or c in _DASHES):
                verdict, end = self._clause_end(buf, i)
            else:
                i += 1
                continue
            if end > self._max_chars:  # whatever the verdict, this chunk is too long
                return self._force(buf, i)
            if verdict is None:
                break
            if verdict:
                return self._cut(end, end)
            i = end
        self._pos = i
        return None

    def _cut(self, end: int, resume: int) -> str:
        chunk = self._buf[:end].strip()
        self._buf = self._buf[resume:].lstrip()
        self._pos = 0
        self._emitted = True
        return chunk

    def _force(self, buf: str, i: int) -> str | None:
        """Cut an over-long chunk at its last whitespace within `max_chars`, else at the first
        whitespace after it (none before index `i`)."""
        limit = self._max_chars
        for w in range(limit, 0, -1):
            if buf[w].isspace():
                return self._cut(w, w + 1)
        for w in range(max(limit + 1, i), len(buf)):
            if buf[w].isspace():
                return self._cut(w, w + 1)
        self._pos = len(buf)  # one long word so far: wait for the whitespace that ends it
        return None

    def _sentence_end(self, buf: str, i: int) -> _Verdict:
        n = len(buf)
        j = i
        while j < n and buf[j] in _ENDS:
            j += 1
        k = j
        while k < n and buf[k] in _CLOSERS:
            k += 1
        if k == n:
            return None, n
        if not buf[k].isspace():
            return False, k
        nxt, m = _next_start(buf, k)
        if m > self._max_chars or (nxt is not None and nxt in _BREAKS):
            return True, k  # a line break, or a next word that could not join this chunk
        if nxt is None:
            return None, k
        run = buf[i:j]
        if "?" in run or "!" in run:
            return not nxt.islower(), k
        if run != ".":
            return nxt.isupper(), k
        t = i
        while t > 0 and not buf[t - 1].isspace():
            t -= 1
        return _period_ends(buf[t:i], first=t == 0, nxt=nxt), k

    def _clause_end(self, buf: str, i: int) -> _Verdict:
        n = len(buf)
        j = i + 1
        if buf[i] in _DASHES:
            while j < n and buf[j] in _DASHES:
                j += 1
            if j == n:
                return None, n
            if buf[i:j] == "-" and not (i > 0 and buf[i - 1].isspace()):
                return False, j  # a hyphen inside a word
        k = j
        while k < n and buf[k] in _CLOSERS:
            k += 1
        if k == n:
            return None, n
        if not buf[k].isspace():
            return False, k
        return _count_words(buf[:k]) >= self._min_words, k


def _next_start(buf: str, k: int) -> tuple[str | None, int]:
    """The first character of the next word after whitespace at `k`, past opening quotes and
    brackets, or a line break if one comes first, with its index; None (and the length of
    `buf`) if that text has not arrived yet."""
    n = len(buf)
    m = k
    while m < n and buf[m].isspace():
        if buf[m] in _BREAKS:
            return buf[m], m
        m += 1
    while m < n and buf[m] in _OPENERS:
        m += 1
    return (buf[m], m) if m < n else (None, n)


def _period_ends(word: str, *, first: bool, nxt: str) -> bool:
    """Whether a single `.` after `word` ends a sentence when `nxt` starts the next word."""
    token = word.lstrip(_OPENERS)
    if not token:
        return False  # a stray dot, as in ". . ."
    low = token.lower()
    if first and _LIST_MARKER.fullmatch(token):
        return False
    if low in _NUMBER_LABELS and (nxt.isdigit() or nxt == "#"):
        return False
    if low in _TITLES or (token[0].isupper() and low in _CAPITALISED):
        return False
    if low in _CLOSING:
        return nxt.isupper()
    if _DOTTED.fullmatch(token) or (len(token) == 1 and token.isupper()):
        return False
    return not nxt.islower()


def _count_words(text: str) -> int:
    return sum(1 for word in text.split() if any(ch.isalnum() for ch in word))
